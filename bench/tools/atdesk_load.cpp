// atdesk-load: load against a running atdeskd over its REST API. Sets up a recipient table of R
// rules (one local user each, half of them busy so their jobs are held, half available at the
// office so theirs print), submits N faxes from C threads, releases the held ones by presence,
// waits until every job is printed, and reports: jobs accepted per second, and p50/p99 of the
// time from submit to stored (the 201), to the decision (held or printing) and to the printer
// printer's completion (printed) of the jobs printed at once, read from each job's history (the
// daemon's clock, millisecond resolution).
//
//   atdesk-load --url URL --token-file FILE --fax FILE [--jobs N] [--threads C] [--recipients R]
//               [--url URL2 ...] [--wait-after-setup-ms MS]
// With several --url (nodes on one database) the submitting threads take the nodes in turn.
#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Options {
  std::string url = "http://127.0.0.1:8631";
  // Several nodes on one database: the submitting threads take them in turn (thread t uses
  // urls[t % n]); set-up, releases and the read-back go to the first.
  std::vector<std::string> urls;
  int wait_after_setup_ms = 0;  // lets other nodes read the new recipient table first
  std::string token;
  std::string fax;
  int jobs = 1000;
  int threads = 4;
  int recipients = 10000;
};

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

size_t collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

struct Reply {
  long status = 0;
  std::string body;
};

class Client {
 public:
  Client(const Options& o) : options_(o), curl_(curl_easy_init()) {}

  Reply call(const std::string& method, const std::string& path, const std::string& body = {},
             const std::string& content_type = "application/json") {
    CURL* c = curl_.get();
    curl_easy_reset(c);
    Reply reply;
    const std::string url = options_.url + path;
    std::unique_ptr<curl_slist, SlistDeleter> headers(
        curl_slist_append(nullptr, ("Authorization: Bearer " + options_.token).c_str()));
    if (!body.empty()) {
      headers.reset(
          curl_slist_append(headers.release(), ("Content-Type: " + content_type).c_str()));
    }
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    if (!body.empty() || method != "GET") {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply.body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    if (curl_easy_perform(c) == CURLE_OK)
      curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.status);
    return reply;
  }

  Reply submit(const std::string& fax, const std::string& sender) {
    const std::string boundary = "atdeskload7f3a";
    std::string body = "--" + boundary +
                       "\r\nContent-Disposition: form-data; name=\"sender\"\r\n\r\n" + sender +
                       "\r\n--" + boundary +
                       "\r\nContent-Disposition: form-data; name=\"document\"; "
                       "filename=\"load.tif\"\r\nContent-Type: image/tiff\r\n\r\n" +
                       fax + "\r\n--" + boundary + "--\r\n";
    return call("POST", "/api/v1/jobs", body, "multipart/form-data; boundary=" + boundary);
  }

 private:
  const Options& options_;
  std::unique_ptr<CURL, CurlDeleter> curl_;
};

// "2026-11-24T09:30:00.000Z" (the API's form). g++ 12 has no std::chrono::parse.
std::chrono::sys_time<std::chrono::milliseconds> parse_time(const std::string& text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0, ms = 0;
  std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &y, &mo, &d, &h, &mi, &se, &ms);
  const std::chrono::sys_days day = std::chrono::year{y} /
                                    std::chrono::month{static_cast<unsigned>(mo)} /
                                    std::chrono::day{static_cast<unsigned>(d)};
  return day + std::chrono::hours{h} + std::chrono::minutes{mi} + std::chrono::seconds{se} +
         std::chrono::milliseconds{ms};
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::string number(int i) {  // 03 + 8 digits: a Tokyo number, one per recipient
  char buf[16];
  std::snprintf(buf, sizeof buf, "03%08d", i);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string token_file;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--url")
      o.urls.push_back(v);
    else if (k == "--wait-after-setup-ms")
      o.wait_after_setup_ms = std::stoi(v);
    else if (k == "--token-file")
      token_file = v;
    else if (k == "--fax")
      o.fax = v;
    else if (k == "--jobs")
      o.jobs = std::stoi(v);
    else if (k == "--threads")
      o.threads = std::stoi(v);
    else if (k == "--recipients")
      o.recipients = std::stoi(v);
    else {
      std::cerr << "atdesk-load: unknown option " << k << "\n";
      return 2;
    }
  }
  if (!o.urls.empty()) o.url = o.urls.front();
  if (o.urls.empty()) o.urls.push_back(o.url);
  std::ifstream tf(token_file);
  std::getline(tf, o.token);
  std::ifstream ff(o.fax, std::ios::binary);
  const std::string fax((std::istreambuf_iterator<char>(ff)), std::istreambuf_iterator<char>());
  if (o.token.empty() || fax.empty()) {
    std::cerr << "atdesk-load: --token-file and --fax must name readable files\n";
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  Client setup(o);

  // Recipient table: R exact-number rules; even users busy (hold), odd available at the office.
  json rules = json::array();
  for (int i = 0; i < o.recipients; ++i) {
    rules.push_back({{"pattern", number(i)}, {"recipient", "user:local:u" + std::to_string(i)}});
  }
  auto r = setup.call("PUT", "/api/v1/recipients", json{{"rules", rules}}.dump());
  if (r.status != 200) {
    std::cerr << "atdesk-load: PUT /api/v1/recipients: " << r.status << " " << r.body << "\n";
    return 1;
  }
  const int users = std::min(o.recipients, std::max(1, o.jobs));
  for (int i = 0; i < users; ++i) {
    const json p = i % 2 ? json{{"availability", "available"}, {"location", "office"}}
                         : json{{"availability", "busy"}, {"location", "remote"}};
    setup.call("PUT", "/api/v1/presence/local/u" + std::to_string(i), p.dump());
  }

  std::this_thread::sleep_for(std::chrono::milliseconds(o.wait_after_setup_ms));

  std::vector<std::string> ids(static_cast<std::size_t>(o.jobs));
  std::vector<double> submit_ms(static_cast<std::size_t>(o.jobs), -1);
  std::atomic<int> next{0}, failed{0};
  const auto start = Clock::now();
  {
    std::vector<std::jthread> workers;
    for (int t = 0; t < o.threads; ++t) {
      workers.emplace_back([&, t] {
        Options mine = o;
        mine.url = o.urls[static_cast<std::size_t>(t) % o.urls.size()];
        Client client(mine);
        for (int i; (i = next++) < o.jobs;) {
          const auto t0 = Clock::now();
          auto reply = client.submit(fax, number(i % users));
          const auto t1 = Clock::now();
          if (reply.status != 201) {
            ++failed;
            continue;
          }
          ids[static_cast<std::size_t>(i)] = json::parse(reply.body).at("id").get<std::string>();
          submit_ms[static_cast<std::size_t>(i)] =
              std::chrono::duration<double, std::milli>(t1 - t0).count();
        }
      });
    }
  }
  const double submit_s = std::chrono::duration<double>(Clock::now() - start).count();

  // Release the held ones by presence: every busy user comes to the office.
  for (int i = 0; i < users; i += 2) {
    setup.call("PUT", "/api/v1/presence/local/u" + std::to_string(i),
               json{{"availability", "available"}, {"location", "office"}}.dump());
  }
  // Wait until nothing is in flight.
  const auto deadline = Clock::now() + std::chrono::minutes(30);
  while (Clock::now() < deadline) {
    auto pending = setup.call("GET", "/api/v1/jobs?state=stored,held,releasing,printing&limit=1");
    if (pending.status == 200 && json::parse(pending.body).at("jobs").empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const double total_s = std::chrono::duration<double>(Clock::now() - start).count();

  std::vector<double> to_decision, to_printer, stored;
  int printed = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i].empty()) continue;
    stored.push_back(submit_ms[i]);
    auto job = setup.call("GET", "/api/v1/jobs/" + ids[i]);
    auto history = setup.call("GET", "/api/v1/jobs/" + ids[i] + "/history");
    if (job.status != 200 || history.status != 200) {
      std::cerr << "atdesk-load: job " << ids[i] << ": " << job.status << "/" << history.status
                << " " << history.body.substr(0, 200) << "\n";
      continue;
    }
    const auto j = json::parse(job.body);
    if (j.at("state") == "printed") ++printed;
    const auto received = parse_time(j.at("received_at").get<std::string>());
    bool decided = false, submitted = false, held_first = false;
    // Kept in a variable: a range-for over a member of a temporary would dangle (g++ 12 does
    // not extend the temporary's lifetime there).
    const auto transitions = json::parse(history.body);
    for (const auto& t : transitions.at("history")) {
      const auto at = parse_time(t.at("at").get<std::string>());
      const double ms = std::chrono::duration<double, std::milli>(at - received).count();
      const auto to = t.at("to").get<std::string>();
      if (!decided && (to == "held" || to == "printing")) {
        to_decision.push_back(ms);
        decided = true;
      }
      // Jobs printed at once (held ones wait for presence by design): until the printer
      // reported the job completed.
      if (!submitted && to == "printed" && !held_first) {
        to_printer.push_back(ms);
        submitted = true;
      }
      if (to == "held") held_first = true;
    }
  }
  const json report = {
      {"jobs", o.jobs},
      {"recipients", o.recipients},
      {"threads", o.threads},
      {"nodes", static_cast<int>(o.urls.size())},
      {"accepted", static_cast<int>(stored.size())},
      {"refused", failed.load()},
      {"printed", printed},
      {"accepted_per_second", static_cast<double>(stored.size()) / submit_s},
      {"all_printed_after_seconds", total_s},
      {"submit_to_stored_ms",
       {{"p50", percentile(stored, 0.5)}, {"p99", percentile(stored, 0.99)}}},
      {"stored_to_decision_ms",
       {{"p50", percentile(to_decision, 0.5)}, {"p99", percentile(to_decision, 0.99)}}},
      {"stored_to_printed_ms",
       {{"p50", percentile(to_printer, 0.5)}, {"p99", percentile(to_printer, 0.99)}}},
  };
  std::cout << report.dump(2) << "\n";
  curl_global_cleanup();
  return printed == static_cast<int>(stored.size()) && failed == 0 ? 0 : 1;
}
