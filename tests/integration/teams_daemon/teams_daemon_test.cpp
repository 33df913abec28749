// Microsoft Teams end to end on real processes: atdeskd with a [chat.teams] service, ippeveprinter
// (scripts/test-printer), and a stand-in of Microsoft Graph v1.0 and the identity platform
// (atdesk/testing/fake_graph.hpp) on 127.0.0.1 that keeps a small tenant: users and their
// presence, tokens, presence subscriptions (validated through atdeskd's webhook, as Graph does),
// 1:1 chats and their messages. The test plays Graph's part in pushing: it POSTs change and
// lifecycle notifications to atdeskd's webhook. Outcomes are checked at the printer (its spool
// keeps each document, named after the job "atdesk-<job id>"), in the job's state, in the
// requests the stand-in received and in the audit log. Waits are on conditions with deadlines.
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

#include "atdesk/testing/process_harness.hpp"
#include "atdesk/testing/upload_fax.hpp"

namespace atdesk::test {
namespace {

using namespace std::chrono_literals;
using atdesk::testing::FakeGraph;
using atdesk::testing::form_of;
using atdesk::testing::Received;
using atdesk::testing::Reply;
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

struct Response {
  long status = 0;
  std::string body;
  std::string content_type;
  Json json() const { return Json::parse(body, nullptr, false); }
};

// One HTTP request with libcurl; `auth` is a bearer token (empty: none).
Response http(const std::string& method, const std::string& url, const std::string& body = "",
              const std::string& content_type = "", const std::string& auth = "",
              curl_mime* mime = nullptr) {
  CURL* c = curl_easy_init();
  Response r;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, atdesk::testing::curl_collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_slist* headers = curl_slist_append(nullptr, "Expect:");
  const std::string bearer = "Authorization: Bearer " + auth;
  if (!auth.empty()) headers = curl_slist_append(headers, bearer.c_str());
  const std::string type = "Content-Type: " + content_type;
  if (!content_type.empty()) headers = curl_slist_append(headers, type.c_str());
  if (mime) {
    curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
  } else if (method != "GET") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  if (curl_easy_perform(c) == CURLE_OK) {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    char* ct = nullptr;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (ct) r.content_type = ct;
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  return r;
}

std::string url_encode(const std::string& s) {
  CURL* c = curl_easy_init();
  char* out = curl_easy_escape(c, s.c_str(), static_cast<int>(s.size()));
  std::string r(out);
  curl_free(out);
  curl_easy_cleanup(c);
  return r;
}

// A time as Graph writes it ("2025-03-10T09:00:00.123Z").
std::string format_graph_time(std::chrono::system_clock::time_point t) {
  const auto secs = std::chrono::system_clock::to_time_t(t);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

// UTC now, plus `ahead`, as Graph writes times.
std::string graph_time(std::chrono::system_clock::duration ahead = {}) {
  return format_graph_time(std::chrono::system_clock::now() + ahead);
}

std::optional<std::chrono::system_clock::time_point> parse_graph_time(const std::string& s) {
  std::tm tm{};
  if (std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec) != 6) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return std::chrono::system_clock::from_time_t(::timegm(&tm));
}

// The tenant behind the stand-in: what Graph and the identity platform would know.
class Tenant {
 public:
  explicit Tenant(FakeGraph& graph) : graph_(graph) {
    users_ = {{kAlice, "alice-id"}, {kMallory, "mallory-id"}, {kBob, "bob-id"}};
    for (const auto& [upn, id] : users_) presence_[id] = {"Available", "Available", "office"};
    install();
  }

  // Where the stand-in sends the validation handshake: atdeskd's webhook.
  void set_webhook_base(std::string base) {
    std::lock_guard lock(mutex_);
    webhook_base_ = std::move(base);
  }

  void set_presence(const std::string& id, std::string availability, std::string activity,
                    std::string location) {
    std::lock_guard lock(mutex_);
    presence_[id] = {std::move(availability), std::move(activity), std::move(location)};
  }

  // Access tokens handed out so far stop working (Graph answers 401).
  void expire_tokens(const std::string& prefix) {
    std::lock_guard lock(mutex_);
    std::erase_if(valid_tokens_, [&](const std::string& t) { return t.starts_with(prefix); });
  }
  void set_revoked(bool on) {
    std::lock_guard lock(mutex_);
    revoked_ = on;
  }
  void set_refuse_subscriptions(bool on) {
    std::lock_guard lock(mutex_);
    refuse_subscriptions_ = on;
  }
  // The expiry the next created subscription gets (Graph answers the one it accepted).
  void set_next_expiry(std::chrono::system_clock::duration ahead) {
    std::lock_guard lock(mutex_);
    next_expiry_ = ahead;
  }
  // The next `n` presence reads are answered 429 with Retry-After.
  void throttle_presence(int n) {
    std::lock_guard lock(mutex_);
    throttle_left_ = n;
  }
  // While on, every chat message post is answered 429 with Retry-After 30 s.
  void throttle_chat_posts(bool on) {
    std::lock_guard lock(mutex_);
    throttle_chat_posts_ = on;
  }

  struct Subscription {
    std::string id;
    std::string client_state;
    std::vector<std::string> ids;
    std::string expires;
    std::string resource;
  };
  // The live subscription covering `user_id` (expired ones are gone, as in Graph).
  std::optional<Subscription> subscription_for(const std::string& user_id) {
    std::lock_guard lock(mutex_);
    for (const auto& [id, s] : subscriptions_) {
      const auto until = parse_graph_time(s.expires);
      if (!until || *until <= std::chrono::system_clock::now()) continue;
      if (std::find(s.ids.begin(), s.ids.end(), user_id) != s.ids.end()) return s;
    }
    return std::nullopt;
  }
  void drop_subscription(const std::string& id) {
    std::lock_guard lock(mutex_);
    subscriptions_.erase(id);
  }

  // The 1:1 chat of the service account with `user_id`, once made.
  std::string chat_with(const std::string& user_id) {
    std::lock_guard lock(mutex_);
    for (const auto& [id, c] : chats_) {
      if (c.members.contains(user_id)) return id;
    }
    return {};
  }
  // A message someone writes in a chat, as Teams would store it.
  void post_in_chat(const std::string& chat_id, const std::string& from_id, const std::string& name,
                    const std::string& html) {
    std::optional<Subscription> sub;
    std::string base, message_id;
    {
      std::lock_guard lock(mutex_);
      store_message(chat_id, from_id, name, html);
      message_id = std::to_string(message_ids_);
      base = webhook_base_;
      for (const auto& [id, s] : subscriptions_) {
        const auto until = parse_graph_time(s.expires);
        if (s.resource == "/chats/" + chat_id + "/messages" && until &&
            *until > std::chrono::system_clock::now()) {
          sub = s;
        }
      }
    }
    // "Get change notifications for messages in Teams channels and chats"
    // (https://learn.microsoft.com/graph/teams-changenotifications-chatmessage), delivered as in
    // "Receive change notifications through webhooks": a basic notification (no resource data)
    // to the subscription of that chat, if atdesk holds one.
    if (!sub) return;
    const Json body{
        {"value",
         Json::array({{{"subscriptionId", sub->id},
                       {"clientState", sub->client_state},
                       {"changeType", "created"},
                       {"resource", "chats('" + chat_id + "')/messages('" + message_id + "')"},
                       {"subscriptionExpirationDateTime", sub->expires},
                       {"resourceData",
                        {{"id", message_id},
                         {"@odata.type", "#Microsoft.Graph.chatMessage"},
                         {"@odata.id", "chats('" + chat_id + "')/messages('" + message_id + "')"}}},
                       {"tenantId", "tenant-1"}}})}};
    const auto answer = http("POST", base + kWebhook, body.dump(), "application/json");
    if (answer.status != 202) chat_notification_failures_.fetch_add(1);
  }

 private:
  void store_message(const std::string& chat_id, const std::string& from_id,
                     const std::string& name, const std::string& html) {
    // Graph "chatMessage resource type"
    // (https://learn.microsoft.com/graph/api/resources/chatmessage).
    chats_[chat_id].messages.push_back(
        Json{{"id", std::to_string(++message_ids_)},
             {"messageType", "message"},
             {"createdDateTime", next_time()},
             {"chatId", chat_id},
             {"from",
              {{"application", nullptr},
               {"device", nullptr},
               {"user",
                {{"@odata.type", "#microsoft.graph.teamworkUserIdentity"},
                 {"id", from_id},
                 {"displayName", name},
                 {"userIdentityType", "aadUser"}}}}},
             {"body", {{"contentType", "html"}, {"content", html}}}});
  }

 private:
  struct PresenceState {
    std::string availability, activity, location;
  };
  struct Chat {
    std::set<std::string> members;
    std::vector<Json> messages;
  };

  // Strictly increasing times, so that "after the cursor" is well defined at millisecond grain.
  std::string next_time() {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
    if (ms <= last_ms_) ms = last_ms_ + 1;
    last_ms_ = ms;
    return format_graph_time(std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
  }

  // Graph "Microsoft Graph error responses and resource types"
  // (https://learn.microsoft.com/graph/errors): an expired or unknown token.
  static Reply unauthorized() {
    return {
        401,
        R"({"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired or is not yet valid.","innerError":{"date":"2025-03-10T09:00:00","request-id":"0"}}})",
        {{"WWW-Authenticate", "Bearer realm=\"\", error=\"invalid_token\""}}};
  }
  // True when the request carries a live token of the kind ("app-" or "user-").
  bool authorised(const Received& r, const std::string& kind) {
    if (!r.authorization.starts_with("Bearer ")) return false;
    const auto token = r.authorization.substr(7);
    return token.starts_with(kind) && valid_tokens_.contains(token);
  }

  void install() {
    // Microsoft identity platform token endpoint: "OAuth 2.0 client credentials flow"
    // (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow),
    // "refresh the access token"
    // (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#refresh-the-access-token)
    // and "device authorization grant"
    // (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code), whose error
    // responses are those of RFC 8628 section 3.5 and AADSTS codes.
    graph_.on("POST", "/tenant-1/oauth2/v2.0/token", [this](const Received& r) {
      const auto form = form_of(r.body);
      std::lock_guard lock(mutex_);
      auto error = [](const std::string& code, const std::string& text) {
        return Reply{400, Json{{"error", code},
                               {"error_description", text + "\r\nTrace ID: 0\r\nTimestamp: x"},
                               {"error_codes", Json::array({70000})}}
                              .dump()};
      };
      auto tokens = [&](const std::string& kind, bool refresh) {
        const auto access = kind + std::to_string(++tokens_);
        valid_tokens_.insert(access);
        Json j{{"token_type", "Bearer"}, {"expires_in", 3599}, {"access_token", access}};
        if (refresh) {
          refresh_token_ = "refresh-" + std::to_string(tokens_);
          j["refresh_token"] = refresh_token_;
          j["scope"] = form.contains("scope") ? form.at("scope") : "";
        }
        return Reply{200, j.dump()};
      };
      if (form.at("client_id") != "client-1") {
        return error("invalid_client", "AADSTS700016: Application not found");
      }
      const auto grant = form.at("grant_type");
      if (grant == "client_credentials") {
        if (form.at("client_secret") != "secret-1") {
          return error("invalid_client", "AADSTS7000215: Invalid client secret provided.");
        }
        return tokens("app-", false);
      }
      if (grant == "refresh_token") {
        if (revoked_ || form.at("refresh_token") != refresh_token_) {
          return error("invalid_grant",
                       "AADSTS50173: The provided grant has expired due to it being revoked");
        }
        return tokens("user-", true);
      }
      if (grant == "urn:ietf:params:oauth:grant-type:device_code") {
        if (form.at("device_code") != "dev-code-secret") {
          return error("invalid_grant", "AADSTS70000: bad device code");
        }
        if (device_pending_-- > 0) {
          return error("authorization_pending",
                       "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending.");
        }
        revoked_ = false;
        return tokens("user-", true);
      }
      return error("unsupported_grant_type", "AADSTS70003");
    });
    // "Device authorization grant": the device authorization response. interval 1 s keeps the
    // sign-in short (Entra answers 5).
    graph_.on("POST", "/tenant-1/oauth2/v2.0/devicecode", [this](const Received&) {
      std::lock_guard lock(mutex_);
      device_pending_ = 1;
      return Reply{200, Json{{"device_code", "dev-code-secret"},
                             {"user_code", "ABCD-EFGH"},
                             {"verification_uri", "https://microsoft.com/devicelogin"},
                             {"expires_in", 900},
                             {"interval", 1},
                             {"message",
                              "To sign in, use a web browser to open the page "
                              "https://microsoft.com/devicelogin and enter the code ABCD-EFGH "
                              "to authenticate."}}
                            .dump()};
    });
    // Graph "Get user" (https://learn.microsoft.com/graph/api/user-get), $select=id,
    // userPrincipalName; an unknown UPN is 404 Request_ResourceNotFound.
    graph_.on("GET", "/v1.0/users/", [this](const Received& r) {
      std::lock_guard lock(mutex_);
      if (!authorised(r, "app-")) return unauthorized();
      std::string upn = r.path.substr(std::string("/v1.0/users/").size());
      if (const auto at = upn.find("%40"); at != std::string::npos) upn.replace(at, 3, "@");
      const auto it = users_.find(upn);
      if (it == users_.end()) {
        return Reply{
            404,
            R"({"error":{"code":"Request_ResourceNotFound","message":"Resource ')" + upn +
                R"(' does not exist or one of its queried reference-property objects are not present."}})"};
      }
      return Reply{200, Json{{"@odata.context",
                              "https://graph.microsoft.com/v1.0/$metadata#users(id,"
                              "userPrincipalName)/$entity"},
                             {"id", it->second},
                             {"userPrincipalName", upn}}
                            .dump()};
    });
    // Graph "Get the signed-in user" (https://learn.microsoft.com/graph/api/user-get).
    graph_.on("GET", "/v1.0/me", [this](const Received& r) {
      std::lock_guard lock(mutex_);
      if (!authorised(r, "user-")) return unauthorized();
      return Reply{200, R"({"id":"fax-id","userPrincipalName":"fax@contoso.com"})"};
    });
    // Graph "cloudCommunications: getPresencesByUserId"
    // (https://learn.microsoft.com/graph/api/cloudcommunications-getpresencesbyuserid) with the
    // workLocation of "presence resource type"
    // (https://learn.microsoft.com/graph/api/resources/presence); throttled answers as in
    // "Microsoft Graph throttling guidance" (https://learn.microsoft.com/graph/throttling):
    // 429 with Retry-After in seconds.
    graph_.on("POST", "/v1.0/communications/getPresencesByUserId", [this](const Received& r) {
      std::lock_guard lock(mutex_);
      if (throttle_left_ > 0) {
        --throttle_left_;
        return Reply{
            429,
            R"({"error":{"code":"TooManyRequests","message":"Too many requests.","innerError":{"code":"429","date":"2025-03-10T09:00:00","request-id":"0"}}})",
            {{"Retry-After", std::to_string(kRetryAfterSeconds)}}};
      }
      if (!authorised(r, "app-")) return unauthorized();
      Json out{{"value", Json::array()}};
      const auto request = Json::parse(r.body);
      for (const auto& id : request.at("ids")) {
        const auto it = presence_.find(id.get<std::string>());
        if (it == presence_.end()) continue;
        out["value"].push_back(
            {{"id", it->first},
             {"availability", it->second.availability},
             {"activity", it->second.activity},
             {"statusMessage", nullptr},
             {"outOfOfficeSettings", {{"message", nullptr}, {"isOutOfOffice", false}}},
             {"workLocation",
              {{"workLocationType", it->second.location},
               {"source", "manual"},
               {"placeId", nullptr}}}});
      }
      return Reply{200, out.dump()};
    });
    // Graph "Create subscription"
    // (https://learn.microsoft.com/graph/api/subscription-post-subscriptions) and "Receive
    // change notifications through webhooks"
    // (https://learn.microsoft.com/graph/change-notifications-delivery-webhooks): before
    // answering 201 Graph POSTs ?validationToken=... to notificationUrl and
    // lifecycleNotificationUrl and wants the token back as text/plain within 10 seconds.
    graph_.on("POST", "/v1.0/subscriptions", [this](const Received& r) {
      const auto body = Json::parse(r.body);
      std::string base;
      {
        std::lock_guard lock(mutex_);
        if (!authorised(r, "user-")) return unauthorized();
        base = webhook_base_;
      }
      for (const char* key : {"notificationUrl", "lifecycleNotificationUrl"}) {
        const std::string url = body.at(key).get<std::string>();
        const std::string token =
            "Validation: Testing client application reachability for subscription Request-Id: " +
            std::to_string(validations_.fetch_add(1));
        const auto started = Steady::now();
        const auto answer = http("POST", url + "?validationToken=" + url_encode(token), "",
                                 "text/plain; charset=utf-8");
        const bool in_time = Steady::now() - started < 10s;
        if (!url.starts_with(base) || answer.status != 200 || answer.body != token ||
            !answer.content_type.starts_with("text/plain") || !in_time) {
          validation_failures_.fetch_add(1);
          return Reply{
              400,
              R"({"error":{"code":"ValidationError","message":"Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request."}})"};
        }
      }
      std::lock_guard lock(mutex_);
      if (refuse_subscriptions_) {
        return Reply{
            403,
            R"({"error":{"code":"ExtensionError","message":"Operation: Create; Exception: [Status Code: Forbidden; Reason: Subscription creation is not allowed at this time]"}})"};
      }
      // "Get change notifications for presence updates in Microsoft Teams"
      // (https://learn.microsoft.com/graph/changenotifications-for-presence): "A single user can
      // create one presence subscription per unique application". A second one while the first
      // lives is refused, and the scenario fails on graph_->violations().
      const std::string asked = body.at("resource").get<std::string>();
      for (const auto& [id, live] : subscriptions_) {
        const auto until = parse_graph_time(live.expires);
        if (asked.starts_with("/communications/presences") &&
            live.resource.starts_with("/communications/presences") && until &&
            *until > std::chrono::system_clock::now()) {
          graph_.violation("a second presence subscription beside " + id);
          return Reply{
              403,
              R"({"error":{"code":"ExtensionError","message":"Operation: Create; Exception: [Status Code: Forbidden; Reason: presence subscription limit reached]"}})"};
        }
      }
      Subscription sub;
      sub.id = "sub-" + std::to_string(++subscription_ids_);
      sub.client_state = body.at("clientState").get<std::string>();
      const std::string resource = body.at("resource").get<std::string>();
      sub.resource = resource;
      for (std::size_t q = resource.find('\''); q != std::string::npos;) {
        const auto end = resource.find('\'', q + 1);
        sub.ids.push_back(resource.substr(q + 1, end - q - 1));
        q = resource.find('\'', end + 1);
      }
      sub.expires = next_expiry_ ? graph_time(*next_expiry_)
                                 : body.at("expirationDateTime").get<std::string>();
      next_expiry_.reset();
      subscriptions_[sub.id] = sub;
      return Reply{201, Json{{"@odata.context",
                              "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity"},
                             {"id", sub.id},
                             {"resource", resource},
                             {"applicationId", "client-1"},
                             {"changeType", body.at("changeType")},
                             {"clientState", sub.client_state},
                             {"notificationUrl", body.at("notificationUrl")},
                             {"lifecycleNotificationUrl", body.at("lifecycleNotificationUrl")},
                             {"expirationDateTime", sub.expires},
                             {"creatorId", "fax-id"}}
                            .dump()};
    });
    // Graph "Update subscription"
    // (https://learn.microsoft.com/graph/api/subscription-update): PATCH expirationDateTime.
    graph_.on("PATCH", "/v1.0/subscriptions/", [this](const Received& r) {
      std::lock_guard lock(mutex_);
      if (!authorised(r, "user-")) return unauthorized();
      const auto id = r.path.substr(std::string("/v1.0/subscriptions/").size());
      const auto it = subscriptions_.find(id);
      if (it == subscriptions_.end()) {
        return Reply{
            404, R"({"error":{"code":"ResourceNotFound","message":"The object was not found."}})"};
      }
      it->second.expires = Json::parse(r.body).at("expirationDateTime").get<std::string>();
      return Reply{200, Json{{"id", id},
                             {"resource", "/communications/presences"},
                             {"changeType", "updated"},
                             {"expirationDateTime", it->second.expires}}
                            .dump()};
    });
    // Graph "Delete subscription" (https://learn.microsoft.com/graph/api/subscription-delete).
    graph_.on("DELETE", "/v1.0/subscriptions/", [this](const Received& r) {
      std::lock_guard lock(mutex_);
      if (!authorised(r, "user-")) return unauthorized();
      subscriptions_.erase(r.path.substr(std::string("/v1.0/subscriptions/").size()));
      return Reply{204, ""};
    });
    // Graph "Create chat" (https://learn.microsoft.com/graph/api/chat-post): a oneOnOne chat is
    // unique per pair of members; creating it again returns the existing one.
    graph_.on("POST", "/v1.0/chats", [this](const Received& r) {
      std::lock_guard lock(mutex_);
      if (!authorised(r, "user-")) return unauthorized();
      const auto body = Json::parse(r.body);
      std::set<std::string> members;
      for (const auto& m : body.at("members")) {
        const std::string bind = m.at("user@odata.bind").get<std::string>();
        const auto open = bind.find("('"), close = bind.find("')");
        members.insert(bind.substr(open + 2, close - open - 2));
      }
      std::string id;
      for (const auto& [cid, c] : chats_) {
        if (c.members == members) id = cid;
      }
      if (id.empty()) {
        id = "19:" + *members.begin() + "_" + *members.rbegin() + "@unq.gbl.spaces";
        chats_[id].members = members;
      }
      return Reply{201, Json{{"id", id},
                             {"chatType", "oneOnOne"},
                             {"createdDateTime", graph_time()},
                             {"webUrl", "https://teams.microsoft.com/l/chat/" + id + "/0"}}
                            .dump()};
    });
    // Graph "Send chatMessage in a channel or a chat"
    // (https://learn.microsoft.com/graph/api/chat-post-messages), hostedContents as in "Send
    // message with inline images"; and "List messages in a chat"
    // (https://learn.microsoft.com/graph/api/chat-list-messages), newest first with $orderby.
    graph_.on("POST", "/v1.0/chats/", [this](const Received& r) {
      std::lock_guard lock(mutex_);
      if (!authorised(r, "user-")) return unauthorized();
      const auto rest = r.path.substr(std::string("/v1.0/chats/").size());
      const auto slash = rest.find('/');
      std::string chat_id = rest.substr(0, slash);
      if (const auto c = chat_id.find("%3A"); c != std::string::npos) chat_id.replace(c, 3, ":");
      if (const auto a = chat_id.find("%40"); a != std::string::npos) chat_id.replace(a, 3, "@");
      const auto it = chats_.find(chat_id);
      if (it == chats_.end()) {
        return Reply{404, R"({"error":{"code":"NotFound","message":"Chat not found."}})"};
      }
      if (throttle_chat_posts_) {
        return Reply{
            429,
            R"({"error":{"code":"TooManyRequests","message":"Too many requests.","innerError":{"code":"429","date":"2025-03-10T09:00:00","request-id":"0"}}})",
            {{"Retry-After", "30"}}};
      }
      const auto body = Json::parse(r.body);
      Json m{
          {"id", std::to_string(++message_ids_)},
          {"messageType", "message"},
          {"createdDateTime", next_time()},
          {"chatId", chat_id},
          {"from",
           {{"user", {{"id", "fax-id"}, {"displayName", "Fax"}, {"userIdentityType", "aadUser"}}}}},
          {"body", body.at("body")}};
      it->second.messages.push_back(m);
      return Reply{201, m.dump()};
    });
    graph_.on("GET", "/v1.0/chats/", [this](const Received& r) {
      std::lock_guard lock(mutex_);
      if (!authorised(r, "user-")) return unauthorized();
      const auto rest = r.path.substr(std::string("/v1.0/chats/").size());
      std::string chat_id = rest.substr(0, rest.find('/'));
      if (const auto c = chat_id.find("%3A"); c != std::string::npos) chat_id.replace(c, 3, ":");
      if (const auto a = chat_id.find("%40"); a != std::string::npos) chat_id.replace(a, 3, "@");
      const auto it = chats_.find(chat_id);
      if (it == chats_.end()) {
        return Reply{404, R"({"error":{"code":"NotFound","message":"Chat not found."}})"};
      }
      Json value = Json::array();
      for (auto m = it->second.messages.rbegin(); m != it->second.messages.rend(); ++m) {
        if (value.size() == 50) break;
        value.push_back(*m);
      }
      return Reply{200, Json{{"@odata.count", value.size()}, {"value", value}}.dump()};
    });
  }

  FakeGraph& graph_;
  std::mutex mutex_;
  std::string webhook_base_;
  std::map<std::string, std::string> users_;  // UPN -> id
  std::map<std::string, PresenceState> presence_;
  std::set<std::string> valid_tokens_;
  std::string refresh_token_;
  int tokens_ = 0;
  int device_pending_ = 0;
  bool revoked_ = false;
  bool refuse_subscriptions_ = false;
  int throttle_left_ = 0;
  bool throttle_chat_posts_ = false;
  std::optional<std::chrono::system_clock::duration> next_expiry_;
  int subscription_ids_ = 0;
  std::map<std::string, Subscription> subscriptions_;
  std::map<std::string, Chat> chats_;
  int message_ids_ = 0;
  long long last_ms_ = 0;
  std::atomic<int> validations_{0};

 public:
  std::atomic<int> validation_failures_{0};
  std::atomic<int> chat_notification_failures_{0};
};

class TeamsDaemon : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char tmpl[] = "/tmp/atdesk-teamsd-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    graph_ = std::make_unique<FakeGraph>();
    tenant_ = std::make_unique<Tenant>(*graph_);
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
                                         const std::string& needle) {
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
        15s);
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

}  // namespace
}  // namespace atdesk::test
