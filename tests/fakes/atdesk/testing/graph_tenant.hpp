// The small tenant behind the Graph stand-in (fake_graph.hpp) that the daemon scenarios
// (tests/integration/teams_daemon) and the browser sign-in (tests/e2e) run against: what Graph
// and the Microsoft identity platform would know about users and their presence, tokens,
// presence and chat subscriptions (validated through atdeskd's webhook, as Graph does), 1:1 chats
// and their messages, and the authorization code flow with PKCE (fake_identity.hpp). Every
// payload says which Microsoft documentation page it follows. Nothing here reaches a real tenant.
#pragma once

#include <curl/curl.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "atdesk/testing/fake_graph.hpp"
#include "atdesk/testing/fake_identity.hpp"
#include "atdesk/testing/process_harness.hpp"

namespace atdesk::testing {

using Json = nlohmann::json;

struct Response {
  long status = 0;
  std::string body;
  std::string content_type;
  Json json() const { return Json::parse(body, nullptr, false); }
};

// One HTTP request with libcurl; `auth` is a bearer token (empty: none).
inline Response http(const std::string& method, const std::string& url,
                     const std::string& body = "", const std::string& content_type = "",
                     const std::string& auth = "", curl_mime* mime = nullptr) {
  CURL* c = curl_easy_init();
  Response r;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_collect);
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

inline std::string url_encode(const std::string& s) {
  CURL* c = curl_easy_init();
  char* out = curl_easy_escape(c, s.c_str(), static_cast<int>(s.size()));
  std::string r(out);
  curl_free(out);
  curl_easy_cleanup(c);
  return r;
}

// A time as Graph writes it ("2025-03-10T09:00:00.123Z").
inline std::string format_graph_time(std::chrono::system_clock::time_point t) {
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
inline std::string graph_time(std::chrono::system_clock::duration ahead = {}) {
  return format_graph_time(std::chrono::system_clock::now() + ahead);
}

inline std::optional<std::chrono::system_clock::time_point> parse_graph_time(const std::string& s) {
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
  struct Options {
    std::map<std::string, std::string> users;  // UPN -> object id
    // Where atdeskd receives the notifications of its service (Graph posts there).
    std::string webhook_path = "/api/v1/webhooks/graph/teams";
    int retry_after_seconds = 2;  // what throttle_presence() answers
  };
  Tenant(FakeGraph& graph, Options options)
      : graph_(graph),
        users_(std::move(options.users)),
        webhook_path_(options.webhook_path),
        retry_after_seconds_(options.retry_after_seconds),
        codes_(graph) {
    for (const auto& [upn, id] : users_) presence_[id] = {"Available", "Available", "office"};
    install();
  }

  // The authorization code flow with PKCE of this tenant's identity platform (authorize page and
  // the token endpoint's authorization_code grant).
  AuthorizationCodes& authorization_codes() { return codes_; }

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

  // The user's preferredLanguage ("ja-JP"); unset users answer null, as Graph does.
  void set_preferred_language(const std::string& id, std::string language) {
    std::lock_guard lock(mutex_);
    languages_[id] = std::move(language);
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
    const auto answer = http("POST", base + webhook_path_, body.dump(), "application/json");
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
    // responses are those of RFC 8628 section 3.5 and AADSTS codes; and "Redeem a code for an
    // access token"
    // (https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow), checked
    // by fake_identity.hpp.
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
      if (grant == "authorization_code") {
        // "Redeem a code for an access token": the rules are in fake_identity.hpp. A refresh
        // token only when offline_access was asked for; the scope is the one of the code.
        auto redeemed = codes_.redeem(form);
        if (redeemed.error) return *redeemed.error;
        revoked_ = false;
        auto reply = tokens("user-", redeemed.offline_access);
        auto j = Json::parse(reply.body);
        j["scope"] = redeemed.scope;
        reply.body = j.dump();
        return reply;
      }
      return error("unsupported_grant_type", "AADSTS70003");
    });
    // "Request an authorization code" and the consent page's answer (fake_identity.hpp).
    graph_.on("GET", "/tenant-1/oauth2/v2.0/authorize",
              [this](const Received& r) { return codes_.authorize(r); });
    graph_.on("POST", "/tenant-1/oauth2/v2.0/authorize",
              [this](const Received& r) { return codes_.consent(r); });
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
    // userPrincipalName; an unknown UPN is 404 Request_ResourceNotFound. By object id with
    // $select=id,preferredLanguage (https://learn.microsoft.com/graph/api/resources/user).
    graph_.on("GET", "/v1.0/users/", [this](const Received& r) {
      std::lock_guard lock(mutex_);
      if (!authorised(r, "app-")) return unauthorized();
      std::string upn = r.path.substr(std::string("/v1.0/users/").size());
      if (const auto at = upn.find("%40"); at != std::string::npos) upn.replace(at, 3, "@");
      // By object id, $select=id,preferredLanguage ("user resource type": null when unset).
      for (const auto& [known_upn, id] : users_) {
        if (id != upn) continue;
        const auto language = languages_.find(id);
        return Reply{200,
                     Json{{"id", id},
                          {"preferredLanguage",
                           language == languages_.end() ? Json(nullptr) : Json(language->second)}}
                         .dump()};
      }
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
            {{"Retry-After", std::to_string(retry_after_seconds_)}}};
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
        const auto started = std::chrono::steady_clock::now();
        const auto answer = http("POST", url + "?validationToken=" + url_encode(token), "",
                                 "text/plain; charset=utf-8");
        const bool in_time = std::chrono::steady_clock::now() - started < std::chrono::seconds(10);
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
  std::map<std::string, std::string> users_;      // UPN -> id
  std::map<std::string, std::string> languages_;  // id -> preferredLanguage
  std::string webhook_path_;
  int retry_after_seconds_ = 2;
  AuthorizationCodes codes_;
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

}  // namespace atdesk::testing
