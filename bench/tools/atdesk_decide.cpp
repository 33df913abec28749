// atdesk-decide: how fast the engine decides a burst of jobs already stored, in one process with
// the daemon's real parts (SQLite store, encrypted spool, local chat service, the document code)
// and a printer that completes every job at once. N one-page faxes are stored (as ingress does:
// fsync'd spool, committed row) before the engine's workers start, so all N wait at once; then
// the workers start and the time until every job is decided (held or printing) is measured from
// the jobs' histories. Half the recipients are busy (held, with a preview and a notice), half are
// available at the office (printed).
//
//   atdesk-decide --state DIR --fax FILE [--jobs N] [--recipients R] [--threads T]
// The engine logs each transition on stdout, as atdeskd does; the report, one JSON object,
// comes last (bench/decide.sh keeps only it).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "atdesk/chat/local/local_chat_service.hpp"
#include "atdesk/core/clock.hpp"
#include "atdesk/engine/engine.hpp"
#include "atdesk/store/spool.hpp"
#include "atdesk/store/sqlite_store.hpp"
#include "atdesk/tz/zone.hpp"

namespace {

using namespace atdesk;

// Takes every document and reports it completed at the first status call.
class InstantPrinter final : public print::Printer {
 public:
  const std::string& name() const override { return name_; }
  Result<print::Submission> submit(std::span<const std::byte>,
                                   const print::PrintOptions& options) override {
    return print::Submission{name_, ++next_, options.job_name, {}};
  }
  Result<print::RemoteJobState> status(const print::Submission&) override {
    return print::RemoteJobState::completed;
  }
  Result<std::optional<std::pair<print::Submission, print::RemoteJobState>>> find(
      const std::string&, int) override {
    return std::optional<std::pair<print::Submission, print::RemoteJobState>>{};
  }
  Result<print::PrinterStatus> describe() override {
    print::PrinterStatus s;
    s.name = name_;
    s.state = print::PrinterState::idle;
    s.formats = {"application/pdf"};
    return s;
  }

 private:
  std::string name_ = "bench";
  std::atomic<int> next_{0};
};

std::string number(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "03%08d", i);
  return buf;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

long rss_kib(const char* field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::string(field).size()));
  }
  return 0;
}

int fail_with(const std::string& what) {
  std::cerr << "atdesk-decide: " << what << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string state, fax_file;
  int jobs = 10000, recipients = 10000, threads = 4;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--state")
      state = v;
    else if (k == "--fax")
      fax_file = v;
    else if (k == "--jobs")
      jobs = std::stoi(v);
    else if (k == "--recipients")
      recipients = std::stoi(v);
    else if (k == "--threads")
      threads = std::stoi(v);
    else
      return fail_with("unknown option " + k);
  }
  if (state.empty() || fax_file.empty()) {
    return fail_with(
        "usage: atdesk-decide --state DIR --fax FILE [--jobs N] [--recipients R] "
        "[--threads T]");
  }
  std::ifstream in(fax_file, std::ios::binary);
  const std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> fax(raw.size());
  std::transform(raw.begin(), raw.end(), fax.begin(), [](char c) { return std::byte(c); });
  if (fax.empty()) return fail_with(fax_file + ": empty or unreadable");

  NumberPlan plan;
  plan.country_code = "81";
  auto db = store::SqliteStore::open(state + "/atdesk.db", plan);
  if (!db) return fail_with(db.error().message);
  auto spool = store::EncryptedSpool::open(state + "/spool", state + "/spool.key");
  if (!spool) return fail_with(spool.error().message);
  auto zone = tz::load_time_zone("UTC");
  if (!zone) return fail_with(zone.error().message);
  SystemClock clock;
  chat::LocalChatService local({}, **db, clock);
  InstantPrinter printer;

  engine::Settings settings;
  settings.numbers = plan;
  settings.default_printer = printer.name();
  settings.worker_threads = threads;
  settings.housekeeping_interval = std::chrono::hours(1);
  engine::Engine engine(settings, engine::Dependencies{**db,
                                                       **db,
                                                       **spool,
                                                       clock,
                                                       **zone,
                                                       {{printer.name(), &printer}},
                                                       {{local.name(), &local}}});
  std::vector<RecipientRule> rules;
  for (int i = 0; i < recipients; ++i) {
    RecipientRule rule;
    auto pattern = SenderPattern::parse(number(i), plan);
    auto recipient = Recipient::parse_key("user:local:u" + std::to_string(i));
    if (!pattern || !recipient) return fail_with("bad rule " + number(i));
    rule.pattern = *pattern;
    rule.recipient = *recipient;
    rules.push_back(std::move(rule));
  }
  const int users = std::min(recipients, std::max(1, jobs));
  for (int i = 0; i < users; ++i) {
    Presence p;
    p.availability = i % 2 ? Availability::available : Availability::busy;
    p.location = i % 2 ? WorkLocation::office : WorkLocation::remote;
    if (auto ok = local.set_presence("u" + std::to_string(i), p); !ok) {
      return fail_with(ok.error().message);
    }
  }
  // The burst: every job stored while no worker runs (they queue in the engine), by 8 threads
  // at once as concurrent uploads would be (so storing does not take most of the run).
  std::vector<JobId> ids(static_cast<std::size_t>(jobs));
  const auto store_start = std::chrono::steady_clock::now();
  {
    std::atomic<int> next{0};
    std::mutex error_mutex;
    std::string error;
    std::vector<std::thread> submitters;
    for (int t = 0; t < 8; ++t) {
      submitters.emplace_back([&] {
        for (int i; (i = next++) < jobs;) {
          IncomingDocument doc;
          doc.data = fax;
          doc.name = "fax.tif";
          auto sender = parse_sender(number(i % users), plan);
          if (sender) doc.sender = *sender;
          auto job = sender ? engine.submit(std::move(doc)) : Result<Job>(fail(sender.error()));
          if (!job) {
            std::lock_guard lock(error_mutex);
            error = job.error().describe();
            return;
          }
          ids[static_cast<std::size_t>(i)] = job->id;
        }
      });
    }
    for (auto& t : submitters) t.join();
    if (!error.empty()) return fail_with(error);
  }
  const double store_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - store_start).count();
  const long rss_stored = rss_kib("VmRSS:");

  // The rules go straight into the table store: start() loads them before any worker runs.
  if (auto ok = (*db)->replace_recipient_rules(std::move(rules)); !ok) {
    return fail_with(ok.error().message);
  }
  const auto start_wall = clock.now();
  const auto start = std::chrono::steady_clock::now();
  if (auto ok = engine.start(); !ok) return fail_with(ok.error().message);
  // Counted, not listed: reading 10,000 rows every 10 ms would hold the store's connection.
  auto count = [&](JobState state) {
    auto counts = (*db)->count_by_state();
    if (!counts) return std::int64_t{-1};
    for (const auto& [s, n] : *counts) {
      if (s == state) return n;
    }
    return std::int64_t{0};
  };
  auto wait_until = [&](auto done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(30);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return done();
  };
  if (!wait_until([&] { return count(JobState::stored) == 0; })) {
    return fail_with("jobs still stored after 30 min");
  }
  const double undecided_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Then the held jobs' previews (made for their notices): until each has one.
  std::vector<JobId> held_ids;
  {
    store::JobFilter f;
    f.states = {JobState::held};
    f.limit = 1'000'000;
    if (auto list = (*db)->list(f)) {
      for (const auto& j : *list) held_ids.push_back(j.id);
    }
  }
  std::size_t previewed = 0;
  wait_until([&] {
    while (previewed < held_ids.size()) {
      auto png = (*spool)->exists(held_ids[previewed], store::BlobKind::preview);
      if (!png || !*png) return false;
      ++previewed;
    }
    return true;
  });
  const double previews_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  engine.stop();                                    // jobs still printing stay as they are
  const auto groups = (*db)->group_commit_stats();  // stores, decisions, printing, failures
  const double writes_per_commit = static_cast<double>(groups.writes) /
                                   static_cast<double>(std::max<std::int64_t>(groups.groups, 1));

  std::vector<double> to_decision;
  double last_decision = 0;
  for (const auto& id : ids) {
    auto history = (*db)->history(id);
    if (!history) return fail_with(history.error().message);
    for (const auto& t : *history) {
      if (t.to == JobState::held || t.to == JobState::printing) {
        const double ms = std::chrono::duration<double, std::milli>(t.at - start_wall).count();
        to_decision.push_back(ms);
        last_decision = std::max(last_decision, ms);
        break;
      }
    }
  }
  std::printf(
      "{\"jobs\": %d, \"recipients\": %d, \"threads\": %d, \"stored_per_second\": %.1f,\n"
      " \"decided\": %zu, \"decided_per_second\": %.1f, \"all_decided_after_s\": %.3f,\n"
      " \"start_to_decision_ms\": {\"p50\": %.1f, \"p99\": %.1f, \"max\": %.1f},\n"
      " \"held\": %zu, \"held_previews_done_after_s\": %.3f,\n"
      " \"rss_after_store_kib\": %ld, \"rss_end_kib\": %ld, \"rss_peak_kib\": %ld,\n"
      " \"job_writes_per_commit\": %.2f}\n",
      jobs, recipients, threads, jobs / store_s, to_decision.size(),
      static_cast<double>(to_decision.size()) / (std::max(last_decision, 1.0) / 1000.0),
      undecided_s, percentile(to_decision, 0.5), percentile(to_decision, 0.99), last_decision,
      held_ids.size(), previews_s, rss_stored, rss_kib("VmRSS:"), rss_kib("VmHWM:"),
      writes_per_commit);
  return to_decision.size() == ids.size() ? 0 : 1;
}
