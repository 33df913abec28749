// Microsoft Teams end to end on real processes: atdeskd with a [chat.teams] service, ippeveprinter
// (scripts/test-printer), and a stand-in of Microsoft Graph v1.0 and the identity platform
// (atdesk/testing/fake_graph.hpp) on 127.0.0.1 that keeps a small tenant
// (atdesk/testing/graph_tenant.hpp): users and their presence, tokens, presence subscriptions
// (validated through atdeskd's webhook, as Graph does), 1:1 chats and their messages. The test
// plays Graph's part in pushing: it POSTs change and lifecycle notifications to atdeskd's webhook.
// Outcomes are checked at the printer (its spool keeps each document, named after the job
// "atdesk-<job id>"), in the job's state, in the requests the stand-in received and in the audit
// log. Waits are on conditions with deadlines.
//
// Every stand-in payload says which Graph documentation page it follows. Nothing here reaches a
// real tenant: docs/teams.md says what that leaves untested.
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
#include <regex>
#include <set>

#include "atdesk/testing/fake_graph.hpp"
#include "atdesk/testing/graph_tenant.hpp"

#include "atdesk/testing/process_harness.hpp"
#include "atdesk/testing/upload_fax.hpp"

namespace atdesk::test {
namespace {

using namespace std::chrono_literals;
using atdesk::testing::FakeGraph;
using atdesk::testing::form_of;
using atdesk::testing::graph_time;
using atdesk::testing::http;
using atdesk::testing::parse_graph_time;
using atdesk::testing::Received;
using atdesk::testing::Reply;
using atdesk::testing::Response;
using atdesk::testing::Tenant;
using atdesk::testing::url_encode;
using Json = nlohmann::json;
namespace fs = std::filesystem;
using atdesk::testing::eventually;
using atdesk::testing::free_port;
using atdesk::testing::run;
using Steady = std::chrono::steady_clock;

const std::string kSource = ATDESK_SOURCE_DIR;
const std::string kAlice = "alice@contoso.com";
const std::string kMallory = "mallory@contoso.com";
const std::string kBob = "bob@contoso.com";
const std::string kAliceRecipient = "user:teams:" + kAlice;
const std::string kAliceFax = "0312345678";
const std::string kMalloryFax = "0398765432";
const std::string kBobFax = "0311112222";
constexpr const char* kWebhook = "/api/v1/webhooks/graph/teams";
// Everyone watched is read again this often (reread_seconds): the worst-case delay of a change
// Graph does not push (work location, out of office) is this plus one worker round (1 s).
constexpr int kRereadSeconds = 5;
constexpr int kRetryAfterSeconds = 2;

class TeamsDaemon : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char tmpl[] = "/tmp/atdesk-teamsd-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    graph_ = std::make_unique<FakeGraph>();
    tenant_ = std::make_unique<Tenant>(
        *graph_, Tenant::Options{{{kAlice, "alice-id"}, {kMallory, "mallory-id"}, {kBob, "bob-id"}},
                                 kWebhook,
                                 kRetryAfterSeconds});
    const int printer_port = free_port();
    ASSERT_EQ(run(kSource + "/scripts/test-printer start " + dir_ + "/printer " +
                  std::to_string(printer_port) + " atdesk-teams >/dev/null"),
              0);
    spool_ = dir_ + "/printer/spool";
    {
      std::ofstream secret(dir_ + "/teams.secret");
      secret << "secret-1\n";
    }
    ::chmod((dir_ + "/teams.secret").c_str(), 0600);
    api_port_ = free_port();
    base_ = "http://127.0.0.1:" + std::to_string(api_port_);
    tenant_->set_webhook_base(base_);
    // Alice is busy until a scenario says otherwise.
    tenant_->set_presence("alice-id", "Busy", "InACall", "office");
    tenant_->set_presence("mallory-id", "Busy", "InAMeeting", "office");
    tenant_->set_presence("bob-id", "Away", "Away", "remote");
    // Bob's user resource says Japanese (preferredLanguage); alice's and mallory's say nothing.
    tenant_->set_preferred_language("bob-id", "ja-JP");
    std::ofstream toml(dir_ + "/atdesk.toml");
    toml << "[server]\nlisten = \"127.0.0.1:" << api_port_ << "\"\n"
         << "[storage]\nstate_dir = \"" << dir_ << "/state\"\n"
         << "[numbers]\ncountry_code = \"81\"\n"
         << "[[printer]]\nname = \"demo\"\nuri = \"ipp://127.0.0.1:" << printer_port
         << "/ipp/print\"\ndefault = true\n"
         << "[chat.teams]\ntype = \"teams\"\ntenant = \"tenant-1\"\nclient_id = \"client-1\"\n"
         << "client_secret_file = \"" << dir_ << "/teams.secret\"\n"
         << "graph_url = \"" << graph_->url() << "/v1.0\"\n"
         << "login_url = \"" << graph_->url() << "\"\n"
         << "public_url = \"" << base_ << "\"\n"
         << "poll_seconds = 5\ntimeout_ms = 3000\nmax_requests_per_second = 20\n"
         << "reread_seconds = " << kRereadSeconds << "\n";
    toml.close();
    // Documented limits the stand-in counts (a request beyond one fails the scenario):
    // "cloudCommunications: getPresencesByUserId"
    // (https://learn.microsoft.com/graph/api/cloudcommunications-getpresencesbyuserid) and the
    // Teams table of "Microsoft Graph service-specific throttling limits"
    // (https://learn.microsoft.com/graph/throttling-limits#microsoft-teams-service-limits).
    graph_->limit({"POST", "/v1.0/communications/getPresencesByUserId", "", 1500, 30s,
                   "getPresencesByUserId: 1500 requests in 30 s per app and tenant"});
    graph_->limit({"GET", "/v1.0/chats/", "/messages", 20, 1s,
                   "GET 1:1/group chat message: 20 rps per app and tenant"});
    graph_->limit({"POST", "/v1.0/chats/", "/messages", 20, 1s,
                   "POST 1:1/group chat message: 20 rps per app and tenant"});

    start_daemon();

    sign_in();
    add_rule(kAliceFax, kAliceRecipient);
    add_rule(kMalloryFax, "user:teams:" + kMallory);
    // Push presence: a validated subscription covering alice and mallory.
    ASSERT_TRUE(eventually(
        [] {
          const auto a = tenant_->subscription_for("alice-id");
          const auto m = tenant_->subscription_for("mallory-id");
          return a && m && a->id == m->id;
        },
        15s))
        << "no presence subscription; see " << dir_ << "/atdeskd.log";
  }

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
    ASSERT_TRUE(eventually([] { return request("GET", "/healthz").status == 200; }, 20s))
        << "atdeskd did not answer /healthz; see " << dir_ << "/atdeskd.log";
    ASSERT_TRUE(eventually([] { return fs::exists(dir_ + "/state/admin.token"); }, 5s));
    std::ifstream t(dir_ + "/state/admin.token");
    std::getline(t, token_);
  }
  static void stop_daemon() {
    if (daemon_pid_ > 0) {
      ::kill(daemon_pid_, SIGTERM);
      ::waitpid(daemon_pid_, nullptr, 0);
      daemon_pid_ = -1;
    }
  }

  // Every scenario keeps within Graph's rules as the stand-in counts them.
  void TearDown() override {
    const auto broken = graph_->violations();
    EXPECT_TRUE(broken.empty()) << broken.size()
                                << " broken Graph rule(s), the first: " << broken.front();
  }

  static void TearDownTestSuite() {
    stop_daemon();
    run(kSource + "/scripts/test-printer stop " + dir_ + "/printer >/dev/null 2>&1");
    if (!::testing::UnitTest::GetInstance()->Passed()) {
      // What the stand-in saw, for the post-mortem (bodies cut short; the tokens are fake).
      std::ofstream log(dir_ + "/graph.log");
      const auto t0 = graph_->received().empty() ? Steady::now() : graph_->received()[0].at;
      for (const auto& r : graph_->received()) {
        log << std::chrono::duration_cast<std::chrono::milliseconds>(r.at - t0).count() << " ms "
            << r.method << " " << r.target << " " << r.body.substr(0, 200) << " -> " << r.status
            << " " << r.reply.substr(0, 300) << "\n";
      }
      std::cerr << "kept " << dir_ << " (atdeskd.log, graph.log, printer/)\n";
    } else {
      fs::remove_all(dir_);
    }
    tenant_.reset();
    graph_.reset();
    curl_global_cleanup();
  }

  static Response request(const std::string& method, const std::string& path,
                          const std::optional<Json>& json = std::nullopt) {
    return http(method, base_ + path, json ? json->dump() : "", json ? "application/json" : "",
                token_);
  }

  // The service account's sign-in by device code, as the admin does it in the web UI.
  static void sign_in() {
    const auto started = request("POST", "/api/v1/chat-services/teams/sign-in");
    ASSERT_EQ(started.status, 202) << started.body;
    EXPECT_EQ(started.json().value("user_code", ""), "ABCD-EFGH");
    ASSERT_TRUE(eventually(
        [] {
          return request("GET", "/api/v1/chat-services/teams/sign-in").json().value("status", "") ==
                 "signed_in";
        },
        15s))
        << request("GET", "/api/v1/chat-services/teams/sign-in").body;
  }

  static Json submit(const std::string& sender, int pages = 1) {
    const auto tif = atdesk::testing::sample_fax_file(kSource, dir_, pages);
    EXPECT_FALSE(tif.empty()) << "scripts/sample-fax failed";
    const auto r = atdesk::testing::upload_fax(base_, token_, tif, sender);
    EXPECT_EQ(r.status, 201) << r.body;
    auto j = Json::parse(r.body, nullptr, false);
    return j.contains("job") ? j["job"] : j;
  }

  static Json job(const std::string& id) {
    const auto j = request("GET", "/api/v1/jobs/" + id).json();
    if (j.is_discarded()) return Json::object();
    return j.contains("job") ? j["job"] : j;
  }
  static std::string state_of(const std::string& id) { return job(id).value("state", ""); }
  static bool wait_state(const std::string& id, const std::string& want,
                         std::chrono::milliseconds timeout = 20s) {
    return eventually([&] { return state_of(id) == want; }, timeout);
  }

  static std::size_t printed_count(const std::string& id) {
    std::size_t n = 0;
    std::error_code ec;
    std::string lid = id;
    std::transform(lid.begin(), lid.end(), lid.begin(), ::tolower);
    for (const auto& e : fs::directory_iterator(spool_, ec)) {
      std::string name = e.path().filename().string();
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      if (name.find("atdesk-" + lid) != std::string::npos && name.ends_with(".pdf")) ++n;
    }
    return n;
  }

  static void add_rule(const std::string& pattern, const std::string& recipient) {
    const auto r =
        request("POST", "/api/v1/recipients", Json{{"pattern", pattern}, {"recipient", recipient}});
    ASSERT_EQ(r.status, 201) << r.body;
  }

  static bool audit_has(const std::string& action, const std::string& subject) {
    const auto j = request("GET", "/api/v1/audit?limit=200").json();
    if (j.is_discarded() || !j.contains("entries")) return false;
    return std::ranges::any_of(j["entries"], [&](const Json& e) {
      return e.value("action", "") == action && e.dump().find(subject) != std::string::npos;
    });
  }

  // Graph "Change notifications for presence"
  // (https://learn.microsoft.com/graph/changenotifications-for-presence) delivered as in
  // "Receive change notifications through webhooks"
  // (https://learn.microsoft.com/graph/change-notifications-delivery-webhooks): no resource data
  // (no encryption certificate was given).
  static Response notify(const std::string& subscription, const std::string& client_state,
                         const std::string& user_id) {
    const Json body{
        {"value", Json::array({{{"subscriptionId", subscription},
                                {"clientState", client_state},
                                {"changeType", "updated"},
                                {"resource", "communications/presences('" + user_id + "')"},
                                {"subscriptionExpirationDateTime", graph_time(30min)},
                                {"resourceData",
                                 {{"@odata.type", "#Microsoft.Graph.presence"},
                                  {"@odata.id", "communications/presences('" + user_id + "')"},
                                  {"id", user_id}}},
                                {"tenantId", "tenant-1"}}})}};
    return http("POST", base_ + kWebhook, body.dump(), "application/json");
  }
  // The presence of `user_id` changed in the tenant: Graph notifies the subscription covering it.
  static Response presence_changed(const std::string& user_id) {
    const auto sub = tenant_->subscription_for(user_id);
    EXPECT_TRUE(sub) << "no subscription covers " << user_id;
    if (!sub) return {};
    return notify(sub->id, sub->client_state, user_id);
  }
  // Graph "Reduce missing subscriptions and change notifications"
  // (https://learn.microsoft.com/graph/change-notifications-lifecycle-events): a lifecycle
  // notification.
  static Response lifecycle(const Tenant::Subscription& sub, const std::string& event) {
    const Json body{{"value", Json::array({{{"subscriptionId", sub.id},
                                            {"subscriptionExpirationDateTime", sub.expires},
                                            {"tenantId", "tenant-1"},
                                            {"clientState", sub.client_state},
                                            {"lifecycleEvent", event}}})}};
    return http("POST", base_ + kWebhook, body.dump(), "application/json");
  }

  // Graph requests (not the identity platform's) received since `since`.
  static std::vector<Received> graph_requests(Steady::time_point since) {
    std::vector<Received> out;
    for (auto& r : graph_->received("", "/v1.0/")) {
      if (r.at >= since) out.push_back(std::move(r));
    }
    return out;
  }

  // The chat messages the service account POSTed to `chat_id` since `since`.
  static std::vector<Json> notices(const std::string& chat_id, Steady::time_point since) {
    std::vector<Json> out;
    for (const auto& r : graph_->received("POST", "/v1.0/chats/")) {
      if (r.at < since || r.status != 201 || r.path.find("/messages") == std::string::npos)
        continue;
      if (r.path.find(url_encode(chat_id)) == std::string::npos) continue;
      out.push_back(Json::parse(r.body));
    }
    return out;
  }
  static std::optional<Json> wait_notice(const std::string& user_id, Steady::time_point since,
                                         const std::string& needle,
                                         std::chrono::seconds within = 15s) {
    std::optional<Json> found;
    eventually(
        [&] {
          const auto chat = tenant_->chat_with(user_id);
          if (chat.empty()) return false;
          for (const auto& n : notices(chat, since)) {
            if (n.dump().find(needle) != std::string::npos) {
              found = n;
              return true;
            }
          }
          return false;
        },
        within);
    return found;
  }

  // Alice busy, as atdesk sees it through a change notification.
  static void alice_busy() {
    tenant_->set_presence("alice-id", "Busy", "InACall", "office");
    EXPECT_EQ(presence_changed("alice-id").status, 202);
  }

  static inline std::string dir_;
  static inline std::string spool_;
  static inline std::string base_;
  static inline std::string token_;
  static inline int api_port_ = 0;
  static inline pid_t daemon_pid_ = -1;
  static inline std::unique_ptr<FakeGraph> graph_;
  static inline std::unique_ptr<Tenant> tenant_;
};

// (a) The seed's flow with push presence: held while busy with a notice in the 1:1 chat, printed
// when Graph notifies that she is available in the office; a wrong clientState changes nothing.
TEST_F(TeamsDaemon, HeldWhileBusyThenPrintedOnPushedPresence) {
  alice_busy();
  const auto since = Steady::now();
  const auto j = submit(kAliceFax, 2);
  const std::string id = j.value("id", "");
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(wait_state(id, "held")) << state_of(id);
  EXPECT_EQ(printed_count(id), 0u);

  // The notice in the 1:1 chat names the sender and the pages and carries the page-1 preview.
  const auto notice = wait_notice("alice-id", since, j.value("short_id", "?"));
  ASSERT_TRUE(notice) << "no notice for job " << j.value("short_id", "") << " in alice's chat";
  const std::string html = notice->at("body").at("content").get<std::string>();
  EXPECT_EQ(notice->at("body").at("contentType"), "html");
  const std::string sender = job(id).at("sender").value("display", "");
  ASSERT_FALSE(sender.empty());
  EXPECT_NE(html.find("Fax from " + sender), std::string::npos) << html;
  EXPECT_NE(html.find("2 pages"), std::string::npos) << html;
  EXPECT_NE(html.find("../hostedContents/1/$value"), std::string::npos) << html;
  ASSERT_TRUE(notice->contains("hostedContents")) << notice->dump().substr(0, 300);
  EXPECT_EQ(notice->at("hostedContents").at(0).value("contentType", ""), "image/png");
  EXPECT_GT(notice->at("hostedContents").at(0).value("contentBytes", "").size(), 100u);
  // The chat is a oneOnOne chat between the service account and alice, made once.
  auto created = graph_->received("POST", "/v1.0/chats");
  std::erase_if(created, [](const Received& r) { return r.path != "/v1.0/chats"; });
  ASSERT_FALSE(created.empty());
  const auto chat = Json::parse(created.back().body);
  EXPECT_EQ(chat.value("chatType", ""), "oneOnOne");
  EXPECT_NE(created.back().body.find("users('alice-id')"), std::string::npos);
  EXPECT_NE(created.back().body.find("users('fax-id')"), std::string::npos);

  // She is available in the office now; a notification with a wrong clientState is refused and
  // changes nothing (no presence read, the job stays held).
  tenant_->set_presence("alice-id", "Available", "Available", "office");
  const auto sub = tenant_->subscription_for("alice-id");
  ASSERT_TRUE(sub);
  const auto before_forged = Steady::now();
  std::string forged = sub->client_state;
  forged.back() = forged.back() == '0' ? '1' : '0';
  const auto refused = notify(sub->id, forged, "alice-id");
  EXPECT_EQ(refused.status, 403) << refused.body;
  // A subscription atdesk does not hold is accepted and dropped (a refusal makes Graph retry).
  EXPECT_EQ(notify("sub-unknown", sub->client_state, "alice-id").status, 202);
  // Nothing may follow; the worker would act within a second of an accepted notification.
  std::this_thread::sleep_for(1500ms);
  // (The periodic re-read of everyone watched may come meanwhile; a read caused by a
  // notification asks for alice alone.)
  for (const auto& r : graph_requests(before_forged)) {
    EXPECT_FALSE(r.path == "/v1.0/communications/getPresencesByUserId" &&
                 Json::parse(r.body).at("ids") == Json::array({"alice-id"}))
        << "a refused notification caused a presence read";
  }

  const auto before_accepted = Steady::now();
  const auto accepted = notify(sub->id, sub->client_state, "alice-id");
  EXPECT_EQ(accepted.status, 202) << accepted.body;
  ASSERT_TRUE(wait_state(id, "printed")) << state_of(id);
  EXPECT_TRUE(eventually([&] { return printed_count(id) == 1; }, 10s));
  EXPECT_TRUE(wait_notice("alice-id", since, "Printed")) << "no Printed notice";
  EXPECT_EQ(printed_count(id), 1u);
  EXPECT_TRUE(std::ranges::any_of(graph_requests(before_accepted), [](const Received& r) {
    return r.path == "/v1.0/communications/getPresencesByUserId" &&
           Json::parse(r.body).at("ids") == Json::array({"alice-id"});
  })) << "the accepted notification did not cause a read of alice";
}

// The webhook over atdeskd's HTTP server: the validation handshake, malformed bodies.
TEST_F(TeamsDaemon, WebhookHandshakeAndMalformedBodiesOverHttp) {
  const std::string token = "Validation: Testing client application reachability Request-Id: a+b&c";
  const auto started = Steady::now();
  const auto r = http("POST", base_ + kWebhook + "?validationToken=" + url_encode(token), "",
                      "text/plain; charset=utf-8");
  EXPECT_LT(Steady::now() - started, 10s);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.content_type.starts_with("text/plain")) << r.content_type;
  EXPECT_EQ(r.body, token);
  const auto bad =
      http("POST", base_ + kWebhook, R"({"value":[{"subscriptionId":42}]})", "application/json");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("value[0].subscriptionId: expected a string"), std::string::npos)
      << bad.body;
  const auto not_json = http("POST", base_ + kWebhook, "{", "application/json");
  EXPECT_EQ(not_json.status, 400);
  EXPECT_NE(not_json.body.find("body: expected JSON"), std::string::npos) << not_json.body;
  EXPECT_EQ(tenant_->validation_failures_.load(), 0);
}

// (b1) A new watched user: the one presence subscription is deleted and made anew (Graph
// allows one per user and app; the stand-in refuses a second and fails the scenario). A grant
// far shorter than asked is not renewed in a loop: two thirds of 4 s is below the minimum
// renewal interval, so it runs out and is made again once.
TEST_F(TeamsDaemon, WatchChangeReplacesTheOneSubscriptionAndShortGrantsDoNotLoop) {
  tenant_->set_next_expiry(4s);
  const auto old = tenant_->subscription_for("alice-id");
  ASSERT_TRUE(old);
  add_rule(kBobFax, "user:teams:" + kBob);
  ASSERT_TRUE(eventually(
      [&] {
        const auto s = tenant_->subscription_for("bob-id");
        return s && s->id != old->id;
      },
      10s));
  const auto sub = *tenant_->subscription_for("bob-id");
  EXPECT_EQ(tenant_->subscription_for("alice-id")->id, sub.id) << "one subscription for all";
  EXPECT_EQ(graph_->received("DELETE", "/v1.0/subscriptions/" + old->id).size(), 1u);
  // It runs out after 4 s and is made again, asking for 55 minutes.
  ASSERT_TRUE(eventually(
      [&] {
        const auto s = tenant_->subscription_for("bob-id");
        return s && s->id != sub.id;
      },
      15s))
      << "no new subscription after the short one ran out";
  EXPECT_TRUE(graph_->received("PATCH", "/v1.0/subscriptions/" + sub.id).empty());
  const auto fresh = *tenant_->subscription_for("bob-id");
  const auto until = parse_graph_time(fresh.expires);
  ASSERT_TRUE(until);
  EXPECT_GT(*until, std::chrono::system_clock::now() + 50min);
  EXPECT_LE(*until, std::chrono::system_clock::now() + 56min);
  EXPECT_EQ(presence_changed("bob-id").status, 202);
}

// (b2) "Get change notifications for presence updates": notifications follow availability and
// activity; alice moving from remote to the office while Available is not pushed. The periodic
// re-read finds it and her held job prints within the stated delay (reread_seconds + a round).
TEST_F(TeamsDaemon, WorkLocationChangeWithoutPushPrintsWithinTheRereadDelay) {
  tenant_->set_presence("alice-id", "Available", "Available", "remote");
  EXPECT_EQ(presence_changed("alice-id").status, 202);
  const auto j = submit(kAliceFax);
  const std::string id = j.value("id", "");
  ASSERT_TRUE(wait_state(id, "held")) << state_of(id);  // available but remote: held
  const auto moved = Steady::now();
  tenant_->set_presence("alice-id", "Available", "Available", "office");  // nothing pushed
  // The stated worst case is reread_seconds + 1 s; 5 s more for a loaded machine.
  ASSERT_TRUE(wait_state(id, "printed", std::chrono::seconds(kRereadSeconds + 6))) << state_of(id);
  EXPECT_LT(Steady::now() - moved, std::chrono::seconds(kRereadSeconds + 6));
  EXPECT_TRUE(eventually([&] { return printed_count(id) == 1; }, 10s));
}

// (b3) atdeskd restarts while its subscription lives: the stored one is reused (no second one,
// which Graph would refuse for up to an hour) and its notifications still work.
TEST_F(TeamsDaemon, RestartKeepsTheLiveSubscription) {
  const auto sub = tenant_->subscription_for("alice-id");
  ASSERT_TRUE(sub);
  const auto created = graph_->received("POST", "/v1.0/subscriptions").size();
  alice_busy();
  stop_daemon();
  const auto restarted = Steady::now();
  start_daemon();
  // The new process has set up its watch once it has read everyone watched.
  ASSERT_TRUE(eventually(
      [&] {
        for (const auto& r : graph_requests(restarted)) {
          if (r.path == "/v1.0/communications/getPresencesByUserId" &&
              Json::parse(r.body).at("ids").size() == 3) {
            return true;
          }
        }
        return false;
      },
      15s));
  const auto j = submit(kAliceFax);
  const std::string id = j.value("id", "");
  ASSERT_TRUE(wait_state(id, "held")) << state_of(id);
  tenant_->set_presence("alice-id", "Available", "Available", "office");
  EXPECT_EQ(notify(sub->id, sub->client_state, "alice-id").status, 202);
  ASSERT_TRUE(wait_state(id, "printed")) << state_of(id);
  EXPECT_EQ(graph_->received("POST", "/v1.0/subscriptions").size(), created);
  EXPECT_TRUE(graph_->received("DELETE", "/v1.0/subscriptions/" + sub->id).empty());
  EXPECT_EQ(tenant_->subscription_for("alice-id")->id, sub->id);
}

// (c1) Tokens that Graph no longer takes (401) are refreshed and the request succeeds: the
// application token on a presence read, the service account's on a notice.
TEST_F(TeamsDaemon, ExpiredTokensAreRefreshedOn401) {
  tenant_->set_presence("alice-id", "Available", "Available", "office");
  tenant_->expire_tokens("app-");
  const auto since = Steady::now();
  const auto printed = submit(kAliceFax);
  const std::string printed_id = printed.value("id", "");
  ASSERT_TRUE(wait_state(printed_id, "printed")) << state_of(printed_id);
  const auto reads = graph_->received("POST", "/v1.0/communications/getPresencesByUserId");
  const auto first_401 = std::find_if(reads.begin(), reads.end(), [&](const Received& r) {
    return r.at >= since && r.status == 401;
  });
  ASSERT_NE(first_401, reads.end()) << "the expired application token was not used";
  EXPECT_TRUE(std::any_of(first_401, reads.end(), [](const Received& r) {
    return r.status == 200;
  })) << "no successful read after the 401";
  const auto tokens = graph_->received("POST", "/tenant-1/oauth2/v2.0/token");
  EXPECT_TRUE(std::any_of(tokens.begin(), tokens.end(), [&](const Received& r) {
    return r.at >= first_401->at &&
           r.body.find("grant_type=client_credentials") != std::string::npos;
  }));

  // The service account's access token: 401 on the notice, refresh_token grant, notice sent.
  alice_busy();
  tenant_->expire_tokens("user-");
  const auto since_user = Steady::now();
  const auto held = submit(kAliceFax);
  const std::string held_id = held.value("id", "");
  ASSERT_TRUE(wait_state(held_id, "held")) << state_of(held_id);
  ASSERT_TRUE(wait_notice("alice-id", since_user, held.value("short_id", "?")))
      << "no notice after the token refresh";
  const auto user_tokens = graph_->received("POST", "/tenant-1/oauth2/v2.0/token");
  EXPECT_TRUE(std::any_of(user_tokens.begin(), user_tokens.end(), [&](const Received& r) {
    return r.at >= since_user && r.body.find("grant_type=refresh_token") != std::string::npos &&
           r.status == 200;
  }));
  EXPECT_EQ(request("GET", "/api/v1/chat-services").body.find("broken"), std::string::npos);
  // Release it for the next scenarios.
  tenant_->set_presence("alice-id", "Available", "Available", "office");
  EXPECT_EQ(presence_changed("alice-id").status, 202);
  ASSERT_TRUE(wait_state(held_id, "printed")) << state_of(held_id);
}

// (c2) The refresh token is revoked: the connection is marked broken and the admin is told (chat
// service state, sign-in status with the reason, metrics, log); jobs are held, not printed
// unattended. After a new sign-in, the held jobs are decided again and print.
TEST_F(TeamsDaemon, RevokedRefreshTokenBreaksTheServiceAndJobsStayHeld) {
  alice_busy();
  tenant_->set_revoked(true);
  tenant_->expire_tokens("user-");
  const auto first = submit(kAliceFax);
  const std::string first_id = first.value("id", "");
  ASSERT_TRUE(wait_state(first_id, "held")) << state_of(first_id);
  // The notice of that job meets the 401, the refresh is refused: broken.
  ASSERT_TRUE(eventually(
      [] {
        const auto j = request("GET", "/api/v1/chat-services").json();
        for (const auto& s : j.value("services", Json::array())) {
          if (s.value("name", "") == "teams") return s.value("state", "") == "broken";
        }
        return false;
      },
      15s))
      << request("GET", "/api/v1/chat-services").body;
  const auto status = request("GET", "/api/v1/chat-services/teams/sign-in").json();
  EXPECT_NE(status.value("problem", "").find("invalid_grant"), std::string::npos) << status.dump();
  EXPECT_NE(status.value("problem", "").find("sign in again"), std::string::npos) << status.dump();
  const auto metrics = request("GET", "/metrics").body;
  EXPECT_NE(metrics.find("atdesk_chat_service_up{service=\"teams\"} 0"), std::string::npos)
      << metrics.substr(0, 2000);
  std::ifstream log(dir_ + "/atdeskd.log");
  const std::string log_text((std::istreambuf_iterator<char>(log)), {});
  EXPECT_NE(log_text.find("chat teams: broken:"), std::string::npos);
  EXPECT_FALSE(std::regex_search(log_text, std::regex("refresh-[0-9]+")))
      << "a refresh token in the log";

  // She is available now, but nothing prints unattended while the service is broken.
  tenant_->set_presence("alice-id", "Available", "Available", "office");
  const auto second = submit(kAliceFax);
  const std::string second_id = second.value("id", "");
  ASSERT_TRUE(wait_state(second_id, "held")) << state_of(second_id);
  EXPECT_EQ(notify(tenant_->subscription_for("alice-id")->id,
                   tenant_->subscription_for("alice-id")->client_state, "alice-id")
                .status,
            202);
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(state_of(first_id), "held");
  EXPECT_EQ(state_of(second_id), "held");
  EXPECT_EQ(printed_count(second_id), 0u);

  // The admin signs the service account in again: both jobs print.
  sign_in();
  ASSERT_TRUE(wait_state(first_id, "printed")) << state_of(first_id);
  ASSERT_TRUE(wait_state(second_id, "printed")) << state_of(second_id);
  EXPECT_EQ(printed_count(first_id), 1u);
  EXPECT_TRUE(eventually([&] { return printed_count(second_id) == 1; }, 10s));
  EXPECT_TRUE(eventually([] { return tenant_->subscription_for("alice-id").has_value(); }, 10s));
}

// (d) A throttling storm: 429 with Retry-After on presence reads. No job is lost (every one is
// printed exactly once) and no Graph request arrives before Retry-After has passed.
TEST_F(TeamsDaemon, ThrottlingStormLosesNoJobAndHonoursRetryAfter) {
  tenant_->set_presence("alice-id", "Available", "Available", "office");
  EXPECT_EQ(presence_changed("alice-id").status, 202);
  std::this_thread::sleep_for(300ms);  // let that read go through before the storm
  const auto since = Steady::now();
  tenant_->throttle_presence(4);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(submit(kAliceFax).value("id", ""));
  for (const auto& id : ids) {
    ASSERT_TRUE(wait_state(id, "printed", 30s)) << id << " " << state_of(id);
  }
  for (const auto& id : ids) {
    EXPECT_TRUE(eventually([&] { return printed_count(id) == 1; }, 10s)) << id;
  }
  const auto requests = graph_requests(since);
  std::vector<Steady::time_point> throttled;
  for (const auto& r : requests) {
    if (r.status == 429) throttled.push_back(r.at);
  }
  ASSERT_EQ(throttled.size(), 4u) << "the storm did not happen as planned";
  // A request already on its way when the 429 was sent may still arrive (one per sending
  // thread, on a loaded machine late); so the window starts 500 ms after each 429.
  // Retry-After holds back the presence workload; chat reads and posts go on (they have their
  // own budget).
  for (const auto t : throttled) {
    for (const auto& r : requests) {
      if (r.path != "/v1.0/communications/getPresencesByUserId") continue;
      EXPECT_FALSE(r.at > t + 500ms && r.at < t + std::chrono::seconds(kRetryAfterSeconds))
          << r.method << " " << r.path << " came "
          << std::chrono::duration_cast<std::chrono::milliseconds>(r.at - t).count()
          << " ms after a 429 with Retry-After " << kRetryAfterSeconds;
    }
  }
  // Never more than the configured rate (20/s, burst 20) in any second.
  for (std::size_t i = 0; i < requests.size(); ++i) {
    std::size_t in_window = 0;
    for (std::size_t k = i; k < requests.size() && requests[k].at < requests[i].at + 1s; ++k) {
      ++in_window;
    }
    EXPECT_LE(in_window, 40u);
  }
}

// (e) A reply 'print' in the 1:1 chat releases the recipient's job; the same from another user
// is refused and audited, and someone else's message in her chat is not obeyed.
TEST_F(TeamsDaemon, PrintReplyFromTheRecipientOnly) {
  alice_busy();
  tenant_->set_presence("mallory-id", "Busy", "InAMeeting", "office");
  const auto since = Steady::now();
  const auto mallorys = submit(kMalloryFax);
  const std::string mallory_job = mallorys.value("id", "");
  ASSERT_TRUE(wait_state(mallory_job, "held"));
  const auto alices = submit(kAliceFax);
  const std::string id = alices.value("id", "");
  const std::string short_id = alices.value("short_id", "");
  ASSERT_TRUE(wait_state(id, "held")) << state_of(id);
  ASSERT_TRUE(wait_notice("alice-id", since, short_id));
  ASSERT_TRUE(wait_notice("mallory-id", since, mallorys.value("short_id", "?")));

  // Mallory asks for alice's job in her own chat with the fax machine: refused, audited.
  tenant_->post_in_chat(tenant_->chat_with("mallory-id"), "mallory-id", "Mallory",
                        "<p>print " + short_id + "</p>");
  // And a message from her in alice's chat (as if she had been added) is no command at all.
  tenant_->post_in_chat(tenant_->chat_with("alice-id"), "mallory-id", "Mallory", "<p>print</p>");
  ASSERT_TRUE(eventually([&] { return audit_has("command.refused", short_id); }, 15s))
      << request("GET", "/api/v1/audit?limit=20").body;
  EXPECT_TRUE(wait_notice("mallory-id", since, "there is no job " + short_id));
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(state_of(id), "held");
  EXPECT_EQ(printed_count(id), 0u);

  // Alice replies print: her job prints, mallory's stays held.
  tenant_->post_in_chat(tenant_->chat_with("alice-id"), "alice-id", "Alice", "<p>print</p>");
  ASSERT_TRUE(wait_state(id, "printed", 15s)) << state_of(id);
  EXPECT_TRUE(eventually([&] { return printed_count(id) == 1; }, 10s));
  EXPECT_TRUE(audit_has("job.release", id));
  EXPECT_EQ(state_of(mallory_job), "held");
  // The replies came by change notifications on the chats' messages (atdesk subscribed to the
  // chats with a notice), each accepted.
  EXPECT_TRUE(
      std::ranges::any_of(graph_->received("POST", "/v1.0/subscriptions"), [](const Received& r) {
        return r.status == 201 && r.body.find("\"/chats/19:alice-id") != std::string::npos;
      }));
  EXPECT_EQ(tenant_->chat_notification_failures_.load(), 0);
}

// (d2) Throttling is per workload ("Microsoft Graph service-specific throttling limits"): chat
// message posts answered 429 with Retry-After 30 s do not hold up presence reads, so a job for
// an available recipient still prints at once. Last of the suite: chat posts stay held back for
// those 30 s afterwards, as Graph asked.
TEST_F(TeamsDaemon, ChatMessageThrottlingDoesNotHoldUpPresenceDecisions) {
  tenant_->set_presence("mallory-id", "Busy", "InAMeeting", "office");
  tenant_->throttle_chat_posts(true);
  const auto since = Steady::now();
  const auto m = submit(kMalloryFax);
  ASSERT_TRUE(wait_state(m.value("id", ""), "held"));
  ASSERT_TRUE(eventually(
      [&] {
        for (const auto& r : graph_->received("POST", "/v1.0/chats/")) {
          if (r.at >= since && r.status == 429) return true;
        }
        return false;
      },
      15s))
      << "the notice was not throttled";
  tenant_->set_presence("alice-id", "Available", "Available", "office");
  EXPECT_EQ(presence_changed("alice-id").status, 202);
  const auto started = Steady::now();
  const auto a = submit(kAliceFax);
  ASSERT_TRUE(wait_state(a.value("id", ""), "printed", 10s)) << state_of(a.value("id", ""));
  EXPECT_LT(Steady::now() - started, 10s);
  // One post per notice: a 429 beyond the time allowed is not hammered.
  std::size_t posts = 0;
  for (const auto& r : graph_->received("POST", "/v1.0/chats/")) {
    if (r.at >= since && r.path.find("/messages") != std::string::npos) ++posts;
  }
  EXPECT_LE(posts, 3u);  // mallory's notice, and at most alice's Printed notice and one more
  tenant_->throttle_chat_posts(false);
}

// The language of a notice from Graph: bob's preferredLanguage is ja-JP and his rule sets none,
// so his notice is in Japanese, reason included; alice's resource has none (her notices in (a)
// are English, [general] language).
TEST_F(TeamsDaemon, NoticeInThePreferredLanguageOfTheUserResource) {
  add_rule("0311113333", "user:teams:" + kBob);
  const auto since = Steady::now();
  const auto j = submit("0311113333");
  const std::string id = j.value("id", "");
  ASSERT_TRUE(wait_state(id, "held")) << state_of(id);  // bob is away
  // Chat posts may still wait out a Retry-After of 30 s that the test before provoked.
  const auto notice = wait_notice("bob-id", since, j.value("short_id", "?"), 60s);
  ASSERT_TRUE(notice) << "no notice for job " << j.value("short_id", "") << " in bob's chat";
  const std::string html = notice->at("body").at("content").get<std::string>();
  EXPECT_NE(html.find("を保留しています"), std::string::npos) << html;
  EXPECT_NE(html.find("理由: 保留: bob@contoso.com は退席中・リモート"), std::string::npos) << html;
  // Read with the application token, once.
  std::size_t reads = 0;
  for (const auto& r : graph_->received("GET", "/v1.0/users/bob-id")) {
    EXPECT_NE(r.target.find("preferredLanguage"), std::string::npos) << r.target;
    ++reads;
  }
  EXPECT_EQ(reads, 1u);
}

}  // namespace
}  // namespace atdesk::test
