// GraphChatService against a local stand-in of Microsoft Graph v1.0 and the Microsoft identity
// platform (fake_graph.hpp). Each payload names the documentation page whose shape it follows.
#include <gtest/gtest.h>
#include <sodium.h>

#include <atomic>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "atdesk/chat/graph/graph_chat_service.hpp"
#include "atdesk/testing/fake_graph.hpp"
#include "atdesk/testing/manual_clock.hpp"
#include "atdesk/testing/memory_store.hpp"

namespace atdesk::chat {
namespace {

using json = nlohmann::json;
using testing::FakeGraph;
using testing::form_of;
using testing::Received;
using testing::Reply;
using namespace std::chrono_literals;

// Microsoft identity platform, "OAuth 2.0 client credentials flow": successful token response.
Reply token_reply(const std::string& access, const std::string& refresh = "") {
  json j{{"token_type", "Bearer"}, {"expires_in", 3599}, {"access_token", access}};
  if (!refresh.empty()) j["refresh_token"] = refresh;
  return {200, j.dump()};
}

// Microsoft identity platform, "OAuth 2.0 device authorization grant" / RFC 8628 section 3.5:
// error responses of the token endpoint.
Reply oauth_error(const std::string& error) {
  return {400, json{{"error", error},
                    {"error_description", "AADSTS00000: " + error + " (test)\r\nTrace ID: x"},
                    {"error_codes", json::array({70000})}}
                   .dump()};
}

// Graph "Create subscription" / change notification pages: a presence subscription resource.
json subscription_json(const std::string& id, const std::string& expires) {
  return {{"id", id},
          {"resource", "/communications/presences?$filter=id in ('...')"},
          {"changeType", "updated"},
          {"expirationDateTime", expires}};
}

class GraphTest : public ::testing::Test {
 protected:
  // Graph "chatMessage" as "List messages in a chat" returns a person's message in HTML.
  static json chat_message(const std::string& id, const std::string& at, const std::string& html,
                           const std::string& from = "alice-id") {
    return json{{"id", id},
                {"messageType", "message"},
                {"createdDateTime", at},
                {"from", {{"user", {{"id", from}}}}},
                {"body", {{"contentType", "html"}, {"content", html}}}};
  }

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("atdesk-graph-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    settings_.tenant = "tenant-1";
    settings_.client_id = "client-1";
    settings_.client_secret = "secret-1";
    settings_.graph_url = graph_.url() + "/v1.0";
    settings_.login_url = graph_.url();
    settings_.public_url = "https://fax.example.org";
    settings_.key_file = dir_ / "spool.key";
    settings_.timeout = 3000ms;
    settings_.request_timeout = 5000ms;
    settings_.max_requests_per_second = 1000;
    settings_.poll_interval = 60s;

    // Client credentials and refresh grants.
    graph_.on("POST", "/tenant-1/oauth2/v2.0/token", [this](const Received& r) {
      const auto form = form_of(r.body);
      if (form.at("grant_type") == "client_credentials") {
        return token_reply("app-token-" + std::to_string(++app_tokens_));
      }
      if (form.at("grant_type") == "refresh_token") {
        if (revoke_) return oauth_error("invalid_grant");
        return token_reply("user-token-" + std::to_string(++user_tokens_), "refresh-next");
      }
      if (form.at("grant_type") == "urn:ietf:params:oauth:grant-type:device_code") {
        if (!device_replies_.empty()) {
          auto next = device_replies_.front();
          device_replies_.erase(device_replies_.begin());
          if (next != "ok") return oauth_error(next);
        }
        return token_reply("user-token-0", "refresh-0");
      }
      return oauth_error("unsupported_grant_type");
    });
    // Microsoft identity platform, "device authorization grant": the device code response.
    graph_.on("POST", "/tenant-1/oauth2/v2.0/devicecode", [](const Received&) {
      return Reply{200, json{{"device_code", "dev-code-secret"},
                             {"user_code", "ABCD-EFGH"},
                             {"verification_uri", "https://microsoft.com/devicelogin"},
                             {"expires_in", 900},
                             {"interval", 5},
                             {"message", "To sign in, use a web browser ..."}}
                            .dump()};
    });
    // Graph "Get user" ($select=id): directory users by UPN.
    graph_.on("GET", "/v1.0/users/", [this](const Received& r) {
      const auto upn = r.path.substr(std::string("/v1.0/users/").size());
      std::lock_guard lock(mutex_);
      const auto it = users_.find(upn);
      if (it == users_.end()) {
        return Reply{
            404,
            R"({"error":{"code":"Request_ResourceNotFound","message":"Resource does not exist."}})"};
      }
      return Reply{200, json{{"id", it->second}, {"userPrincipalName", upn}}.dump()};
    });
    // Graph "Get the signed-in user" (/me).
    graph_.on("GET", "/v1.0/me", [](const Received&) {
      return Reply{200, R"({"id":"fax-id","userPrincipalName":"fax@contoso.com"})"};
    });
    users_ = {{"alice%40contoso.com", "alice-id"}, {"bob%40contoso.com", "bob-id"}};
  }

  void TearDown() override {
    service_.reset();
    std::filesystem::remove_all(dir_);
  }

  GraphChatService& service() {
    if (!service_) service_ = std::make_unique<GraphChatService>(settings_, tables_, clock_);
    return *service_;
  }

  // Signs the service account in by device code, answered at once.
  void sign_in() {
    auto code = service().begin_device_sign_in();
    ASSERT_TRUE(code) << code.error().describe();
    auto status = service().poll_device_sign_in(*code);
    ASSERT_TRUE(status) << status.error().describe();
    ASSERT_EQ(*status, SignInStatus::signed_in);
  }

  // Graph "cloudCommunications: getPresencesByUserId": the response for the requested ids.
  void presence_route(std::function<json(const std::string& id)> presence_of) {
    graph_.on("POST", "/v1.0/communications/getPresencesByUserId",
              [presence_of](const Received& r) {
                json out{{"value", json::array()}};
                const auto request = json::parse(r.body);
                for (const auto& id : request.at("ids")) {
                  out["value"].push_back(presence_of(id.get<std::string>()));
                }
                return Reply{200, out.dump()};
              });
  }

  static json available(const std::string& id) {
    return {{"id", id}, {"availability", "Available"}, {"activity", "Available"}};
  }

  std::filesystem::path dir_;
  FakeGraph graph_;
  testing::MemoryTableStore tables_;
  ManualClock clock_{Timestamp(std::chrono::sys_days(std::chrono::year(2025) / 3 / 10)) + 9h};
  GraphChatService::Settings settings_;
  std::unique_ptr<GraphChatService> service_;
  std::mutex mutex_;
  std::map<std::string, std::string> users_;
  std::atomic<int> app_tokens_{0};
  std::atomic<int> user_tokens_{0};
  std::atomic<bool> revoke_{false};
  std::vector<std::string> device_replies_;
};

const std::vector<std::string> kAlice{"alice@contoso.com"};

TEST_F(GraphTest, ClientCredentialsTokenAndRefreshOn401) {
  std::atomic<int> calls{0};
  graph_.on("POST", "/v1.0/communications/getPresencesByUserId", [&](const Received& r) {
    ++calls;
    // Graph "Authentication and authorization errors": an expired token is answered with 401.
    if (r.authorization == "Bearer app-token-1") {
      return Reply{
          401,
          R"({"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired or is not yet valid."}})"};
    }
    return Reply{200, json{{"value", json::array({available("alice-id")})}}.dump()};
  });
  auto p = service().presence(kAlice);
  ASSERT_TRUE(p) << p.error().describe();
  EXPECT_EQ(p->at("alice@contoso.com").availability, Availability::available);
  const auto tokens = graph_.received("POST", "/tenant-1/oauth2/v2.0/token");
  ASSERT_EQ(tokens.size(), 2u);
  const auto form = form_of(tokens[0].body);
  EXPECT_EQ(form.at("grant_type"), "client_credentials");
  EXPECT_EQ(form.at("client_id"), "client-1");
  EXPECT_EQ(form.at("client_secret"), "secret-1");
  // Scopes derive from the configured Graph root (national clouds have their own host).
  EXPECT_EQ(form.at("scope"), graph_.url() + "/.default");
  const auto reads = graph_.received("POST", "/v1.0/communications/getPresencesByUserId");
  ASSERT_EQ(reads.size(), 2u);
  EXPECT_EQ(reads[1].authorization, "Bearer app-token-2");
  // Presence works with the application token, but no notice goes out without the service
  // account: connecting, with the reason for the admin (the web UI offers the sign-in); connected
  // once it is signed in.
  EXPECT_EQ(service().state(), ServiceState::connecting);
  EXPECT_NE(service().last_error().find("not signed in"), std::string::npos);
  sign_in();
  EXPECT_EQ(service().state(), ServiceState::connected);
  EXPECT_EQ(service().last_error(), "");
}

TEST_F(GraphTest, TokenIsReusedUntilShortlyBeforeExpiry) {
  presence_route(available);
  ASSERT_TRUE(service().presence(kAlice));
  ASSERT_TRUE(service().presence(kAlice));
  EXPECT_EQ(graph_.received("POST", "/tenant-1/oauth2/v2.0/token").size(), 1u);
  clock_.advance(57min);  // within five minutes of the end of its hour
  ASSERT_TRUE(service().presence(kAlice));
  EXPECT_EQ(graph_.received("POST", "/tenant-1/oauth2/v2.0/token").size(), 2u);
}

TEST_F(GraphTest, DeviceCodePendingSlowDownThenSignedIn) {
  device_replies_ = {"authorization_pending", "slow_down", "ok"};
  auto code = service().begin_device_sign_in();
  ASSERT_TRUE(code) << code.error().describe();
  EXPECT_EQ(code->user_code, "ABCD-EFGH");
  EXPECT_EQ(code->verification_uri, "https://microsoft.com/devicelogin");
  EXPECT_EQ(code->interval, 5s);
  const auto start = form_of(graph_.received("POST", "/tenant-1/oauth2/v2.0/devicecode")[0].body);
  EXPECT_NE(start.at("scope").find("offline_access"), std::string::npos);

  auto s1 = service().poll_device_sign_in(*code);
  ASSERT_TRUE(s1);
  EXPECT_EQ(*s1, SignInStatus::pending);
  EXPECT_EQ(code->interval, 5s);
  auto s2 = service().poll_device_sign_in(*code);
  ASSERT_TRUE(s2);
  EXPECT_EQ(*s2, SignInStatus::slow_down);
  EXPECT_EQ(code->interval, 10s);  // RFC 8628: five seconds more
  auto s3 = service().poll_device_sign_in(*code);
  ASSERT_TRUE(s3) << s3.error().describe();
  EXPECT_EQ(*s3, SignInStatus::signed_in);
  const auto polls = graph_.received("POST", "/tenant-1/oauth2/v2.0/token");
  ASSERT_EQ(polls.size(), 3u);
  EXPECT_EQ(form_of(polls[0].body).at("device_code"), "dev-code-secret");
  ASSERT_EQ(graph_.received("GET", "/v1.0/me").size(), 1u);
  EXPECT_EQ(graph_.received("GET", "/v1.0/me")[0].authorization, "Bearer user-token-0");
}

TEST_F(GraphTest, DeviceCodeExpiredAndDenied) {
  device_replies_ = {"expired_token", "authorization_declined", "access_denied"};
  auto code = service().begin_device_sign_in();
  ASSERT_TRUE(code);
  EXPECT_EQ(service().poll_device_sign_in(*code).value(), SignInStatus::expired);
  EXPECT_EQ(service().poll_device_sign_in(*code).value(), SignInStatus::denied);
  EXPECT_EQ(service().poll_device_sign_in(*code).value(), SignInStatus::denied);
  // Past expires_in the code is not even sent any more.
  clock_.advance(16min);
  EXPECT_EQ(service().poll_device_sign_in(*code).value(), SignInStatus::expired);
  EXPECT_EQ(graph_.received("POST", "/tenant-1/oauth2/v2.0/token").size(), 3u);
  EXPECT_TRUE(graph_.received("GET", "/v1.0/me").empty());
}

TEST_F(GraphTest, PresenceBatchesSplitAtTheDocumentedLimit) {
  std::vector<std::string> users;
  {
    std::lock_guard lock(mutex_);
    for (int i = 0; i < 651; ++i) {
      const auto upn = "user" + std::to_string(i) + "@contoso.com";
      users_["user" + std::to_string(i) + "%40contoso.com"] = "id-" + std::to_string(i);
      users.push_back(upn);
    }
  }
  presence_route(available);
  settings_.timeout = 20s;
  auto p = service().presence(users);
  ASSERT_TRUE(p) << p.error().describe();
  EXPECT_EQ(p->size(), 651u);
  const auto reads = graph_.received("POST", "/v1.0/communications/getPresencesByUserId");
  ASSERT_EQ(reads.size(), 2u);
  EXPECT_EQ(json::parse(reads[0].body).at("ids").size(), 650u);
  EXPECT_EQ(json::parse(reads[1].body).at("ids").size(), 1u);
  // Ids are cached: a second read resolves nobody again.
  const auto lookups = graph_.received("GET", "/v1.0/users/").size();
  ASSERT_TRUE(service().presence(users));
  EXPECT_EQ(graph_.received("GET", "/v1.0/users/").size(), lookups);
}

TEST_F(GraphTest, PresenceMapsEveryValueAndWorkLocation) {
  // Graph v1.0 "presence resource type": availability, activity, statusMessage,
  // outOfOfficeSettings and workLocation (userWorkLocation.workLocationType).
  const std::vector<std::pair<json, std::pair<Availability, WorkLocation>>> cases = {
      {{{"availability", "Available"},
        {"activity", "Available"},
        {"workLocation", {{"workLocationType", "office"}, {"source", "manual"}}}},
       {Availability::available, WorkLocation::office}},
      {{{"availability", "AvailableIdle"},
        {"activity", "Inactive"},
        {"workLocation", {{"workLocationType", "remote"}, {"source", "scheduled"}}}},
       {Availability::available, WorkLocation::remote}},
      {{{"availability", "Away"},
        {"activity", "Away"},
        {"workLocation", {{"workLocationType", "timeOff"}, {"source", "automatic"}}}},
       {Availability::away, WorkLocation::time_off}},
      {{{"availability", "BeRightBack"},
        {"activity", "BeRightBack"},
        {"workLocation", {{"workLocationType", "unspecified"}, {"source", "none"}}}},
       {Availability::be_right_back, WorkLocation::unknown}},
      {{{"availability", "Busy"}, {"activity", "InAMeeting"}},
       {Availability::busy, WorkLocation::unknown}},
      {{{"availability", "BusyIdle"}, {"activity", "Inactive"}},
       {Availability::busy, WorkLocation::unknown}},
      {{{"availability", "DoNotDisturb"}, {"activity", "Presenting"}},
       {Availability::do_not_disturb, WorkLocation::unknown}},
      {{{"availability", "Offline"}, {"activity", "OffWork"}},
       {Availability::offline, WorkLocation::time_off}},
      {{{"availability", "PresenceUnknown"}, {"activity", "PresenceUnknown"}},
       {Availability::unknown, WorkLocation::unknown}},
      {{{"availability", "Away"},
        {"activity", "Away"},
        {"outOfOfficeSettings", {{"isOutOfOffice", true}, {"message", "On leave"}}}},
       {Availability::away, WorkLocation::time_off}},
      {{{"availability", "Brand-new"},
        {"activity", "Brand-new"},
        {"workLocation", {{"workLocationType", "unknownFutureValue"}}}},
       {Availability::unknown, WorkLocation::unknown}},
  };
  std::vector<std::string> users;
  std::map<std::string, json> by_id;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto id = "u" + std::to_string(i);
    users_[id + "%40contoso.com"] = id;
    users.push_back(id + "@contoso.com");
    json p = cases[i].first;
    p["id"] = id;
    by_id[id] = p;
  }
  by_id["u0"]["statusMessage"] = {
      {"message", {{"content", "At the front desk"}, {"contentType", "text"}}}};
  presence_route([&](const std::string& id) { return by_id.at(id); });
  auto p = service().presence(users);
  ASSERT_TRUE(p) << p.error().describe();
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& got = p->at(users[i]);
    EXPECT_EQ(got.availability, cases[i].second.first) << cases[i].first.dump();
    EXPECT_EQ(got.location, cases[i].second.second) << cases[i].first.dump();
  }
  EXPECT_EQ(p->at("u0@contoso.com").status_text, "At the front desk");
  EXPECT_EQ(p->at("u4@contoso.com").status_text, "InAMeeting");
}

TEST_F(GraphTest, UnknownUsersAreAbsentAndVerifySaysNotFound) {
  presence_route(available);
  const std::vector<std::string> users{"alice@contoso.com", "nobody@contoso.com"};
  auto p = service().presence(users);
  ASSERT_TRUE(p) << p.error().describe();
  EXPECT_EQ(p->size(), 1u);
  auto v = service().verify({RecipientKind::user, "teams", "nobody@contoso.com"});
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, Errc::not_found);
  EXPECT_NE(v.error().message.find("nobody@contoso.com"), std::string::npos);
  EXPECT_TRUE(service().verify({RecipientKind::user, "teams", "bob@contoso.com"}));
}

TEST_F(GraphTest, RetryAfterOf429IsHonoured) {
  settings_.timeout = 5s;
  std::atomic<int> calls{0};
  graph_.on("POST", "/v1.0/communications/getPresencesByUserId", [&](const Received&) {
    // Graph "Microsoft Graph throttling guidance": 429 with Retry-After in seconds.
    if (calls++ == 0) {
      return Reply{429,
                   R"({"error":{"code":"TooManyRequests","message":"Too many requests."}})",
                   {{"Retry-After", "1"}}};
    }
    return Reply{200, json{{"value", json::array({available("alice-id")})}}.dump()};
  });
  auto p = service().presence(kAlice);
  ASSERT_TRUE(p) << p.error().describe();
  const auto reads = graph_.received("POST", "/v1.0/communications/getPresencesByUserId");
  ASSERT_EQ(reads.size(), 2u);
  EXPECT_GE(reads[1].at - reads[0].at, 1000ms);
}

TEST_F(GraphTest, ServiceUnavailable503IsRetriedAfterItsDelay) {
  settings_.timeout = 5s;
  std::atomic<int> calls{0};
  graph_.on("POST", "/v1.0/communications/getPresencesByUserId", [&](const Received&) {
    // Graph throttling guidance: 503 Service Unavailable may carry Retry-After too.
    if (calls++ == 0) {
      return Reply{503,
                   R"({"error":{"code":"serviceNotAvailable","message":"Service unavailable."}})",
                   {{"Retry-After", "1"}}};
    }
    return Reply{200, json{{"value", json::array({available("alice-id")})}}.dump()};
  });
  ASSERT_TRUE(service().presence(kAlice));
  const auto reads = graph_.received("POST", "/v1.0/communications/getPresencesByUserId");
  ASSERT_EQ(reads.size(), 2u);
  EXPECT_GE(reads[1].at - reads[0].at, 1000ms);
}

TEST_F(GraphTest, DecisionPathGivesUpInsteadOfWaitingBeyondItsTimeout) {
  settings_.timeout = 500ms;
  graph_.on("POST", "/v1.0/communications/getPresencesByUserId", [&](const Received&) {
    return Reply{429,
                 R"({"error":{"code":"TooManyRequests","message":"Too many requests."}})",
                 {{"Retry-After", "30"}}};
  });
  const auto t0 = std::chrono::steady_clock::now();
  auto p = service().presence(kAlice);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, Errc::unavailable);
  EXPECT_NE(p.error().message.find("Retry-After 30"), std::string::npos) << p.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_EQ(graph_.received("POST", "/v1.0/communications/getPresencesByUserId").size(), 1u);
  // And the next call does not hammer Graph either: it knows it must wait.
  auto again = service().presence(kAlice);
  ASSERT_FALSE(again);
  EXPECT_EQ(graph_.received("POST", "/v1.0/communications/getPresencesByUserId").size(), 1u);
}

TEST_F(GraphTest, BrokenJsonNamesTheField) {
  graph_.on("POST", "/v1.0/communications/getPresencesByUserId", [](const Received&) {
    return Reply{200, R"({"value":[{"id":"alice-id","availability":7}]})"};
  });
  auto p = service().presence(kAlice);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("value[0].availability"), std::string::npos)
      << p.error().message;
  graph_.on("POST", "/v1.0/communications/getPresencesByUserId", [](const Received&) {
    return Reply{200, "{\"value\": [ "};
  });
  auto q = service().presence(kAlice);
  ASSERT_FALSE(q);
  EXPECT_NE(q.error().message.find("not a JSON object"), std::string::npos) << q.error().message;
  // An object's id that is missing, not a string or empty (here /me after a sign-in, and a
  // 1:1 chat made for a notice) is refused naming the call and the field.
  graph_.on("GET", "/v1.0/me", [](const Received&) { return Reply{200, R"({"id":""})"}; });
  auto code = service().begin_device_sign_in();
  ASSERT_TRUE(code) << code.error().describe();
  auto signed_in = service().poll_device_sign_in(*code);
  ASSERT_FALSE(signed_in);
  EXPECT_NE(
      signed_in.error().message.find("Graph signed-in service account: id: expected a string"),
      std::string::npos)
      << signed_in.error().message;
  graph_.on("GET", "/v1.0/me", [](const Received&) {
    return Reply{200, R"({"id":"fax-id","userPrincipalName":"fax@contoso.com"})"};
  });
  sign_in();
  graph_.on("POST", "/v1.0/chats", [](const Received&) { return Reply{201, R"({"id":7})"}; });
  auto sent =
      service().send({RecipientKind::user, "teams", "alice@contoso.com"}, {"hello", "", {}});
  ASSERT_FALSE(sent);
  EXPECT_NE(sent.error().message.find("create chat with alice@contoso.com: id: expected a string"),
            std::string::npos)
      << sent.error().message;
}

TEST_F(GraphTest, RevokedRefreshTokenBreaksTheService) {
  presence_route(available);
  sign_in();
  revoke_ = true;
  clock_.advance(2h);  // the delegated token must be refreshed now
  graph_.on("POST", "/v1.0/chats", [](const Received&) { return Reply{201, R"({"id":"c"})"}; });
  auto sent =
      service().send({RecipientKind::user, "teams", "alice@contoso.com"}, {"hello", "", {}});
  ASSERT_FALSE(sent);
  EXPECT_EQ(service().state(), ServiceState::broken);
  EXPECT_NE(service().problem().find("invalid_grant"), std::string::npos);
  auto p = service().presence(kAlice);
  ASSERT_FALSE(p);  // the engine holds by policy instead of trusting a half-working service
  EXPECT_EQ(p.error().code, Errc::unavailable);
  // It stays broken across a restart, until the service account signs in again.
  service_.reset();
  EXPECT_EQ(service().state(), ServiceState::connecting);
  ASSERT_FALSE(service().presence(kAlice));
  EXPECT_EQ(service().state(), ServiceState::broken);
  revoke_ = false;
  sign_in();
  EXPECT_TRUE(service().presence(kAlice));
}

TEST_F(GraphTest, TokensAreStoredSealed) {
  presence_route(available);
  sign_in();
  ASSERT_TRUE(service().presence(kAlice));
  auto raw = tables_.get_setting("graph.tokens", "teams");
  ASSERT_TRUE(raw && *raw);
  EXPECT_TRUE((*raw)->starts_with("v1:"));
  for (const char* secret : {"app-token-1", "user-token-0", "refresh-0"}) {
    EXPECT_EQ((*raw)->find(secret), std::string::npos) << secret;
  }
  // Another instance with the same key reads them back: no new token request.
  service_.reset();
  const auto before = graph_.received("POST", "/tenant-1/oauth2/v2.0/token").size();
  ASSERT_TRUE(service().presence(kAlice));
  EXPECT_EQ(graph_.received("POST", "/tenant-1/oauth2/v2.0/token").size(), before);
  // A different key cannot open them: the service starts over rather than failing.
  service_.reset();
  std::filesystem::remove(settings_.key_file);
  ASSERT_TRUE(service().presence(kAlice));
  EXPECT_EQ(graph_.received("POST", "/tenant-1/oauth2/v2.0/token").size(), before + 1);
}

// Microsoft identity platform, "OAuth 2.0 authorization code flow" with PKCE (RFC 7636): the
// authorize URL carries an S256 challenge and a state; the code is redeemed with the verifier,
// which the stand-in checks against the challenge as the identity platform does.
// The language for notices: the user resource's preferredLanguage (Graph "user resource type";
// "Get user" with $select), read once per user; 403 (Authorization_RequestDenied: the
// application lacks User.Read.All) and 404 give "" so the rule or [general] language decides.
TEST_F(GraphTest, PreferredLanguageFromTheUserResourceReadOnce) {
  // Graph "Get user": the user resource with the selected properties.
  graph_.on("GET", "/v1.0/users/alice-id", [](const Received&) {
    return Reply{200, R"({"id":"alice-id","preferredLanguage":"ja-JP"})"};
  });
  // Graph error responses ("Microsoft Graph error responses and resource types").
  graph_.on("GET", "/v1.0/users/bob-id", [](const Received&) {
    return Reply{
        403,
        R"({"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}})"};
  });
  graph_.on("GET", "/v1.0/users/carol-id", [](const Received&) {
    return Reply{200, R"({"id":"carol-id","preferredLanguage":null})"};
  });
  {
    std::lock_guard lock(mutex_);
    users_["carol%40contoso.com"] = "carol-id";
    users_["dave%40contoso.com"] = "dave-id";  // its user resource is gone: 404
  }
  EXPECT_EQ(service().language("alice@contoso.com"), "ja-JP");
  EXPECT_EQ(service().language("Alice@Contoso.com"), "ja-JP");  // one user, any case
  EXPECT_EQ(service().language("bob@contoso.com"), "");
  EXPECT_EQ(service().language("carol@contoso.com"), "");
  EXPECT_EQ(service().language("dave@contoso.com"), "");
  EXPECT_EQ(service().language("nobody@contoso.com"), "");
  const auto reads = [this](const std::string& id) {
    std::size_t n = 0;
    for (const auto& r : graph_.received("GET", "/v1.0/users/" + id)) {
      EXPECT_NE(r.target.find("$select=id,preferredLanguage"), std::string::npos) << r.target;
      ++n;
    }
    return n;
  };
  EXPECT_EQ(reads("alice-id"), 1u);
  EXPECT_EQ(reads("bob-id"), 1u);
  EXPECT_EQ(reads("dave-id"), 1u);
  // Asked again: from the cache, refusals included.
  EXPECT_EQ(service().language("alice@contoso.com"), "ja-JP");
  EXPECT_EQ(service().language("bob@contoso.com"), "");
  EXPECT_EQ(service().language("dave@contoso.com"), "");
  EXPECT_EQ(reads("alice-id"), 1u);
  EXPECT_EQ(reads("bob-id"), 1u);
  EXPECT_EQ(reads("dave-id"), 1u);
  // Application token, as for every directory read.
  for (const auto& r : graph_.received("GET", "/v1.0/users/alice-id")) {
    EXPECT_TRUE(r.authorization.starts_with("Bearer app-token-")) << r.authorization;
  }
}

TEST_F(GraphTest, BrowserSignInWithPkce) {
  auto url_decode = [](const std::string& v) { return form_of("x=" + v).at("x"); };
  std::string challenge;
  graph_.on("POST", "/tenant-1/oauth2/v2.0/token", [&](const Received& r) {
    const auto form = form_of(r.body);
    if (form.at("grant_type") == "client_credentials") return token_reply("app-token");
    if (form.at("grant_type") != "authorization_code") return oauth_error("unsupported_grant_type");
    const std::string verifier = form.at("code_verifier");
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(verifier.data()),
                       verifier.size());
    char b64[64];
    sodium_bin2base64(b64, sizeof b64, digest, sizeof digest,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    if (form.at("code") != "auth-code-1" || std::string(b64) != challenge ||
        form.at("redirect_uri") != "https://fax.example.org/cb" || verifier.size() < 43) {
      return oauth_error("invalid_grant");
    }
    return token_reply("user-token-pkce", "refresh-pkce");
  });
  auto started = service().begin_browser_sign_in("https://fax.example.org/cb");
  ASSERT_TRUE(started) << started.error().describe();
  const auto& url = started->authorize_url;
  ASSERT_TRUE(url.starts_with(graph_.url() + "/tenant-1/oauth2/v2.0/authorize?")) << url;
  const auto query = form_of(url.substr(url.find('?') + 1));
  EXPECT_EQ(query.at("response_type"), "code");
  EXPECT_EQ(query.at("client_id"), "client-1");
  EXPECT_EQ(query.at("code_challenge_method"), "S256");
  EXPECT_EQ(query.at("redirect_uri"), "https://fax.example.org/cb");
  EXPECT_EQ(query.at("state"), started->state);
  EXPECT_NE(query.at("scope").find("/Chat.ReadWrite"), std::string::npos);
  EXPECT_EQ(url.find(started->code_verifier), std::string::npos);  // only its hash travels
  challenge = query.at("code_challenge");
  (void)url_decode;
  auto wrong = service().finish_browser_sign_in(*started, "auth-code-2");
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("invalid_grant"), std::string::npos);
  ASSERT_TRUE(service().finish_browser_sign_in(*started, "auth-code-1"));
  EXPECT_EQ(graph_.received("GET", "/v1.0/me").size(), 1u);
  EXPECT_EQ(graph_.received("GET", "/v1.0/me")[0].authorization, "Bearer user-token-pkce");
  // Expired attempts are not redeemed.
  clock_.advance(11min);
  EXPECT_FALSE(service().finish_browser_sign_in(*started, "auth-code-1"));
}

class GraphWatchTest : public GraphTest {
 protected:
  void SetUp() override {
    GraphTest::SetUp();
    // Graph "Create subscription": Graph validates notificationUrl (and
    // lifecycleNotificationUrl) with a validationToken before answering 201.
    graph_.on("POST", "/v1.0/subscriptions", [this](const Received& r) {
      const auto body = json::parse(r.body);
      for (const char* url : {"notificationUrl", "lifecycleNotificationUrl"}) {
        const auto answer = service_->handle_webhook("token-" + std::to_string(subs_), "");
        if (answer.status != 200 || answer.body != "token-" + std::to_string(subs_) ||
            answer.content_type.rfind("text/plain", 0) != 0) {
          return Reply{
              400,
              R"({"error":{"code":"ValidationError","message":"Subscription validation request failed."}})"};
        }
        (void)url;
      }
      if (refuse_subscriptions_) {
        return Reply{
            403,
            R"({"error":{"code":"ExtensionError","message":"Operation: Create; Exception: [Status Code: Forbidden]"}})"};
      }
      const auto now = clock_.now();
      // "Get change notifications for presence updates in Microsoft Teams": "A single user can
      // create one presence subscription per unique application with a maximum expiration
      // time of an hour." (the exact error code of a second one is to be confirmed live).
      const std::string resource = body.at("resource");
      for (const auto& [id, live] : live_) {
        if (resource.starts_with("/communications/presences") &&
            live.resource.starts_with("/communications/presences") && live.expires > now) {
          graph_.violation("a second presence subscription beside " + id);
          return Reply{
              403,
              R"({"error":{"code":"ExtensionError","message":"Operation: Create; Exception: [Status Code: Forbidden; Reason: presence subscription limit reached]"}})"};
        }
      }
      const auto granted = grant(body.at("expirationDateTime"));
      if (!granted)
        return Reply{
            400,
            R"({"error":{"code":"InvalidRequest","message":"expirationDateTime beyond the maximum"}})"};
      const auto id = "sub-" + std::to_string(++subs_);
      client_states_[id] = body.at("clientState");
      live_[id] = {*granted, {}, body.at("resource")};
      auto out = subscription_json(id, format(*granted));
      out["resource"] = body.at("resource");
      return Reply{201, out.dump()};
    });
    // Graph "Update subscription": renewal answers the subscription with the expiry granted.
    graph_.on("PATCH", "/v1.0/subscriptions/", [this](const Received& r) {
      const auto body = json::parse(r.body);
      const auto id = r.path.substr(std::string("/v1.0/subscriptions/").size());
      const auto it = live_.find(id);
      const auto now = clock_.now();
      if (it == live_.end() || it->second.expires <= now) {
        return Reply{
            404, R"({"error":{"code":"ResourceNotFound","message":"The object was not found."}})"};
      }
      if (it->second.renewed != Timestamp{} && now - it->second.renewed < 60s) {
        graph_.violation("renewal of " + id + " less than a minute after the last");
      }
      it->second.renewed = now;
      const auto granted = grant(body.at("expirationDateTime"));
      if (!granted)
        return Reply{
            400,
            R"({"error":{"code":"InvalidRequest","message":"expirationDateTime beyond the maximum"}})"};
      it->second.expires = *granted;
      return Reply{200, subscription_json(id, format(*granted)).dump()};
    });
    // Graph "Delete subscription": 204, or 404 for one it does not have.
    graph_.on("DELETE", "/v1.0/subscriptions/", [this](const Received& r) {
      const auto id = r.path.substr(std::string("/v1.0/subscriptions/").size());
      if (live_.erase(id) == 0) {
        return Reply{
            404, R"({"error":{"code":"ResourceNotFound","message":"The object was not found."}})"};
      }
      return Reply{204, ""};
    });
    presence_route([this](const std::string& id) {
      std::lock_guard lock(mutex_);
      json p = available(id);
      if (busy_.contains(id)) p["availability"] = "Busy";
      return p;
    });
  }

  // Graph "Change notifications for presence": a notification without resource data.
  std::string change_notification(const std::string& sub, const std::string& state,
                                  const std::string& id) {
    return json{{"value", json::array({{{"subscriptionId", sub},
                                        {"clientState", state},
                                        {"changeType", "updated"},
                                        {"resource", "communications/presences('" + id + "')"},
                                        {"subscriptionExpirationDateTime", "2025-03-10T10:00:00Z"},
                                        {"resourceData",
                                         {{"@odata.type", "#Microsoft.Graph.presence"},
                                          {"@odata.id", "communications/presences('" + id + "')"},
                                          {"id", id}}},
                                        {"tenantId", "tenant-1"}}})}}
        .dump();
  }

  // Graph "Get change notifications for messages": the basic notification of a new message in
  // alice's chat, for subscription `sub`.
  std::string new_message_notification(const std::string& sub, const std::string& message_id) {
    return json{{"value", json::array({{{"subscriptionId", sub},
                                        {"clientState", client_states_[sub]},
                                        {"changeType", "created"},
                                        {"resource",
                                         "chats('19:alice_fax@unq.gbl.spaces')/"
                                         "messages('" +
                                             message_id + "')"},
                                        {"tenantId", "tenant-1"}}})}}
        .dump();
  }

  // Graph "Reduce missing subscriptions and change notifications": a lifecycle notification.
  std::string lifecycle(const std::string& sub, const std::string& event) {
    return json{{"value", json::array({{{"subscriptionId", sub},
                                        {"subscriptionExpirationDateTime", "2025-03-10T10:00:00Z"},
                                        {"tenantId", "tenant-1"},
                                        {"clientState", client_states_[sub]},
                                        {"lifecycleEvent", event}}})}}
        .dump();
  }

  void watch_alice_and_bob() {
    service().watch({"alice@contoso.com", "bob@contoso.com"},
                    [this](const std::string& user, const Presence& p) {
                      std::lock_guard lock(mutex_);
                      events_.emplace_back(user, p);
                    });
  }

  std::size_t reads() {
    return graph_.received("POST", "/v1.0/communications/getPresencesByUserId").size();
  }

  // The expiry Graph grants for one asked for: at most an hour ahead (more is refused), and no
  // more than grant_ when a test makes Graph grant less.
  std::optional<Timestamp> grant(const std::string& asked) {
    const auto now = clock_.now();
    std::tm tm{};
    if (!strptime(asked.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return std::nullopt;
    const Timestamp at(std::chrono::seconds(::timegm(&tm)));
    if (at > now + 60min) {
      graph_.violation("expirationDateTime " + asked + " more than an hour ahead");
      return std::nullopt;
    }
    return std::min(at, now + grant_);
  }
  static std::string format(Timestamp t) {
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch());
    const std::time_t tt = secs.count();
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
  }
  struct Live {
    Timestamp expires{};
    Timestamp renewed{};
    std::string resource;
  };
  std::map<std::string, Live> live_;  // survives a restart of the service, as Graph's would
  std::chrono::minutes grant_{60};

  int subs_ = 0;
  bool refuse_subscriptions_ = false;
  std::map<std::string, std::string> client_states_;
  std::set<std::string> busy_;
  std::set<std::string> office_;
  std::vector<std::pair<std::string, Presence>> events_;
};

TEST_F(GraphWatchTest, SubscriptionCreatedWithValidationAndRenewedBeforeExpiry) {
  sign_in();
  watch_alice_and_bob();
  service().run_once();
  const auto created = graph_.received("POST", "/v1.0/subscriptions");
  ASSERT_EQ(created.size(), 1u);
  const auto body = json::parse(created[0].body);
  EXPECT_EQ(body.at("resource"), "/communications/presences?$filter=id in ('alice-id','bob-id')");
  EXPECT_EQ(body.at("notificationUrl"), "https://fax.example.org/api/v1/webhooks/graph/teams");
  EXPECT_EQ(body.at("changeType"), "updated");
  EXPECT_EQ(body.at("expirationDateTime"), "2025-03-10T09:55:00Z");  // below the hour allowed
  EXPECT_GE(body.at("clientState").get<std::string>().size(), 32u);
  EXPECT_EQ(created[0].authorization, "Bearer user-token-0");  // presence subscriptions: delegated
  EXPECT_EQ(service().webhook_path(), "/api/v1/webhooks/graph/teams");
  // Covered by the subscription, so the first read is not a poll of everyone... but the initial
  // state is still read once, and both users are reported.
  clock_.advance(36min);
  service().run_once();
  EXPECT_TRUE(graph_.received("PATCH", "/v1.0/subscriptions/").empty());
  clock_.advance(1min);  // two thirds of the 55 minutes granted: renew
  service().run_once();
  const auto renewed = graph_.received("PATCH", "/v1.0/subscriptions/");
  ASSERT_EQ(renewed.size(), 1u);
  EXPECT_EQ(renewed[0].path, "/v1.0/subscriptions/sub-1");
  EXPECT_EQ(json::parse(renewed[0].body).at("expirationDateTime"), "2025-03-10T10:32:00Z");
  EXPECT_TRUE(graph_.violations().empty()) << graph_.violations().front();
}

TEST_F(GraphWatchTest, NotificationWithClientStateTriggersARead) {
  sign_in();
  watch_alice_and_bob();
  service().run_once();
  const auto initial = reads();
  {
    std::lock_guard lock(mutex_);
    busy_.insert("bob-id");
    events_.clear();
  }
  auto answer =
      service().handle_webhook("", change_notification("sub-1", client_states_["sub-1"], "bob-id"));
  EXPECT_EQ(answer.status, 202);
  service().run_once();
  EXPECT_EQ(reads(), initial + 1);
  const auto last = graph_.received("POST", "/v1.0/communications/getPresencesByUserId").back();
  EXPECT_EQ(json::parse(last.body).at("ids"), json::array({"bob-id"}));
  std::lock_guard lock(mutex_);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].first, "bob@contoso.com");
  EXPECT_EQ(events_[0].second.availability, Availability::busy);
}

TEST_F(GraphWatchTest, ClientStateMismatchIsRefused) {
  sign_in();
  watch_alice_and_bob();
  service().run_once();
  const auto initial = reads();
  auto forged = service().handle_webhook("", change_notification("sub-1", "guessed", "bob-id"));
  EXPECT_EQ(forged.status, 403);
  // A subscription atdesk does not hold: accepted and dropped, or Graph retries it for hours
  // ("Set up notifications for changes in resource data": a non-2xx answer is a failed
  // delivery).
  auto unknown =
      service().handle_webhook("", change_notification("sub-9", client_states_["sub-1"], "bob-id"));
  EXPECT_EQ(unknown.status, 202);
  EXPECT_EQ(service().handle_webhook("", "not json").status, 400);
  service().run_once();
  EXPECT_EQ(reads(), initial);
}

TEST_F(GraphWatchTest, ValidationTokenIsEchoedAsPlainText) {
  auto answer = service().handle_webhook("Validation: Testing client application reachability", "");
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(answer.content_type, "text/plain");
  EXPECT_EQ(answer.body, "Validation: Testing client application reachability");
}

TEST_F(GraphWatchTest, LifecycleEvents) {
  sign_in();
  watch_alice_and_bob();
  service().run_once();
  ASSERT_EQ(subs_, 1);
  // reauthorizationRequired: renewed at once, long before its expiry.
  EXPECT_EQ(service().handle_webhook("", lifecycle("sub-1", "reauthorizationRequired")).status,
            202);
  service().run_once();
  ASSERT_EQ(graph_.received("PATCH", "/v1.0/subscriptions/").size(), 1u);
  // missed: everyone the subscription covers is read again.
  const auto before = reads();
  EXPECT_EQ(service().handle_webhook("", lifecycle("sub-1", "missed")).status, 202);
  service().run_once();
  ASSERT_EQ(reads(), before + 1);
  EXPECT_EQ(
      json::parse(graph_.received("POST", "/v1.0/communications/getPresencesByUserId").back().body)
          .at("ids")
          .size(),
      2u);
  // "Reduce missing subscriptions and change notifications": subscriptionRemoved and missed are
  // sent for Outlook and Teams messages only, never for presence; the stand-in sends none (the
  // handling above is harmless), so the periodic re-read is what catches what push misses.
  EXPECT_EQ(subs_, 1);
  EXPECT_TRUE(graph_.violations().empty()) << graph_.violations().front();
}

TEST_F(GraphWatchTest, PollsWhileNoSubscriptionWorksAndRecovers) {
  sign_in();
  refuse_subscriptions_ = true;
  watch_alice_and_bob();
  service().run_once();
  EXPECT_EQ(subs_, 0);
  EXPECT_EQ(reads(), 1u);
  {
    std::lock_guard lock(mutex_);
    EXPECT_EQ(events_.size(), 2u);  // the initial state of both
    events_.clear();
    busy_.insert("alice-id");
  }
  service().run_once();  // not yet due
  EXPECT_EQ(reads(), 1u);
  clock_.advance(61s);
  service().run_once();
  EXPECT_EQ(reads(), 2u);
  {
    std::lock_guard lock(mutex_);
    ASSERT_EQ(events_.size(), 1u);
    EXPECT_EQ(events_[0].first, "alice@contoso.com");
    EXPECT_EQ(events_[0].second.availability, Availability::busy);
  }
  // Graph accepts subscriptions again: atdesk tries again by itself once per poll interval.
  refuse_subscriptions_ = false;
  service().run_once();  // the next attempt is not due yet
  EXPECT_EQ(subs_, 0);
  clock_.advance(61s);
  service().run_once();
  EXPECT_EQ(subs_, 1);
  // Covered again: no more polling.
  const auto polled = reads();
  clock_.advance(61s);
  service().run_once();
  EXPECT_EQ(reads(), polled);
}

TEST_F(GraphWatchTest, ChangeWhoseReadFailedIsReadAgain) {
  sign_in();
  watch_alice_and_bob();
  service().run_once();
  {
    std::lock_guard lock(mutex_);
    events_.clear();
    busy_.insert("alice-id");
  }
  // Graph "Microsoft Graph error responses" (https://learn.microsoft.com/graph/errors): 500.
  graph_.on("POST", "/v1.0/communications/getPresencesByUserId", [](const Received&) {
    return Reply{500, R"({"error":{"code":"generalException","message":"General exception."}})"};
  });
  ASSERT_EQ(
      service()
          .handle_webhook("", change_notification("sub-1", client_states_["sub-1"], "alice-id"))
          .status,
      202);
  service().run_once();
  {
    std::lock_guard lock(mutex_);
    EXPECT_TRUE(events_.empty());
  }
  presence_route([this](const std::string& id) {
    std::lock_guard lock(mutex_);
    json p = available(id);
    if (busy_.contains(id)) p["availability"] = "Busy";
    return p;
  });
  const auto before = reads();
  service().run_once();  // no new notification: the failed read is retried
  EXPECT_EQ(reads(), before + 1);
  std::lock_guard lock(mutex_);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].first, "alice@contoso.com");
  EXPECT_EQ(events_[0].second.availability, Availability::busy);
}

// A job decision that could not get presence leaves the job held by policy; the engine decides
// it again only on a reported presence, so everyone watched is reported once Graph answers, even
// if unchanged.
TEST_F(GraphWatchTest, FailedDecisionReportsEveryoneAgainOnceGraphAnswers) {
  sign_in();
  watch_alice_and_bob();
  service().run_once();
  {
    std::lock_guard lock(mutex_);
    ASSERT_EQ(events_.size(), 2u);
    events_.clear();
  }
  graph_.on("POST", "/v1.0/communications/getPresencesByUserId", [](const Received&) {
    return Reply{500, R"({"error":{"code":"generalException","message":"General exception."}})"};
  });
  EXPECT_FALSE(service().presence(kAlice));
  presence_route(available);
  service().run_once();
  std::lock_guard lock(mutex_);
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(events_[0].second.availability, Availability::available);
  EXPECT_EQ(events_[1].second.availability, Availability::available);
}

TEST_F(GraphWatchTest, NoPublicUrlMeansPollingOnly) {
  settings_.public_url.clear();
  sign_in();
  watch_alice_and_bob();
  service().run_once();
  EXPECT_TRUE(graph_.received("POST", "/v1.0/subscriptions").empty());
  EXPECT_EQ(reads(), 1u);
}

// Graph keeps a subscription after atdeskd stops: the stored one is reused, and one for a
// different set of users is deleted before the new one is made (one per user and app).
TEST_F(GraphWatchTest, RestartReusesTheStoredSubscriptionOrDeletesIt) {
  sign_in();
  watch_alice_and_bob();
  service().run_once();
  ASSERT_EQ(subs_, 1);
  const auto state = client_states_["sub-1"];
  // The engine detaches on stop (watch with no handler): the subscription stays for the next
  // start.
  service().watch({}, {});
  service().run_once();
  EXPECT_TRUE(graph_.received("DELETE", "/v1.0/subscriptions/").empty());
  service_.reset();
  watch_alice_and_bob();
  service().run_once();
  EXPECT_EQ(subs_, 1);  // reused: no second subscription
  EXPECT_TRUE(graph_.received("DELETE", "/v1.0/subscriptions/").empty());
  {
    std::lock_guard lock(mutex_);
    busy_.insert("bob-id");
    events_.clear();
  }
  EXPECT_EQ(service().handle_webhook("", change_notification("sub-1", state, "bob-id")).status,
            202);
  service().run_once();
  {
    std::lock_guard lock(mutex_);
    ASSERT_EQ(events_.size(), 1u);
    EXPECT_EQ(events_[0].second.availability, Availability::busy);
  }
  // Renewal continues from the stored expiry: 2/3 of 60 min after it was made.
  clock_.advance(41min);
  service().run_once();
  ASSERT_EQ(graph_.received("PATCH", "/v1.0/subscriptions/").size(), 1u);
  // Restart watching alice only: sub-1 is deleted first, then sub-2 made.
  service_.reset();
  service().watch(kAlice, [](const std::string&, const Presence&) {});
  service().run_once();
  const auto deleted = graph_.received("DELETE", "/v1.0/subscriptions/");
  ASSERT_EQ(deleted.size(), 1u);
  EXPECT_EQ(deleted[0].path, "/v1.0/subscriptions/sub-1");
  EXPECT_EQ(subs_, 2);
  EXPECT_LT(deleted[0].at, graph_.received("POST", "/v1.0/subscriptions").back().at);
  EXPECT_EQ(service().handle_webhook("", change_notification("sub-1", state, "bob-id")).status,
            202);  // the old one's late notification: dropped
  EXPECT_TRUE(graph_.violations().empty()) << graph_.violations().front();
}

// Several atdeskd nodes share one database, so one vault: only the primary (the holder of the
// lease "chat:teams") keeps the presence subscription and polls. The stand-in enforces Graph's
// rules this relies on: one presence subscription per user and application ("Get change
// notifications for presence updates in Microsoft Teams"), renewal by PATCH of the same id
// ("Update subscription"), and 404 for an id Graph does not have ("Update subscription",
// "Delete subscription"; Graph "error responses").
class GraphNodesTest : public GraphWatchTest {
 protected:
  // The second node: the same settings (key file) on the same TableStore, as a standby.
  GraphChatService& standby() {
    if (!standby_) {
      standby_ = std::make_unique<GraphChatService>(settings_, tables_, clock_);
      standby_->set_primary(false);
      standby_->watch({"alice@contoso.com", "bob@contoso.com"},
                      [this](const std::string& user, const Presence& p) {
                        std::lock_guard lock(mutex_);
                        standby_events_.emplace_back(user, p);
                      });
    }
    return *standby_;
  }
  std::size_t renewals(const std::string& id) {
    std::size_t n = 0;
    for (const auto& r : graph_.received("PATCH", "/v1.0/subscriptions/")) {
      if (r.path == "/v1.0/subscriptions/" + id) ++n;
    }
    return n;
  }
  void TearDown() override {
    standby_.reset();
    GraphWatchTest::TearDown();
  }

  std::unique_ptr<GraphChatService> standby_;
  std::vector<std::pair<std::string, Presence>> standby_events_;
};

TEST_F(GraphNodesTest, OneSubscriptionForTwoNodesAndNotificationsAcceptedByEither) {
  sign_in();
  standby().run_once();  // the standby starts first: it makes no subscription
  EXPECT_TRUE(graph_.received("POST", "/v1.0/subscriptions").empty());
  watch_alice_and_bob();
  service().run_once();
  standby().run_once();
  ASSERT_EQ(subs_, 1);
  EXPECT_EQ(live_.size(), 1u);
  // A notification that the load balancer hands to the standby: it reads the subscription the
  // primary stored and accepts it; its presence handler sees the change.
  {
    std::lock_guard lock(mutex_);
    busy_.insert("bob-id");
    standby_events_.clear();
  }
  EXPECT_EQ(standby()
                .handle_webhook("", change_notification("sub-1", client_states_["sub-1"], "bob-id"))
                .status,
            202);
  standby().run_once();
  {
    std::lock_guard lock(mutex_);
    ASSERT_EQ(standby_events_.size(), 1u);
    EXPECT_EQ(standby_events_[0].first, "bob@contoso.com");
    EXPECT_EQ(standby_events_[0].second.availability, Availability::busy);
  }
  // The clientState still authenticates on the standby.
  EXPECT_EQ(standby().handle_webhook("", change_notification("sub-1", "guessed", "bob-id")).status,
            403);
  // Only the primary polls: past the poll and re-read intervals, the standby reads nothing.
  clock_.advance(6min);
  const auto before = reads();
  standby().run_once();
  EXPECT_EQ(reads(), before);
  service().run_once();
  EXPECT_EQ(reads(), before + 1);  // the primary's periodic re-read of everyone
  EXPECT_EQ(subs_, 1);
  EXPECT_TRUE(graph_.received("PATCH", "/v1.0/subscriptions/").empty());
  EXPECT_TRUE(graph_.violations().empty()) << graph_.violations().front();
}

TEST_F(GraphNodesTest, NewPrimaryRenewsTheSameSubscriptionAndTheOldOneStops) {
  sign_in();
  watch_alice_and_bob();
  service().run_once();
  standby().run_once();
  ASSERT_EQ(subs_, 1);
  // The lease moves (the primary's node lost it, the other took it).
  clock_.advance(2min);
  service().set_primary(false);
  standby().set_primary(true);
  service().run_once();
  EXPECT_EQ(renewals("sub-1"), 0u);
  const auto before = reads();
  standby().run_once();
  // Renewed at once (more than min_renew_interval after its last renewal), not made anew.
  EXPECT_EQ(renewals("sub-1"), 1u);
  EXPECT_EQ(subs_, 1);
  // The new primary read everyone again (changes may have gone unseen during the takeover).
  ASSERT_EQ(reads(), before + 1);
  EXPECT_EQ(
      json::parse(graph_.received("POST", "/v1.0/communications/getPresencesByUserId").back().body)
          .at("ids")
          .size(),
      2u);
  // Its renewal is what is stored: due at two thirds of the 55 minutes; the old primary, now a
  // standby, does not renew.
  clock_.advance(37min);
  service().run_once();
  EXPECT_EQ(renewals("sub-1"), 1u);
  standby().run_once();
  EXPECT_EQ(renewals("sub-1"), 2u);
  // The old primary accepts the subscription's notifications as a standby.
  {
    std::lock_guard lock(mutex_);
    busy_.insert("alice-id");
    events_.clear();
  }
  EXPECT_EQ(
      service()
          .handle_webhook("", change_notification("sub-1", client_states_["sub-1"], "alice-id"))
          .status,
      202);
  service().run_once();
  {
    std::lock_guard lock(mutex_);
    ASSERT_EQ(events_.size(), 1u);
    EXPECT_EQ(events_[0].second.availability, Availability::busy);
  }
  EXPECT_EQ(subs_, 1);
  EXPECT_EQ(live_.size(), 1u);
  EXPECT_TRUE(graph_.violations().empty()) << graph_.violations().front();
}

TEST_F(GraphNodesTest, NewPrimaryMakesOneWhenGraphNoLongerHasTheStoredOne) {
  sign_in();
  watch_alice_and_bob();
  service().run_once();
  standby().run_once();
  ASSERT_EQ(subs_, 1);
  live_.erase("sub-1");  // Graph removed it (the stand-in answers 404 for it from now on)
  clock_.advance(2min);
  service().set_primary(false);
  standby().set_primary(true);
  standby().run_once();  // PATCH: 404
  standby().run_once();  // made anew
  EXPECT_EQ(subs_, 2);
  EXPECT_EQ(live_.size(), 1u);
  EXPECT_TRUE(live_.contains("sub-2"));
  // The old primary, now a standby, holds sub-1 in memory: it reads the vault for sub-2's
  // notification and accepts it.
  {
    std::lock_guard lock(mutex_);
    busy_.insert("bob-id");
    events_.clear();
  }
  EXPECT_EQ(service()
                .handle_webhook("", change_notification("sub-2", client_states_["sub-2"], "bob-id"))
                .status,
            202);
  service().run_once();
  {
    std::lock_guard lock(mutex_);
    ASSERT_EQ(events_.size(), 1u);
    EXPECT_EQ(events_[0].first, "bob@contoso.com");
  }
  EXPECT_EQ(subs_, 2);
  EXPECT_TRUE(graph_.violations().empty()) << graph_.violations().front();
}

// reauthorizationRequired reaching a standby is handed to the primary through the vault: the
// primary renews (reauthorizes) the subscription; the standby sends nothing to Graph.
TEST_F(GraphNodesTest, LifecycleEventOnAStandbyIsDoneByThePrimary) {
  sign_in();
  watch_alice_and_bob();
  service().run_once();
  standby().run_once();
  ASSERT_EQ(subs_, 1);
  EXPECT_EQ(standby().handle_webhook("", lifecycle("sub-1", "reauthorizationRequired")).status,
            202);
  standby().run_once();
  EXPECT_EQ(renewals("sub-1"), 0u);
  clock_.advance(11s);  // the primary looks for handed-over events every 10 s
  service().run_once();
  EXPECT_EQ(renewals("sub-1"), 1u);
  clock_.advance(11s);
  service().run_once();  // handled once
  EXPECT_EQ(renewals("sub-1"), 1u);
  // missed: the standby reads everyone the subscription covers itself.
  const auto before = reads();
  EXPECT_EQ(standby().handle_webhook("", lifecycle("sub-1", "missed")).status, 202);
  standby().run_once();
  EXPECT_EQ(reads(), before + 1);
  EXPECT_EQ(subs_, 1);
  EXPECT_TRUE(graph_.violations().empty()) << graph_.violations().front();
}

// Replies with several nodes: the primary alone subscribes to chats and reads replies, so each
// reply is one command. A notice sent by the standby makes its chat known to the primary (the
// shared "graph.chats" rows, merged every 10 s); a reply notification that reaches the standby
// is handed to the primary, which reads the chat.
TEST_F(GraphNodesTest, ReplyNotificationOnAStandbyBecomesOneCommandOnThePrimary) {
  sign_in();
  graph_.on("POST", "/v1.0/chats", [](const Received&) {
    return Reply{201, R"({"id":"19:alice_fax@unq.gbl.spaces","chatType":"oneOnOne"})"};
  });
  graph_.on("POST", "/v1.0/chats/", [](const Received&) {
    return Reply{201,
                 R"({"id":"1","messageType":"message","createdDateTime":"2025-03-10T09:00:00Z"})"};
  });
  json replies = json::array();
  graph_.on("GET", "/v1.0/chats/", [&](const Received&) {
    std::lock_guard lock(mutex_);
    return Reply{200, json{{"value", replies}}.dump()};
  });
  std::vector<ChatCommand> on_primary, on_standby;
  service().on_command([&](const ChatCommand& c) { on_primary.push_back(c); });
  standby().on_command([&](const ChatCommand& c) { on_standby.push_back(c); });
  service().run_once();
  // The standby sends the notice (its engine decided the job) and subscribes to nothing.
  ASSERT_TRUE(
      standby().send({RecipientKind::user, "teams", "alice@contoso.com"}, {"held", "job-1", {}}));
  standby().run_once();
  EXPECT_TRUE(graph_.received("POST", "/v1.0/subscriptions").empty());
  EXPECT_TRUE(graph_.received("GET", "/v1.0/chats/").empty());
  clock_.advance(11s);
  service().run_once();  // the primary finds the chat and subscribes to it
  const auto created = graph_.received("POST", "/v1.0/subscriptions");
  ASSERT_EQ(created.size(), 1u);
  EXPECT_EQ(json::parse(created[0].body).at("resource"),
            "/chats/19:alice_fax@unq.gbl.spaces/messages");
  const auto reads_before = graph_.received("GET", "/v1.0/chats/").size();
  {
    std::lock_guard lock(mutex_);
    replies.push_back(chat_message("2", "2025-03-10T09:05:00.123Z", "<p>print</p>"));
  }
  // Delivered to the standby.
  EXPECT_EQ(standby().handle_webhook("", new_message_notification("sub-1", "2")).status, 202);
  standby().run_once();
  EXPECT_EQ(graph_.received("GET", "/v1.0/chats/").size(), reads_before);  // not the standby
  service().run_once();
  EXPECT_EQ(graph_.received("GET", "/v1.0/chats/").size(), reads_before + 1);
  ASSERT_EQ(on_primary.size(), 1u);
  EXPECT_EQ(on_primary[0].text, "print");
  EXPECT_TRUE(on_standby.empty());
  // Handed over once: read once.
  service().run_once();
  EXPECT_EQ(graph_.received("GET", "/v1.0/chats/").size(), reads_before + 1);
  EXPECT_EQ(on_primary.size(), 1u);
  // reauthorizationRequired for the chat's subscription, received by the standby: the primary
  // renews it (and reads the chat once more, which finds nothing new).
  EXPECT_EQ(renewals("sub-1"), 0u);
  EXPECT_EQ(standby().handle_webhook("", lifecycle("sub-1", "reauthorizationRequired")).status,
            202);
  standby().run_once();
  EXPECT_EQ(renewals("sub-1"), 0u);
  service().run_once();
  EXPECT_EQ(renewals("sub-1"), 1u);
  EXPECT_EQ(on_primary.size(), 1u);
  EXPECT_TRUE(on_standby.empty());
  EXPECT_TRUE(graph_.violations().empty()) << graph_.violations().front();
}

// Graph may grant less than asked: renewal comes at two thirds of the grant, never more often
// than min_renew_interval, and a failed renewal never makes a second subscription.
TEST_F(GraphWatchTest, ShortGrantsAreRenewedAtTwoThirdsNotInALoop) {
  grant_ = 5min;
  sign_in();
  watch_alice_and_bob();
  service().run_once();
  for (int i = 0; i < 180; ++i) {  // 30 minutes in 10-second rounds
    clock_.advance(10s);
    service().run_once();
  }
  const auto patches = graph_.received("PATCH", "/v1.0/subscriptions/").size();
  EXPECT_GE(patches, 8u);  // every 200 s
  EXPECT_LE(patches, 10u);
  EXPECT_EQ(subs_, 1);
  // Renewals fail (Graph 503): tried again after the minimum interval, no new subscription.
  // Graph "Microsoft Graph error responses": 500 generalException.
  graph_.on("PATCH", "/v1.0/subscriptions/", [](const Received&) {
    return Reply{500, R"({"error":{"code":"generalException","message":"General exception."}})"};
  });
  const auto before = graph_.received("PATCH", "/v1.0/subscriptions/").size();
  for (int i = 0; i < 12; ++i) {  // two minutes
    clock_.advance(10s);
    service().run_once();
  }
  EXPECT_LE(graph_.received("PATCH", "/v1.0/subscriptions/").size() - before, 3u);
  EXPECT_EQ(subs_, 1);
  EXPECT_TRUE(graph_.violations().empty()) << graph_.violations().front();
}

// One subscription covers at most subscription_batch users; the others are polled.
TEST_F(GraphWatchTest, UsersBeyondTheSubscriptionArePolled) {
  settings_.subscription_batch = 1;
  sign_in();
  watch_alice_and_bob();
  service().run_once();
  ASSERT_EQ(subs_, 1);
  EXPECT_EQ(json::parse(graph_.received("POST", "/v1.0/subscriptions")[0].body).at("resource"),
            "/communications/presences?$filter=id in ('alice-id')");
  const auto initial = reads();
  clock_.advance(61s);
  service().run_once();
  ASSERT_EQ(reads(), initial + 1);
  EXPECT_EQ(
      json::parse(graph_.received("POST", "/v1.0/communications/getPresencesByUserId").back().body)
          .at("ids"),
      json::array({"bob-id"}));
  EXPECT_TRUE(graph_.violations().empty()) << graph_.violations().front();
}

// "Get change notifications for presence updates": notifications follow availability and
// activity; a move from remote to office with the same availability is never pushed, so
// everyone watched is re-read every reread_interval. Worst case: reread_interval.
TEST_F(GraphWatchTest, WorkLocationChangeIsFoundByThePeriodicReRead) {
  presence_route([this](const std::string& id) {
    std::lock_guard lock(mutex_);
    json p = available(id);
    p["workLocation"] = {{"workLocationType", office_.contains(id) ? "office" : "remote"}};
    return p;
  });
  sign_in();
  watch_alice_and_bob();
  service().run_once();
  {
    std::lock_guard lock(mutex_);
    ASSERT_EQ(events_.size(), 2u);
    EXPECT_EQ(events_[0].second.location, WorkLocation::remote);
    events_.clear();
    office_.insert("alice-id");  // no notification: the stand-in pushes availability only
  }
  clock_.advance(settings_.reread_interval - 1s);
  service().run_once();
  {
    std::lock_guard lock(mutex_);
    EXPECT_TRUE(events_.empty());
  }
  clock_.advance(1s);
  service().run_once();
  std::lock_guard lock(mutex_);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].first, "alice@contoso.com");
  EXPECT_EQ(events_[0].second.location, WorkLocation::office);
}

// 1,000 users: 650 pushed by one subscription, 350 polled; the presence reads stay within
// "getPresencesByUserId": at most 650 ids a request, 1,500 requests in 30 seconds.
TEST_F(GraphWatchTest, AThousandWatchedUsersStayWithinThePresenceLimits) {
  graph_.limit({"POST", "/v1.0/communications/getPresencesByUserId", "", 1500, 30s,
                "cloudcommunications-getpresencesbyuserid: 1500 requests in 30 s per app and "
                "tenant"});
  presence_route([this](const std::string& id) { return available(id); });
  graph_.on("POST", "/v1.0/communications/getPresencesByUserId", [this](const Received& r) {
    const auto ids = json::parse(r.body).at("ids");
    if (ids.size() > 650) {
      graph_.violation("getPresencesByUserId with " + std::to_string(ids.size()) + " ids");
      return Reply{400, R"({"error":{"code":"BadRequest","message":"Too many ids"}})"};
    }
    json out{{"value", json::array()}};
    for (const auto& id : ids) out["value"].push_back(available(id.get<std::string>()));
    return Reply{200, out.dump()};
  });
  std::vector<std::string> users;
  for (int i = 0; i < 1000; ++i) {
    // Object ids are used as they are (no directory lookup).
    char id[40];
    std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", i);
    users.push_back(id);
  }
  sign_in();
  std::atomic<int> reported{0};
  service().watch(users, [&](const std::string&, const Presence&) { ++reported; });
  service().run_once();
  EXPECT_EQ(reported.load(), 1000);
  ASSERT_EQ(subs_, 1);
  EXPECT_EQ(reads(), 2u);         // 650 + 350
  for (int i = 0; i < 60; ++i) {  // ten minutes in 10-second rounds
    clock_.advance(10s);
    service().run_once();
  }
  // Polls of the 350 uncovered once a minute (8 alone) and two re-reads of all that the polls
  // at 5 and 10 minutes join (2 x 2).
  EXPECT_EQ(reads(), 2u + 8u + 4u);
  EXPECT_TRUE(graph_.received("GET", "/v1.0/users").empty());
  EXPECT_TRUE(graph_.violations().empty()) << graph_.violations().front();
}

// Throttling is per workload ("Microsoft Graph service-specific throttling limits"): a 429
// storm on chat messages leaves presence reads, and so job decisions, untouched.
TEST_F(GraphWatchTest, ChatMessageThrottlingDoesNotBlockPresence) {
  sign_in();
  graph_.on("POST", "/v1.0/chats", [](const Received&) {
    return Reply{201, R"({"id":"19:alice_fax@unq.gbl.spaces","chatType":"oneOnOne"})"};
  });
  graph_.on("POST", "/v1.0/chats/", [](const Received&) {
    return Reply{429,
                 R"({"error":{"code":"TooManyRequests","message":"Too many requests."}})",
                 {{"Retry-After", "30"}}};
  });
  auto sent = service().send({RecipientKind::user, "teams", "alice@contoso.com"}, {"n", "", {}});
  ASSERT_FALSE(sent);
  const auto started = std::chrono::steady_clock::now();
  auto p = service().presence(kAlice);
  ASSERT_TRUE(p) << p.error().describe();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  // And the chat workload itself waits its Retry-After rather than hammering.
  ASSERT_FALSE(service().send({RecipientKind::user, "teams", "alice@contoso.com"}, {"n", "", {}}));
  EXPECT_EQ(graph_.received("POST", "/v1.0/chats/").size(), 1u);
}

// Teams polling requirements ("Use the Microsoft Graph API to work with Microsoft Teams",
// polling requirements) and "Get change notifications for messages in Teams channels and
// chats": replies come by a subscription on /chats/{id}/messages while the chat had a notice in
// the last reply_window; the chat is read when notified, not polled; after the window it is
// unsubscribed and left alone.
TEST_F(GraphWatchTest, RepliesArePushedWhileTheChatIsActive) {
  sign_in();
  graph_.on("POST", "/v1.0/chats", [](const Received&) {
    return Reply{201, R"({"id":"19:alice_fax@unq.gbl.spaces","chatType":"oneOnOne"})"};
  });
  graph_.on("POST", "/v1.0/chats/", [](const Received&) {
    return Reply{201,
                 R"({"id":"1","messageType":"message","createdDateTime":"2025-03-10T09:00:00Z"})"};
  });
  json replies = json::array();
  graph_.on("GET", "/v1.0/chats/", [&](const Received&) {
    std::lock_guard lock(mutex_);
    return Reply{200, json{{"value", replies}}.dump()};
  });
  std::vector<ChatCommand> commands;
  service().on_command([&](const ChatCommand& c) { commands.push_back(c); });
  ASSERT_TRUE(
      service().send({RecipientKind::user, "teams", "alice@contoso.com"}, {"held", "job-1", {}}));
  service().run_once();
  const auto created = graph_.received("POST", "/v1.0/subscriptions");
  ASSERT_EQ(created.size(), 1u);
  const auto body = json::parse(created[0].body);
  EXPECT_EQ(body.at("resource"), "/chats/19:alice_fax@unq.gbl.spaces/messages");
  EXPECT_EQ(body.at("changeType"), "created");
  EXPECT_EQ(graph_.received("GET", "/v1.0/chats/").size(), 1u);  // what came before it
  for (int i = 0; i < 60; ++i) {  // ten minutes: no polling while subscribed
    clock_.advance(10s);
    service().run_once();
  }
  EXPECT_EQ(graph_.received("GET", "/v1.0/chats/").size(), 1u);
  {
    std::lock_guard lock(mutex_);
    replies.push_back(chat_message("2", "2025-03-10T09:05:00.123Z", "<p>print</p>"));
  }
  EXPECT_EQ(service().handle_webhook("", new_message_notification("sub-1", "2")).status, 202);
  service().run_once();
  EXPECT_EQ(graph_.received("GET", "/v1.0/chats/").size(), 2u);
  ASSERT_EQ(commands.size(), 1u);
  EXPECT_EQ(commands[0].text, "print");
  // A day without notices: unsubscribed, and not polled any more.
  for (int i = 0; i < 25; ++i) {
    clock_.advance(1h);
    service().run_once();
  }
  ASSERT_EQ(graph_.received("DELETE", "/v1.0/subscriptions/").size(), 1u);
  const auto reads = graph_.received("GET", "/v1.0/chats/").size();
  for (int i = 0; i < 10; ++i) {
    clock_.advance(61s);
    service().run_once();
  }
  EXPECT_EQ(graph_.received("GET", "/v1.0/chats/").size(), reads);
  EXPECT_TRUE(graph_.violations().empty()) << graph_.violations().front();
}

// Without a subscription (Graph refuses it), the chat is polled once per poll_interval while it
// is active, and not at all afterwards.
TEST_F(GraphWatchTest, RepliesArePolledOnlyAsABoundedFallback) {
  refuse_subscriptions_ = true;
  sign_in();
  graph_.on("POST", "/v1.0/chats", [](const Received&) {
    return Reply{201, R"({"id":"19:alice_fax@unq.gbl.spaces","chatType":"oneOnOne"})"};
  });
  graph_.on("POST", "/v1.0/chats/", [](const Received&) {
    return Reply{201,
                 R"({"id":"1","messageType":"message","createdDateTime":"2025-03-10T09:00:00Z"})"};
  });
  graph_.on("GET", "/v1.0/chats/", [](const Received&) { return Reply{200, R"({"value":[]})"}; });
  service().on_command([](const ChatCommand&) {});
  ASSERT_TRUE(
      service().send({RecipientKind::user, "teams", "alice@contoso.com"}, {"held", "job-1", {}}));
  for (int i = 0; i < 60; ++i) {  // ten minutes
    service().run_once();
    clock_.advance(10s);
  }
  const auto polls = graph_.received("GET", "/v1.0/chats/").size();
  EXPECT_GE(polls, 10u);
  EXPECT_LE(polls, 11u);
  clock_.advance(settings_.reply_window);
  for (int i = 0; i < 10; ++i) {
    service().run_once();
    clock_.advance(61s);
  }
  EXPECT_EQ(graph_.received("GET", "/v1.0/chats/").size(), polls);
}

class GraphChatTest : public GraphTest {
 protected:
  void SetUp() override {
    GraphTest::SetUp();
    // Graph "Create chat" (oneOnOne): 201 with the chat.
    graph_.on("POST", "/v1.0/chats", [this](const Received&) {
      ++chats_;
      return Reply{
          201,
          R"({"id":"19:alice_fax@unq.gbl.spaces","chatType":"oneOnOne","createdDateTime":"2025-03-10T09:00:00.000Z"})"};
    });
    // Graph "Send chatMessage in a channel or a chat": 201 with the message.
    graph_.on("POST", "/v1.0/chats/", [](const Received&) {
      return Reply{201, json{{"id", "1741597200000"},
                             {"messageType", "message"},
                             {"createdDateTime", "2025-03-10T09:00:00.000Z"},
                             {"from", {{"user", {{"id", "fax-id"}, {"displayName", "Fax"}}}}}}
                            .dump()};
    });
    graph_.on("POST", "/v1.0/teams/", [](const Received&) {
      return Reply{201, R"({"id":"1741597200001","messageType":"message"})"};
    });
  }
  int chats_ = 0;
};

TEST_F(GraphChatTest, SendCreatesTheChatOnceAndPostsWithHostedContent) {
  sign_in();
  ChatMessage m{"Fax from +49 30 1234 <b>3 pages</b>\nheld: busy",
                "job-1",
                {std::byte{0x89}, std::byte{'P'}, std::byte{'N'}, std::byte{'G'}}};
  const Recipient alice{RecipientKind::user, "teams", "alice@contoso.com"};
  ASSERT_TRUE(service().send(alice, m));
  ASSERT_TRUE(service().send(alice, m));
  EXPECT_EQ(chats_, 1);
  const auto create = json::parse(graph_.received("POST", "/v1.0/chats")[0].body);
  EXPECT_EQ(create.at("chatType"), "oneOnOne");
  ASSERT_EQ(create.at("members").size(), 2u);
  EXPECT_EQ(create.at("members")[0].at("user@odata.bind"),
            settings_.graph_url + "/users('fax-id')");
  EXPECT_EQ(create.at("members")[1].at("user@odata.bind"),
            settings_.graph_url + "/users('alice-id')");
  const auto posts = graph_.received("POST", "/v1.0/chats/");
  ASSERT_EQ(posts.size(), 2u);
  EXPECT_EQ(posts[0].path, "/v1.0/chats/19%3Aalice_fax%40unq.gbl.spaces/messages");
  EXPECT_EQ(posts[0].authorization, "Bearer user-token-0");
  const auto body = json::parse(posts[0].body);
  const std::string html = body.at("body").at("content");
  EXPECT_EQ(body.at("body").at("contentType"), "html");
  EXPECT_NE(html.find("&lt;b&gt;3 pages&lt;/b&gt;<br>held: busy"), std::string::npos) << html;
  EXPECT_NE(html.find("../hostedContents/1/$value"), std::string::npos);
  const auto hosted = body.at("hostedContents").at(0);
  EXPECT_EQ(hosted.at("@microsoft.graph.temporaryId"), "1");
  EXPECT_EQ(hosted.at("contentType"), "image/png");
  EXPECT_EQ(hosted.at("contentBytes"), "iVBORw==");
  // The chat id survives a restart.
  service_.reset();
  ASSERT_TRUE(service().send(alice, {"again", "", {}}));
  EXPECT_EQ(chats_, 1);
  EXPECT_FALSE(
      json::parse(graph_.received("POST", "/v1.0/chats/").back().body).contains("hostedContents"));
}

TEST_F(GraphChatTest, ChannelMessages) {
  sign_in();
  ASSERT_TRUE(service().send({RecipientKind::channel, "teams", "team-1/19:general@thread.tacv2"},
                             {"Fax for the desk", "", {}}));
  const auto posts = graph_.received("POST", "/v1.0/teams/");
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_EQ(posts[0].path, "/v1.0/teams/team-1/channels/19%3Ageneral%40thread.tacv2/messages");
  auto bad = service().send({RecipientKind::channel, "teams", "no-slash"}, {"x", "", {}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::invalid_argument);
}

TEST_F(GraphChatTest, SendWithoutServiceAccountSaysSo) {
  auto sent = service().send({RecipientKind::user, "teams", "alice@contoso.com"}, {"x", "", {}});
  ASSERT_FALSE(sent);
  EXPECT_NE(sent.error().message.find("not signed in"), std::string::npos);
}

TEST_F(GraphChatTest, RepliesBecomeCommandsOwnMessagesIgnored) {
  sign_in();
  ASSERT_TRUE(service().send({RecipientKind::user, "teams", "alice@contoso.com"}, {"n", "", {}}));
  // Graph "List messages in a chat" ($orderby=createdDateTime desc): newest first.
  graph_.on("GET", "/v1.0/chats/", [](const Received&) {
    json value = json::array();
    value.push_back(chat_message("5", "2025-03-10T09:03:00.000Z", "<p>delete&nbsp;3fa2</p>"));
    value.push_back(chat_message("4", "2025-03-10T09:02:00.000Z", "<p>print</p>", "fax-id"));
    value.push_back({{"id", "3"},
                     {"messageType", "systemEventMessage"},
                     {"createdDateTime", "2025-03-10T09:01:30.000Z"},
                     {"from", nullptr},
                     {"body", {{"contentType", "html"}, {"content", "<systemEventMessage/>"}}}});
    value.push_back(chat_message("2", "2025-03-10T09:01:00.000Z", "<p>print at lobby</p>"));
    value.push_back({{"id", "1"},
                     {"messageType", "message"},
                     {"createdDateTime", "2025-03-10T08:59:00.000Z"},
                     {"from", {{"user", {{"id", "alice-id"}}}}},
                     {"body", {{"contentType", "text"}, {"content", "old, before our notice"}}}});
    return Reply{200, json{{"value", value}}.dump()};
  });
  std::vector<ChatCommand> commands;
  service().on_command([&](const ChatCommand& c) { commands.push_back(c); });
  service().run_once();
  ASSERT_EQ(commands.size(), 2u);
  EXPECT_EQ(commands[0].text, "print at lobby");
  EXPECT_EQ(commands[0].from, "alice@contoso.com");
  EXPECT_EQ(commands[0].service, "teams");
  EXPECT_FALSE(commands[0].channel);
  EXPECT_EQ(commands[1].text, "delete 3fa2");
  const auto polls = graph_.received("GET", "/v1.0/chats/");
  ASSERT_EQ(polls.size(), 1u);
  EXPECT_NE(polls[0].target.find("$orderby=createdDateTime%20desc"), std::string::npos);
  // Seen messages are not delivered twice, not even after a restart.
  clock_.advance(61s);
  service().run_once();
  EXPECT_EQ(commands.size(), 2u);
  service_.reset();
  service().on_command([&](const ChatCommand& c) { commands.push_back(c); });
  service().run_once();
  EXPECT_EQ(commands.size(), 2u);
}

// Graph "Send chatMessage in a chat": a 504 may come after the message was posted; sending it
// again would post the notice twice, so it is not repeated.
TEST_F(GraphChatTest, PostIsNotRepeatedAfterA504) {
  sign_in();
  graph_.on("POST", "/v1.0/chats/", [](const Received&) {
    return Reply{504, R"({"error":{"code":"GatewayTimeout","message":"Gateway timeout."}})"};
  });
  auto sent = service().send({RecipientKind::user, "teams", "alice@contoso.com"}, {"n", "", {}});
  ASSERT_FALSE(sent);
  EXPECT_NE(sent.error().message.find("504"), std::string::npos) << sent.error().message;
  EXPECT_EQ(graph_.received("POST", "/v1.0/chats/").size(), 1u);
}

// "List messages in a chat" pages with @odata.nextLink; createdDateTime values differ in
// precision, so replies are ordered by parsed time; <at> mentions are not part of the command.
TEST_F(GraphChatTest, RepliesFollowNextLinkInTimeOrderWithoutMentions) {
  sign_in();
  ASSERT_TRUE(service().send({RecipientKind::user, "teams", "alice@contoso.com"}, {"n", "", {}}));
  const std::string next =
      settings_.graph_url + "/chats/19%3Aalice_fax%40unq.gbl.spaces/messages?$skiptoken=p2";
  graph_.on("GET", "/v1.0/chats/", [&](const Received& r) {
    if (r.target.find("skiptoken=p2") != std::string::npos) {
      return Reply{
          200,
          json{{"value", json::array({chat_message("3", "2025-03-10T09:01:00.5Z", "<p>second</p>"),
                                      chat_message("2", "2025-03-10T09:01:00.25Z", "<p>first</p>"),
                                      chat_message("1", "2025-03-10T08:00:00Z", "<p>old</p>")})}}
              .dump()};
    }
    return Reply{
        200, json{{"value", json::array({chat_message("4", "2025-03-10T09:01:00.9999999Z",
                                                      "<p><at id=\"0\">Fax desk</at>&nbsp;print "
                                                      "at lobby</p>")})},
                  {"@odata.nextLink", next}}
                 .dump()};
  });
  std::vector<ChatCommand> commands;
  service().on_command([&](const ChatCommand& c) { commands.push_back(c); });
  service().run_once();
  ASSERT_EQ(commands.size(), 3u);
  EXPECT_EQ(commands[0].text, "first");
  EXPECT_EQ(commands[1].text, "second");
  EXPECT_EQ(commands[2].text, "print at lobby");
  EXPECT_EQ(graph_.received("GET", "/v1.0/chats/").size(), 2u);
}

// "Get user" takes an id or userPrincipalName; a mail address that is not the UPN is found with
// "List users" $filter=mail eq '...'.
TEST_F(GraphTest, UserWhoseMailIsNotTheUpnIsFoundByMail) {
  graph_.on("GET", "/v1.0/users", [](const Received& r) {
    if (r.target.find("mail%20eq%20%27carol%40contoso.com%27") != std::string::npos) {
      return Reply{200, json{{"value", json::array({{{"id", "carol-id"},
                                                     {"userPrincipalName", "c.smith@contoso.com"},
                                                     {"mail", "carol@contoso.com"}}})}}
                            .dump()};
    }
    return Reply{200, R"({"value":[]})"};
  });
  presence_route(available);
  auto p = service().presence(std::vector<std::string>{"carol@contoso.com", "nobody@contoso.com"});
  ASSERT_TRUE(p) << p.error().describe();
  ASSERT_EQ(p->size(), 1u);
  EXPECT_EQ(p->at("carol@contoso.com").availability, Availability::available);
  auto unknown = service().verify({RecipientKind::user, "teams", "nobody@contoso.com"});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Errc::not_found);
}

// "List members of a channel": all pages, and the members' userId (their email need not be a
// UPN).
TEST_F(GraphTest, ChannelMembersAreUserIdsOverAllPages) {
  const std::string next = settings_.graph_url + "/teams/team-1/channels/c1/members?$skiptoken=2";
  graph_.on("GET", "/v1.0/teams/", [&](const Received& r) {
    auto member = [](const std::string& id, const std::string& email) {
      return json{{"@odata.type", "#microsoft.graph.aadUserConversationMember"},
                  {"userId", id},
                  {"email", email}};
    };
    if (r.target.find("skiptoken=2") != std::string::npos) {
      return Reply{200, json{{"value", json::array({member("bob-id", "bob@contoso.com")})}}.dump()};
    }
    return Reply{200, json{{"value", json::array({member("alice-id", "a.l@contoso.com")})},
                           {"@odata.nextLink", next}}
                          .dump()};
  });
  auto members = service().channel_members("team-1/c1");
  ASSERT_TRUE(members) << members.error().describe();
  EXPECT_EQ(*members, (std::vector<std::string>{"alice-id", "bob-id"}));
  // A nextLink elsewhere would carry the token away: refused.
  graph_.on("GET", "/v1.0/teams/", [](const Received&) {
    return Reply{200, R"({"value":[],"@odata.nextLink":"https://elsewhere.example/x"})"};
  });
  EXPECT_FALSE(service().channel_members("team-1/c1"));
}

// Microsoft identity platform, "Conditional Access" / AADSTS50076 family: interaction_required
// on refresh marks the service broken and tells the admin, instead of retrying every round.
TEST_F(GraphTest, InteractionRequiredBreaksTheServiceOnce) {
  sign_in();
  graph_.on("POST", "/tenant-1/oauth2/v2.0/token", [this](const Received& r) {
    if (form_of(r.body).at("grant_type") == "client_credentials") return token_reply("app-x");
    return oauth_error("interaction_required");
  });
  clock_.advance(1h);  // the access token has expired: a refresh is needed
  auto sent = service().send({RecipientKind::user, "teams", "alice@contoso.com"}, {"n", "", {}});
  EXPECT_FALSE(sent);
  EXPECT_EQ(service().state(), ServiceState::broken);
  EXPECT_NE(service().problem().find("interaction_required"), std::string::npos);
  const auto refreshes = graph_.received("POST", "/tenant-1/oauth2/v2.0/token").size();
  for (int i = 0; i < 5; ++i) {
    clock_.advance(61s);
    service().run_once();
  }
  EXPECT_EQ(graph_.received("POST", "/tenant-1/oauth2/v2.0/token").size(), refreshes);
}

// RFC 8628 / identity platform: bad_verification_code is said as what it is.
TEST_F(GraphTest, BadVerificationCodeIsReported) {
  device_replies_ = {"bad_verification_code"};
  auto code = service().begin_device_sign_in();
  ASSERT_TRUE(code);
  auto status = service().poll_device_sign_in(*code);
  ASSERT_FALSE(status);
  EXPECT_NE(status.error().message.find("bad_verification_code"), std::string::npos);
  // The device code request asks for the delegated scopes under the configured Graph root.
  const auto form = form_of(graph_.received("POST", "/tenant-1/oauth2/v2.0/devicecode")[0].body);
  EXPECT_NE(form.at("scope").find(graph_.url() + "/Chat.ReadWrite"), std::string::npos);
  EXPECT_NE(form.at("scope").find("offline_access"), std::string::npos);
  EXPECT_EQ(form.at("scope").find("graph.microsoft.com"), std::string::npos);
}

}  // namespace
}  // namespace atdesk::chat
