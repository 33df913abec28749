// The Teams routes of atdeskd (graph_routes.cpp) through a Router, without a socket: the
// change-notification webhook (validation handshake, clientState, malformed bodies) and the
// admin's device-code sign-in. Graph and the identity platform are the stand-in of
// atdesk/testing/fake_graph.hpp; each payload names the documentation page it follows.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "atdesk/api/auth.hpp"
#include "atdesk/testing/fake_graph.hpp"
#include "atdesk/testing/manual_clock.hpp"
#include "atdesk/testing/memory_store.hpp"
#include "chat_factories.hpp"
#include "graph_routes.hpp"

namespace atdesk::app {
namespace {

using json = nlohmann::json;
using testing::FakeGraph;
using testing::Received;
using testing::Reply;
using namespace std::chrono_literals;

constexpr const char* kWebhook = "/api/v1/webhooks/graph/teams";

// Every caller is the principal the test says (the bearer token's checks are tested in api).
class FixedAuthenticator final : public api::Authenticator {
 public:
  explicit FixedAuthenticator(api::Role role) : role_(role) {}
  std::expected<api::Actor, api::Denial> authenticate(const api::Request&) const override {
    return role_ == api::Role::admin ? "api:admin" : "user:bob";
  }
  std::expected<api::Principal, api::Denial> identify(const api::Request&) const override {
    return api::Principal{role_ == api::Role::admin ? "api:admin" : "user:bob", role_, "", {}};
  }

 private:
  api::Role role_;
};

class GraphRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("atdesk-graph-routes-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    // Microsoft identity platform, "OAuth 2.0 device authorization grant"
    // (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code): the device
    // code response, then the token response of a successful poll.
    graph_.on("POST", "/tenant-1/oauth2/v2.0/devicecode", [](const Received&) {
      return Reply{200, json{{"device_code", "dev-code-secret"},
                             {"user_code", "ABCD-EFGH"},
                             {"verification_uri", "https://microsoft.com/devicelogin"},
                             {"expires_in", 900},
                             {"interval", 1},
                             {"message", "To sign in, use a web browser ..."}}
                            .dump()};
    });
    graph_.on("POST", "/tenant-1/oauth2/v2.0/token", [](const Received& r) {
      // Client credentials ("OAuth 2.0 client credentials flow") or device code / refresh.
      const bool app = r.body.find("grant_type=client_credentials") != std::string::npos;
      json j{{"token_type", "Bearer"},
             {"expires_in", 3599},
             {"access_token", app ? "app-token" : "user-token"}};
      if (!app) j["refresh_token"] = "refresh-1";
      return Reply{200, j.dump()};
    });
    // Graph "Get the signed-in user"
    // (https://learn.microsoft.com/graph/api/user-get): /me with $select=id,userPrincipalName.
    graph_.on("GET", "/v1.0/me", [](const Received&) {
      return Reply{200, R"({"id":"fax-id","userPrincipalName":"fax@contoso.com"})"};
    });
    // Graph "Get user" (https://learn.microsoft.com/graph/api/user-get).
    graph_.on("GET", "/v1.0/users/", [](const Received&) {
      return Reply{200, R"({"id":"alice-id","userPrincipalName":"alice@contoso.com"})"};
    });
    // Graph "Create subscription"
    // (https://learn.microsoft.com/graph/api/subscription-post-subscriptions): Graph first
    // POSTs a validationToken to the notification URL and expects it back as text/plain within
    // 10 seconds; here it goes through the router, as it would through atdeskd's HTTP server.
    graph_.on("POST", "/v1.0/subscriptions", [this](const Received& r) {
      const auto answer = dispatch("POST",
                                   std::string(kWebhook) + "?validationToken=" +
                                       "Validation%3A+Testing+client+application+" +
                                       "reachability+for+subscription+Request-Id%3A+42",
                                   "");
      if (answer.status != 200 ||
          answer.body !=
              "Validation: Testing client application reachability for subscription Request-Id: "
              "42") {
        return Reply{
            400,
            R"({"error":{"code":"ValidationError","message":"Subscription validation request failed."}})"};
      }
      const auto body = json::parse(r.body);
      client_state_ = body.at("clientState").get<std::string>();
      return Reply{201, json{{"id", "sub-1"},
                             {"resource", body.at("resource")},
                             {"changeType", "updated"},
                             {"clientState", body.at("clientState")},
                             {"expirationDateTime", body.at("expirationDateTime")}}
                            .dump()};
    });
    // Graph "Get presence" for many users
    // (https://learn.microsoft.com/graph/api/cloudcommunications-getpresencesbyuserid).
    graph_.on("POST", "/v1.0/communications/getPresencesByUserId", [](const Received&) {
      return Reply{200,
                   R"({"value":[{"id":"alice-id","availability":"Busy","activity":"InACall"}]})"};
    });
  }

  void TearDown() override {
    sign_ins_.reset();
    service_.reset();
    std::filesystem::remove_all(dir_);
  }

  chat::GraphChatService& service() {
    if (!service_) {
      chat::GraphChatService::Settings s;
      s.tenant = "tenant-1";
      s.client_id = "client-1";
      s.client_secret = "secret-1";
      s.graph_url = graph_.url() + "/v1.0";
      s.login_url = graph_.url();
      s.public_url = "https://fax.example.org";
      s.key_file = dir_ / "spool.key";
      s.request_timeout = 5000ms;
      s.max_requests_per_second = 1000;
      service_ = std::make_unique<chat::GraphChatService>(s, tables_, clock_);
    }
    return *service_;
  }

  void install(api::Role role) {
    auth_ = std::make_unique<FixedAuthenticator>(role);
    router_ = std::make_unique<api::Router>(*auth_);
    sign_ins_ = install_graph_routes(*router_, *auth_, {&service()});
  }

  api::Response dispatch(const std::string& method, const std::string& target,
                         const std::string& body) {
    api::Request request;
    request.method = method;
    request.target = target;
    auto parsed = api::parse_target(target);
    EXPECT_TRUE(parsed) << target;
    if (!parsed) return {};
    request.path = parsed->path;
    request.segments = parsed->segments;
    request.query = parsed->query;
    request.body = body;
    return router_->dispatch(request);
  }

  // Graph "Change notifications for presence"
  // (https://learn.microsoft.com/graph/changenotifications-for-presence): a notification
  // without resource data.
  static std::string notification(const std::string& sub, const std::string& state) {
    return json{{"value", json::array({{{"subscriptionId", sub},
                                        {"clientState", state},
                                        {"changeType", "updated"},
                                        {"resource", "communications/presences('alice-id')"},
                                        {"subscriptionExpirationDateTime", "2025-03-10T10:00:00Z"},
                                        {"resourceData",
                                         {{"@odata.type", "#Microsoft.Graph.presence"},
                                          {"@odata.id", "communications/presences('alice-id')"},
                                          {"id", "alice-id"}}},
                                        {"tenantId", "tenant-1"}}})}}
        .dump();
  }

  // Signs the service account in through the routes and waits for the poll to succeed.
  void sign_in_through_routes() {
    const auto started = dispatch("POST", "/api/v1/chat-services/teams/sign-in", "");
    ASSERT_EQ(started.status, 202) << started.body;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    std::string status;
    while (std::chrono::steady_clock::now() < deadline) {
      status = json::parse(dispatch("GET", "/api/v1/chat-services/teams/sign-in", "").body)
                   .value("status", "");
      if (status != "pending") break;
      std::this_thread::sleep_for(20ms);
    }
    ASSERT_EQ(status, "signed_in");
  }

  std::filesystem::path dir_;
  FakeGraph graph_;
  testing::MemoryTableStore tables_;
  ManualClock clock_{Timestamp(std::chrono::sys_days(std::chrono::year(2025) / 3 / 10)) + 9h};
  std::unique_ptr<chat::GraphChatService> service_;
  std::unique_ptr<FixedAuthenticator> auth_;
  std::unique_ptr<api::Router> router_;
  std::shared_ptr<GraphSignIns> sign_ins_;
  std::string client_state_;
};

TEST_F(GraphRoutesTest, ValidationHandshakeEchoesTheDecodedTokenAsPlainText) {
  install(api::Role::admin);
  const auto started = std::chrono::steady_clock::now();
  const auto r = dispatch("POST",
                          std::string(kWebhook) +
                              "?validationToken=Validation%3A+Testing+client+application+"
                              "reachability+for+subscription+Request-Id%3A+7f%2B%26x",
                          "");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);  // Graph's limit
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.content_type.starts_with("text/plain")) << r.content_type;
  EXPECT_EQ(r.body,
            "Validation: Testing client application reachability for subscription Request-Id: "
            "7f+&x");
  // No sign-in, no token, no Graph request needed for the handshake.
  EXPECT_TRUE(graph_.received().empty());
}

TEST_F(GraphRoutesTest, NotificationsNeedTheSubscriptionsClientState) {
  install(api::Role::admin);
  sign_in_through_routes();
  service().watch({"alice@contoso.com"}, [](const std::string&, const Presence&) {});
  service().run_once();  // creates the subscription, validated through the route
  ASSERT_EQ(graph_.received("POST", "/v1.0/subscriptions").size(), 1u);
  ASSERT_FALSE(client_state_.empty());
  const auto reads = graph_.received("POST", "/v1.0/communications/getPresencesByUserId").size();

  auto wrong = dispatch("POST", kWebhook, notification("sub-1", std::string(64, '0')));
  EXPECT_EQ(wrong.status, 403);
  EXPECT_NE(wrong.body.find("clientState"), std::string::npos) << wrong.body;
  // A subscription the service does not hold: accepted and dropped (a refusal makes Graph
  // retry the delivery for hours).
  auto unknown = dispatch("POST", kWebhook, notification("sub-9", client_state_));
  EXPECT_EQ(unknown.status, 202);
  json missing = json::parse(notification("sub-1", ""));
  missing["value"][0].erase("clientState");
  EXPECT_EQ(dispatch("POST", kWebhook, missing.dump()).status, 403);
  service().run_once();
  EXPECT_EQ(graph_.received("POST", "/v1.0/communications/getPresencesByUserId").size(), reads)
      << "a refused notification caused a presence read";

  auto right = dispatch("POST", kWebhook, notification("sub-1", client_state_));
  EXPECT_EQ(right.status, 202) << right.body;
  service().run_once();
  EXPECT_EQ(graph_.received("POST", "/v1.0/communications/getPresencesByUserId").size(), reads + 1);
}

TEST_F(GraphRoutesTest, MalformedBodiesAre400NamingTheField) {
  install(api::Role::admin);
  const std::pair<std::string, std::string> cases[] = {
      {"{\"value\": [", "body:"},
      {"[1,2]", "body: expected a JSON object"},
      {"{}", "value: expected an array"},
      {R"({"value": {"subscriptionId": "sub-1"}})", "value: expected an array"},
      {R"({"value": [7]})", "value[0]: expected an object"},
      {R"({"value": [{"clientState": "x"}]})", "value[0].subscriptionId: expected a string"},
      {R"({"value": [{"subscriptionId": "s", "clientState": "x"}, {"subscriptionId": 5}]})",
       "value[1].subscriptionId: expected a string"},
      {R"({"value": [{"subscriptionId": "s", "clientState": 12}]})",
       "value[0].clientState: expected a string"},
      {R"({"value": [{"subscriptionId": "s", "lifecycleEvent": ["missed"]}]})",
       "value[0].lifecycleEvent: expected a string"},
      {R"({"value": [{"subscriptionId": "s", "resourceData": "alice-id"}]})",
       "value[0].resourceData: expected an object"},
  };
  for (const auto& [body, message] : cases) {
    const auto r = dispatch("POST", kWebhook, body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_NE(r.body.find(message), std::string::npos) << body << " -> " << r.body;
  }
}

TEST_F(GraphRoutesTest, SignInIsForAdminsAndShowsTheCode) {
  install(api::Role::user);
  EXPECT_EQ(dispatch("POST", "/api/v1/chat-services/teams/sign-in", "").status, 403);
  EXPECT_EQ(dispatch("GET", "/api/v1/chat-services/teams/sign-in", "").status, 403);
  EXPECT_TRUE(graph_.received("POST", "/tenant-1/oauth2/v2.0/devicecode").empty());
}

TEST_F(GraphRoutesTest, DeviceCodeSignInThroughTheRoutes) {
  install(api::Role::admin);
  // Pending once (RFC 8628 section 3.5), then signed in.
  std::atomic<int> polls{0};
  graph_.on("POST", "/tenant-1/oauth2/v2.0/token", [&polls](const Received&) {
    if (polls++ == 0) {
      return Reply{400, json{{"error", "authorization_pending"},
                             {"error_description", "AADSTS70016: pending"}}
                            .dump()};
    }
    return Reply{200, json{{"token_type", "Bearer"},
                           {"expires_in", 3599},
                           {"access_token", "user-token"},
                           {"refresh_token", "refresh-1"}}
                          .dump()};
  });
  const auto started = dispatch("POST", "/api/v1/chat-services/teams/sign-in", "");
  ASSERT_EQ(started.status, 202) << started.body;
  const auto body = json::parse(started.body);
  EXPECT_EQ(body.value("user_code", ""), "ABCD-EFGH");
  EXPECT_EQ(body.value("verification_uri", ""), "https://microsoft.com/devicelogin");
  EXPECT_EQ(started.body.find("dev-code-secret"), std::string::npos) << "device_code leaked";
  const auto again = dispatch("POST", "/api/v1/chat-services/teams/sign-in", "");
  EXPECT_EQ(again.status, 409);
  const auto pending = json::parse(dispatch("GET", "/api/v1/chat-services/teams/sign-in", "").body);
  EXPECT_EQ(pending.value("status", ""), "pending");
  EXPECT_EQ(pending.value("user_code", ""), "ABCD-EFGH");
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  std::string status = "pending";
  while (status == "pending" && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
    status = json::parse(dispatch("GET", "/api/v1/chat-services/teams/sign-in", "").body)
                 .value("status", "");
  }
  EXPECT_EQ(status, "signed_in");
  EXPECT_GE(polls.load(), 2);
  EXPECT_EQ(graph_.received("GET", "/v1.0/me").size(), 1u);
}

// The browser sign-in through the routes: the admin starts it, the identity platform sends the
// browser back to the callback with the state; an unknown or replayed state is refused.
TEST_F(GraphRoutesTest, BrowserSignInThroughTheCallback) {
  install(api::Role::admin);
  const auto started = dispatch("POST", "/api/v1/chat-services/teams/sign-in/browser",
                                R"({"redirect_base":"https://fax.example.org"})");
  ASSERT_EQ(started.status, 202) << started.body;
  const auto j = json::parse(started.body);
  EXPECT_EQ(j.at("redirect_uri"),
            "https://fax.example.org/api/v1/chat-services/teams/sign-in/callback");
  const std::string url = j.at("authorize_url");
  const auto query = testing::form_of(url.substr(url.find('?') + 1));
  const std::string state = query.at("state");
  const std::string callback = "/api/v1/chat-services/teams/sign-in/callback";
  EXPECT_EQ(dispatch("GET", callback + "?code=c1&state=guessed", "").status, 400);
  const auto done = dispatch("GET", callback + "?code=c1&state=" + state, "");
  EXPECT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(
      json::parse(dispatch("GET", "/api/v1/chat-services/teams/sign-in", "").body).at("status"),
      "signed_in");
  EXPECT_EQ(graph_.received("GET", "/v1.0/me").size(), 1u);
  EXPECT_EQ(dispatch("GET", callback + "?code=c1&state=" + state, "").status, 400);  // used
  // The identity platform's refusal is shown as what it is.
  const auto again = json::parse(dispatch("POST", "/api/v1/chat-services/teams/sign-in/browser",
                                          R"({"redirect_base":"https://fax.example.org"})")
                                     .body);
  const std::string url2 = again.at("authorize_url");
  const auto state2 = testing::form_of(url2.substr(url2.find('?') + 1)).at("state");
  const auto refused = dispatch(
      "GET", callback + "?error=interaction_required&error_description=AADSTS50076&state=" + state2,
      "");
  EXPECT_EQ(refused.status, 400);
  EXPECT_NE(refused.body.find("interaction_required"), std::string::npos) << refused.body;
}

// "Receive change notifications through webhooks": Graph delivers to HTTPS endpoints only, so
// [chat.<name>] public_url must be https:// (plain http only on loopback, for tests).
TEST(TeamsConfig, PublicUrlMustBeHttps) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("atdesk-teams-config-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto secret = dir / "teams.secret";
  {
    std::ofstream out(secret);
    out << "secret-1\n";
  }
  std::filesystem::permissions(
      secret, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  app::Config config;
  testing::MemoryTableStore tables;
  ManualClock clock{Timestamp{}};
  app::ChatContext context{config, tables, clock, dir / "spool.key"};
  auto make = [&](const std::string& public_url) {
    std::istringstream in(
        "type = \"teams\"\ntenant = \"t\"\nclient_id = \"c\"\n"
        "client_secret_file = \"" +
        secret.string() + "\"\npublic_url = \"" + public_url + "\"\n");
    const auto table = toml::parse(in, "atdesk.toml");
    return app::make_chat_service("teams", table, "atdesk.toml", context);
  };
  EXPECT_TRUE(make("https://fax.example.org"));
  EXPECT_TRUE(make("http://127.0.0.1:8631"));
  auto plain = make("http://fax.example.org");
  ASSERT_FALSE(plain);
  EXPECT_NE(plain.error().message.find("public_url: expected an https:// URL"), std::string::npos)
      << plain.error().message;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace atdesk::app
