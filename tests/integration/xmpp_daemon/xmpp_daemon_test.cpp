// The seed's flow over XMPP, end to end on real processes: Prosody or ejabberd as
// ATDESK_XMPP_SERVER says (TLS required, MUC, HTTP upload; scripts/test-prosody,
// scripts/test-ejabberd), ippeveprinter (scripts/test-printer) and atdeskd with a [chat.xmpp]
// service, driven through the REST API. The people are libstrophe clients
// (tests/integration/xmpp/test_client.hpp). Outcomes are checked at the printer (its spool keeps
// each document, named after the job "atdesk-<job id>"), in the job's state, in the messages
// the person's client received and in the audit log. Waits are on conditions with deadlines.
//
// ATDESK_XMPP_BENCH=<n> also runs the latency benchmark: n presence changes away -> available
// "in the office", each with one held job, timed from the client sending the presence to the
// document at the printer (and to the job's "printed" transition). Skipped otherwise.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_client.hpp"
#include "test_server.hpp"

#include "atdesk/testing/process_harness.hpp"
#include "atdesk/testing/upload_fax.hpp"

namespace atdesk::test {
namespace {

using namespace std::chrono_literals;
using chat::xmpp::test::Received;
using chat::xmpp::test::TestClient;
using chat::xmpp::test::TestServer;
using Json = nlohmann::json;
namespace fs = std::filesystem;
using atdesk::testing::eventually;
using atdesk::testing::free_port;
using atdesk::testing::run;
using Clock = std::chrono::system_clock;

const std::string kSource = ATDESK_SOURCE_DIR;
const std::string kBot = "atdesk@localhost";
const std::string kAliceRecipient = "user:xmpp:alice@localhost";

struct Response {
  long status = 0;
  std::string body;
  Json json() const { return Json::parse(body, nullptr, false); }
};

// RFC 3339 UTC with milliseconds ("2026-11-24T09:30:00.000Z") -> time point.
std::optional<Clock::time_point> parse_time(const std::string& s) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return Clock::from_time_t(::timegm(&tm)) + std::chrono::milliseconds(ms);
}

class XmppDaemon : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ASSERT_TRUE(server_.known()) << "ATDESK_XMPP_SERVER: expected prosody or ejabberd";
    const std::string tmpl_text = "/tmp/atdesk-xmppd-" + server_.kind() + "-XXXXXX";
    std::vector<char> tmpl(tmpl_text.begin(), tmpl_text.end());
    tmpl.push_back('\0');
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl.data();
    server_dir_ = dir_ + "/server";
    c2s_port_ = free_port();
    https_port_ = free_port();
    ASSERT_TRUE(server_.start(server_dir_, c2s_port_, https_port_,
                              "atdesk botpw alice alicepw mallory mallorypw bob bobpw"))
        << "see " << server_.log(server_dir_);
    ca_file_ = server_dir_ + "/ca.pem";
    const int printer_port = free_port();
    ASSERT_EQ(run(kSource + "/scripts/test-printer start " + dir_ + "/printer " +
                  std::to_string(printer_port) + " atdesk-xmpp >/dev/null"),
              0);
    spool_ = dir_ + "/printer/spool";

    for (const auto& [file, password] :
         {std::pair{"xmpp-password", "botpw"}, std::pair{"wrong-password", "not-botpw"}}) {
      std::ofstream pw(dir_ + "/" + file);
      pw << password << "\n";
      pw.close();
      ::chmod((dir_ + "/" + file).c_str(), 0600);
    }
    api_port_ = free_port();
    std::ofstream toml(dir_ + "/atdesk.toml");
    toml << "[server]\nlisten = \"127.0.0.1:" << api_port_ << "\"\n"
         << "[storage]\nstate_dir = \"" << dir_ << "/state\"\n"
         << "[numbers]\ncountry_code = \"81\"\n"
         << "[retention]\ncheck_interval_s = 1\n"  // notices that waited go out within 1 s
         << "[[printer]]\nname = \"demo\"\nuri = \"ipp://127.0.0.1:" << printer_port
         << "/ipp/print\"\ndefault = true\n"
         << "[chat.xmpp]\ntype = \"xmpp\"\njid = \"" << kBot << "\"\n"
         << "password_file = \"" << dir_ << "/xmpp-password\"\n"
         << "server = \"127.0.0.1\"\nport = " << c2s_port_ << "\ntls = \"required\"\n"
         << "ca_file = \"" << ca_file_ << "\"\nnick = \"atdesk\"\ntimeout_ms = 5000\n"
         << "[chat.xmpp.location_keywords]\noffice = [\"office\"]\nremote = [\"home\"]\n"
         // Two services that cannot connect, to see the reason named in the log and the API:
         // a password the server refuses, and no ca_file for the self-signed certificate.
         << "[chat.wrongpw]\ntype = \"xmpp\"\njid = \"" << kBot << "\"\nresource = \"wrongpw\"\n"
         << "password_file = \"" << dir_ << "/wrong-password\"\n"
         << "server = \"127.0.0.1\"\nport = " << c2s_port_ << "\nca_file = \"" << ca_file_ << "\"\n"
         << "[chat.untrusted]\ntype = \"xmpp\"\njid = \"" << kBot
         << "\"\nresource = \"untrusted\"\n"
         << "password_file = \"" << dir_ << "/xmpp-password\"\n"
         << "server = \"127.0.0.1\"\nport = " << c2s_port_ << "\n";
    toml.close();
    start_daemon();
    // Rules are verified against the server: wait for the bot's session (ejabberd may take a
    // while to accept the first login on a loaded machine).
    ASSERT_TRUE(eventually([] { return service("xmpp").value("state", "") == "connected"; }, 60s))
        << request("GET", "/api/v1/chat-services").body;
  }

  // Starts atdeskd with the suite's config (again after a kill) and waits for /healthz.
  static void start_daemon() {
    daemon_pid_ = ::fork();
    ASSERT_GE(daemon_pid_, 0);
    if (daemon_pid_ == 0) {
      const std::string log = dir_ + "/atdeskd.log";
      std::freopen(log.c_str(), "a", stdout);
      std::freopen(log.c_str(), "a", stderr);
      const std::string config = dir_ + "/atdesk.toml";
      ::execl(ATDESKD_PATH, "atdeskd", "--config", config.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    base_ = "http://127.0.0.1:" + std::to_string(api_port_);
    ASSERT_TRUE(eventually([] { return request("GET", "/healthz").status == 200; }, 20s))
        << "atdeskd did not answer /healthz; see " << dir_ << "/atdeskd.log";
    ASSERT_TRUE(eventually([] { return fs::exists(dir_ + "/state/admin.token"); }, 5s));
    std::ifstream t(dir_ + "/state/admin.token");
    std::getline(t, token_);
  }

  // The chat service `name` as /api/v1/chat-services lists it, or an empty object.
  static Json service(const std::string& name) {
    const auto j = request("GET", "/api/v1/chat-services").json();
    if (j.is_discarded() || !j.contains("services")) return Json::object();
    for (const auto& s : j["services"]) {
      if (s.value("name", "") == name) return s;
    }
    return Json::object();
  }

  static std::string daemon_log() {
    std::ifstream in(dir_ + "/atdeskd.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  static void TearDownTestSuite() {
    if (daemon_pid_ > 0) {
      ::kill(daemon_pid_, SIGTERM);
      ::waitpid(daemon_pid_, nullptr, 0);
    }
    run(kSource + "/scripts/test-printer stop " + dir_ + "/printer >/dev/null 2>&1");
    server_.stop(server_dir_);
    if (!::testing::UnitTest::GetInstance()->Passed()) {
      std::cerr << "kept " << dir_ << " (atdeskd.log, server/, printer/)\n";
    } else {
      fs::remove_all(dir_);
    }
    curl_global_cleanup();
  }

  // A REST call with the admin token; `json` is sent as application/json.
  static Response request(const std::string& method, const std::string& path,
                          const std::optional<Json>& json = std::nullopt,
                          curl_mime* mime = nullptr) {
    CURL* c = curl_easy_init();
    Response r;
    const std::string url = base_ + path;
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, atdesk::testing::curl_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_slist* headers = nullptr;
    const std::string auth = "Authorization: Bearer " + token_;
    if (!token_.empty()) headers = curl_slist_append(headers, auth.c_str());
    std::string body;
    if (json) {
      body = json->dump();
      headers = curl_slist_append(headers, "Content-Type: application/json");
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    }
    if (mime) curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    return r;
  }

  // Uploads a fresh sample fax (scripts/sample-fax) from `sender`; returns the job.
  static Json submit(const std::string& sender, int pages = 1) {
    const auto tif = atdesk::testing::sample_fax_file(kSource, dir_, pages);
    EXPECT_FALSE(tif.empty()) << "scripts/sample-fax failed";
    const auto r = atdesk::testing::upload_fax(base_, token_, tif, sender);
    EXPECT_EQ(r.status, 201) << r.body;
    return Json::parse(r.body, nullptr, false);
  }

  static std::string state_of(const std::string& id) {
    const auto j = request("GET", "/api/v1/jobs/" + id).json();
    if (j.is_discarded()) return "";
    const auto& job = j.contains("job") ? j["job"] : j;
    return job.value("state", "");
  }

  static bool wait_state(const std::string& id, const std::string& want,
                         std::chrono::milliseconds timeout = 20s) {
    return eventually([&] { return state_of(id) == want; }, timeout, 20ms);
  }

  static std::size_t printed_count(const std::string& id) {
    std::size_t n = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(spool_, ec)) {
      std::string name = e.path().filename().string();
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      std::string lid = id;
      std::transform(lid.begin(), lid.end(), lid.begin(), ::tolower);
      if (name.find("atdesk-" + lid) != std::string::npos && name.ends_with(".pdf")) ++n;
    }
    return n;
  }

  static void add_rule(const std::string& pattern, const std::string& recipient) {
    const auto r =
        request("POST", "/api/v1/recipients", Json{{"pattern", pattern}, {"recipient", recipient}});
    ASSERT_EQ(r.status, 201) << r.body;
  }

  // The presence atdesk knows for `recipient` ({"availability","location",...}) or null.
  static Json presence_of(const std::string& recipient) {
    const auto j = request("GET", "/api/v1/presence").json();
    if (j.is_discarded() || !j.contains("recipients")) return nullptr;
    for (const auto& r : j["recipients"]) {
      if (r.value("recipient", "") == recipient) return r.value("presence", Json());
    }
    return nullptr;
  }

  static bool wait_presence(const std::string& recipient, const std::string& availability,
                            const std::string& location) {
    return eventually(
        [&] {
          const auto p = presence_of(recipient);
          return p.is_object() && p.value("availability", "") == availability &&
                 p.value("location", "") == location;
        },
        15s, 10ms);
  }

  // alice's client, connected, with the bot subscribed to her presence (set up once).
  static TestClient& alice() {
    if (!alice_) {
      alice_ = std::make_unique<TestClient>("alice@localhost", "alicepw", c2s_port_, ca_file_);
      EXPECT_TRUE(alice_->wait_connected());
      // Pre-approve the bot (RFC 6121 3.4); the client also accepts its request.
      alice_->send_raw("<presence to='" + kBot + "' type='subscribed'/>");
      alice_->set_presence("dnd", "busy");
      add_rule("0312345678", kAliceRecipient);
      add_rule("0312340000", kAliceRecipient);
    }
    return *alice_;
  }

  static std::optional<Received> wait_from_bot(TestClient& client, const std::string& needle,
                                               std::chrono::milliseconds timeout = 15s) {
    return client.wait_message(
        [&](const Received& m) {
          return m.from.starts_with(kBot) && m.body.find(needle) != std::string::npos;
        },
        timeout);
  }

  static bool audit_has(const std::string& action) {
    const auto j = request("GET", "/api/v1/audit?limit=200").json();
    if (j.is_discarded() || !j.contains("entries")) return false;
    return std::ranges::any_of(j["entries"],
                               [&](const Json& e) { return e.value("action", "") == action; });
  }

  static inline TestServer server_{kSource + "/scripts"};
  static inline std::string dir_;
  static inline std::string server_dir_;
  static inline std::string ca_file_;
  static inline std::string spool_;
  static inline std::string base_;
  static inline std::string token_;
  static inline int c2s_port_ = 0;
  static inline int https_port_ = 0;
  static inline int api_port_ = 0;
  static inline pid_t daemon_pid_ = -1;
  static inline std::unique_ptr<TestClient> alice_;
};

std::string short_id(const Json& job) {
  const auto s = job.value("short_id", "");
  return s.empty() ? job.value("id", "").substr(0, 8) : s;
}

TEST_F(XmppDaemon, HeldWhileDndThenPrintedWhenAvailableInTheOffice) {
  auto& a = alice();
  ASSERT_TRUE(wait_presence(kAliceRecipient, "do_not_disturb", "unknown"))
      << presence_of(kAliceRecipient).dump();
  const auto job = submit("0312345678", 2);
  const std::string id = job.value("id", "");
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(wait_state(id, "held")) << state_of(id);
  EXPECT_EQ(printed_count(id), 0u);
  const auto held = wait_from_bot(a, short_id(job));
  ASSERT_TRUE(held) << "alice got no message naming job " << short_id(job);
  const auto oob = a.wait_message(
      [](const Received& m) { return m.from.starts_with(kBot) && !m.oob_url.empty(); }, 15s);
  EXPECT_TRUE(oob) << "no preview link (jabber:x:oob)";
  if (oob) {
    EXPECT_TRUE(oob->oob_url.starts_with("https://")) << oob->oob_url;
  }

  a.set_presence("", "in the office");
  ASSERT_TRUE(wait_state(id, "printed")) << state_of(id);
  EXPECT_TRUE(eventually([&] { return printed_count(id) == 1; }, 10s));
  EXPECT_TRUE(wait_from_bot(a, "Printed")) << "alice got no Printed message";
  std::this_thread::sleep_for(500ms);  // a second document would arrive by now
  EXPECT_EQ(printed_count(id), 1u);
}

TEST_F(XmppDaemon, ReleasedByReplyingPrintPrintsOnce) {
  auto& a = alice();
  a.set_presence("dnd", "busy");
  ASSERT_TRUE(wait_presence(kAliceRecipient, "do_not_disturb", "unknown"));
  const auto job = submit("0312345678");
  const std::string id = job.value("id", "");
  ASSERT_TRUE(wait_state(id, "held")) << state_of(id);
  ASSERT_TRUE(wait_from_bot(a, short_id(job)));
  a.send_message(kBot, "chat", "print");
  ASSERT_TRUE(wait_state(id, "printed")) << state_of(id);
  EXPECT_TRUE(eventually([&] { return printed_count(id) == 1; }, 10s));
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(printed_count(id), 1u);
  EXPECT_EQ(state_of(id), "printed");
}

TEST_F(XmppDaemon, StrangersPrintIsRefused) {
  auto& a = alice();
  a.set_presence("dnd", "busy");
  ASSERT_TRUE(wait_presence(kAliceRecipient, "do_not_disturb", "unknown"));
  const auto job = submit("0312340000");
  const std::string id = job.value("id", "");
  ASSERT_TRUE(wait_state(id, "held")) << state_of(id);
  TestClient mallory("mallory@localhost", "mallorypw", c2s_port_, ca_file_);
  ASSERT_TRUE(mallory.wait_connected());
  mallory.send_message(kBot, "chat", "print " + short_id(job));
  EXPECT_TRUE(eventually([] { return audit_has("command.refused"); }, 10s))
      << request("GET", "/api/v1/audit?limit=20").body;
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(state_of(id), "held");
  EXPECT_EQ(printed_count(id), 0u);
}

// A person who does not answer the presence subscription (here: an account that does not
// exist) is not saved as a rule, and the answer says so rather than "pending until they accept".
TEST_F(XmppDaemon, RecipientWithoutAnAnswerIsNotSaved) {
  const auto r =
      request("POST", "/api/v1/recipients",
              Json{{"pattern", "0312346666"}, {"recipient", "user:xmpp:nobody@localhost"}});
  EXPECT_NE(r.status, 201) << r.body;
  EXPECT_EQ(r.body.find("pending"), std::string::npos) << r.body;
  EXPECT_TRUE(r.body.find("was not added") != std::string::npos ||
              r.body.find("not-found") != std::string::npos)
      << r.body;
  EXPECT_EQ(request("GET", "/api/v1/recipients").body.find("nobody@localhost"), std::string::npos);
}

// Connection failures are named in the log and in /api/v1/chat-services (and so on the web
// UI's overview): the refused password and the untrusted certificate. (Before the server is
// stopped below: while it is down, the reason is that it cannot be reached.)
TEST_F(XmppDaemon, ConnectionFailuresAreNamedInTheLogAndTheApi) {
  std::string wrong, untrusted;
  ASSERT_TRUE(eventually(
      [&] {
        wrong = service("wrongpw").value("error", "");
        untrusted = service("untrusted").value("error", "");
        return !wrong.empty() && !untrusted.empty();
      },
      30s))
      << request("GET", "/api/v1/chat-services").body;
  EXPECT_NE(wrong.find("authentication of atdesk@localhost refused"), std::string::npos) << wrong;
  EXPECT_NE(untrusted.find("not trusted"), std::string::npos) << untrusted;
  EXPECT_NE(service("wrongpw").value("state", ""), "connected");
  EXPECT_NE(service("untrusted").value("state", ""), "connected");
  EXPECT_FALSE(service("xmpp").contains("error")) << service("xmpp").dump();
  const auto log = daemon_log();
  EXPECT_NE(log.find("chat wrongpw: authentication of atdesk@localhost refused"),
            std::string::npos);
  EXPECT_NE(log.find("chat untrusted: TLS: the certificate of 127.0.0.1"), std::string::npos);
  EXPECT_EQ(log.find("not-botpw"), std::string::npos) << "a password reached the log";
}

// The chat service down and back: while the server is stopped a fax for alice is held (presence
// cannot be had) and its notice cannot be sent; once the server is back, atdeskd reconnects, the
// notice that waited reaches alice, and her "in the office" prints the job once.
TEST_F(XmppDaemon, ChatServiceDownHoldsAndTheNoticeArrivesWhenItIsBack) {
  auto& a = alice();
  a.set_presence("", "in the office");
  ASSERT_TRUE(wait_presence(kAliceRecipient, "available", "office"));
  alice_.reset();
  server_.stop(server_dir_);
  const auto service_state = [] {
    const auto j = request("GET", "/api/v1/chat-services").json();
    if (j.is_discarded() || !j.contains("services")) return std::string();
    for (const auto& service : j["services"]) {
      if (service.value("name", "") == "xmpp") return service.value("state", "");
    }
    return std::string();
  };
  ASSERT_TRUE(eventually([&] { return service_state() != "connected"; }, 15s));

  const auto job = submit("0312345678");
  const std::string id = job.value("id", "");
  ASSERT_TRUE(wait_state(id, "held")) << state_of(id);
  const auto reason = request("GET", "/api/v1/jobs/" + id).json();
  EXPECT_NE(reason.dump().find("presence"), std::string::npos) << reason.dump();
  EXPECT_EQ(printed_count(id), 0u);

  ASSERT_TRUE(server_.start(server_dir_, c2s_port_, https_port_));
  alice_ = std::make_unique<TestClient>("alice@localhost", "alicepw", c2s_port_, ca_file_);
  ASSERT_TRUE(alice_->wait_connected());
  alice_->set_presence("dnd", "busy");
  ASSERT_TRUE(eventually([&] { return service_state() == "connected"; }, 30s)) << service_state();
  const auto held = wait_from_bot(*alice_, short_id(job), 20s);
  ASSERT_TRUE(held) << "the notice that waited did not reach alice";
  EXPECT_NE(held->body.find("held"), std::string::npos) << held->body;
  EXPECT_EQ(state_of(id), "held");

  alice_->set_presence("", "in the office");
  ASSERT_TRUE(wait_state(id, "printed")) << state_of(id);
  EXPECT_TRUE(eventually([&] { return printed_count(id) == 1; }, 10s));
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(printed_count(id), 1u);
}

// A rule written with capitals ("Bob@LocalHost") against a server that sends local parts
// lower-cased: the subscription is found, the presence holds the job, the notice reaches bob
// and his "print" releases it.
TEST_F(XmppDaemon, RuleWithCapitalsHoldsNotifiesAndReleases) {
  TestClient bob("bob@localhost", "bobpw", c2s_port_, ca_file_);
  ASSERT_TRUE(bob.wait_connected());
  bob.send_raw("<presence to='" + kBot + "' type='subscribed'/>");
  bob.set_presence("dnd", "busy");
  add_rule("0312347777", "user:xmpp:Bob@LocalHost");
  ASSERT_TRUE(wait_presence("user:xmpp:Bob@LocalHost", "do_not_disturb", "unknown"))
      << presence_of("user:xmpp:Bob@LocalHost").dump();
  const auto job = submit("0312347777");
  const std::string id = job.value("id", "");
  ASSERT_TRUE(wait_state(id, "held")) << state_of(id);
  ASSERT_TRUE(wait_from_bot(bob, short_id(job))) << "bob got no notice";
  bob.send_message(kBot, "chat", "print " + short_id(job));
  ASSERT_TRUE(wait_state(id, "printed")) << state_of(id);
  EXPECT_TRUE(eventually([&] { return printed_count(id) == 1; }, 10s));
}

// atdeskd killed with SIGKILL while a job waits, a "print <id>" sent to the address of the
// notice while it is down, then atdeskd started again: the command is carried out (it waited
// in the server: offline storage, or ejabberd's stream-management queue handed to the new
// session of the same resource), never lost.
TEST_F(XmppDaemon, CommandSentWhileKilledIsCarriedOutAfterRestart) {
  auto& a = alice();
  a.set_presence("dnd", "busy");
  ASSERT_TRUE(wait_presence(kAliceRecipient, "do_not_disturb", "unknown"));
  const auto job = submit("0312345678");
  const std::string id = job.value("id", "");
  ASSERT_TRUE(wait_state(id, "held")) << state_of(id);
  const auto notice = wait_from_bot(a, short_id(job));
  ASSERT_TRUE(notice);
  EXPECT_NE(notice->from.find('/'), std::string::npos) << notice->from;

  ::kill(daemon_pid_, SIGKILL);
  ::waitpid(daemon_pid_, nullptr, 0);
  daemon_pid_ = -1;
  a.send_message(notice->from, "chat", "print " + short_id(job));
  start_daemon();
  ASSERT_TRUE(wait_state(id, "printed", 40s))
      << state_of(id) << "; alice's messages: "
      << (a.wait_message([&](const Received& m) { return m.type == "error"; }, 10ms)
              ? "an error came back"
              : "no error");
  EXPECT_TRUE(eventually([&] { return printed_count(id) == 1; }, 10s));
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(printed_count(id), 1u);
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// Presence-to-print latency (bench/xmpp_latency.sh): n rounds of away (job held) -> available
// "in the office" (job printed by itself).
TEST_F(XmppDaemon, PresenceToPrintLatency) {
  const char* env = std::getenv("ATDESK_XMPP_BENCH");
  if (!env || std::atoi(env) <= 0) GTEST_SKIP() << "set ATDESK_XMPP_BENCH=<rounds>";
  const int rounds = std::atoi(env);
  auto& a = alice();
  std::vector<double> to_printer;
  std::vector<double> to_printed;
  for (int i = 0; i < rounds; ++i) {
    a.set_presence("away", "at home");
    ASSERT_TRUE(wait_presence(kAliceRecipient, "away", "remote")) << "round " << i;
    const auto job = submit("0312345678");
    const std::string id = job.value("id", "");
    ASSERT_TRUE(wait_state(id, "held")) << "round " << i << ": " << state_of(id);
    // t0: the presence is handed to the client's loop, which sends it on its next turn
    // (xmpp_run_once with a 10 ms timeout), so t0 may be up to 10 ms early.
    const auto t0 = Clock::now();
    a.set_presence("", "in the office");
    ASSERT_TRUE(eventually([&] { return printed_count(id) == 1; }, 20s, 1ms)) << "round " << i;
    const auto t1 = Clock::now();
    to_printer.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    ASSERT_TRUE(wait_state(id, "printed")) << "round " << i;
    const auto h = request("GET", "/api/v1/jobs/" + id + "/history").json();
    for (const auto& tr : h.value("history", Json::array())) {
      if (tr.value("to", "") == "printed") {
        if (const auto at = parse_time(tr.value("at", ""))) {
          to_printed.push_back(std::chrono::duration<double, std::milli>(*at - t0).count());
        }
      }
    }
  }
  ASSERT_FALSE(to_printer.empty());
  std::printf("\n| presence -> (%d rounds) | p50 ms | p99 ms | max ms |\n|---|---|---|---|\n",
              rounds);
  std::printf("| document at ippeveprinter | %.1f | %.1f | %.1f |\n", percentile(to_printer, 50),
              percentile(to_printer, 99), *std::ranges::max_element(to_printer));
  if (!to_printed.empty()) {
    std::printf("| job transition to printed (history) | %.1f | %.1f | %.1f |\n",
                percentile(to_printed, 50), percentile(to_printed, 99),
                *std::ranges::max_element(to_printed));
  }
  std::fflush(stdout);
}

}  // namespace
}  // namespace atdesk::test
