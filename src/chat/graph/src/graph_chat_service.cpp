#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>

#include "atdesk/chat/graph/presence_mapping.hpp"
#include "graph_impl.hpp"

namespace atdesk::chat {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

SteadyTime steady_now() {
  return std::chrono::steady_clock::now();
}

// The delegated scopes below the scope root of graph_url (national clouds have their own).
std::string delegated_scope_list(const GraphChatService::Settings& s) {
  const std::string root = graph_resource(s.graph_url);
  std::string out, word;
  auto flush = [&] {
    if (word.empty()) return;
    const bool openid = word == "offline_access" || word == "openid" || word == "profile" ||
                        word == "email" || word.find("://") != std::string::npos;
    out += (out.empty() ? "" : " ") + (openid ? word : root + "/" + word);
    word.clear();
  };
  for (const char c : s.delegated_scopes) {
    if (c == ' ') {
      flush();
    } else {
      word += c;
    }
  }
  flush();
  return out;
}

// A token is refreshed this long before it expires.
constexpr auto kRefreshMargin = std::chrono::minutes(5);

std::string graph_error_code(const std::string& body) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const auto& e = j["error"];
    std::string out = e.value("code", "");
    const std::string message = e.value("message", "");
    if (!message.empty()) out += (out.empty() ? "" : ": ") + message.substr(0, 200);
    return out;
  }
  return {};
}

}  // namespace

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  });
  return out;
}

std::string format_time(Timestamp t) {
  const auto day = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day ymd(day);
  const std::chrono::hh_mm_ss hms(std::chrono::floor<std::chrono::seconds>(t - day));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

std::optional<Timestamp> parse_time(std::string_view text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  const std::string copy(text.substr(0, 19));
  if (copy.size() != 19 ||
      std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &s) != 6) {
    return std::nullopt;
  }
  const std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(mo),
                                        std::chrono::day(d)};
  if (!ymd.ok()) return std::nullopt;
  return Timestamp(std::chrono::sys_days(ymd)) + std::chrono::hours(h) + std::chrono::minutes(mi) +
         std::chrono::seconds(s);
}

std::optional<Timestamp> parse_precise_time(std::string_view text) {
  auto whole = parse_time(text);
  if (!whole) return std::nullopt;
  std::size_t i = 19;
  std::chrono::milliseconds fraction{0};
  if (i < text.size() && text[i] == '.') {
    long long ms = 0;
    int digits = 0;
    for (++i; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, ++digits) {
      if (digits < 3) ms = ms * 10 + (text[i] - '0');
    }
    if (digits == 0) return std::nullopt;
    for (int d = digits; d < 3; ++d) ms *= 10;
    fraction = std::chrono::milliseconds(ms);
  }
  std::chrono::minutes offset{0};
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    int h = 0, m = 0;
    const std::string rest(text.substr(i + 1));
    if (std::sscanf(rest.c_str(), "%2d:%2d", &h, &m) != 2) return std::nullopt;
    offset = std::chrono::minutes(h * 60 + m) * (text[i] == '-' ? -1 : 1);
  } else if (i < text.size() && text[i] != 'Z') {
    return std::nullopt;
  }
  return *whole + fraction - offset;
}

std::string graph_resource(std::string_view graph_url) {
  const auto scheme = graph_url.find("://");
  if (scheme == std::string_view::npos) return std::string(graph_url);
  const auto slash = graph_url.find('/', scheme + 3);
  return std::string(graph_url.substr(0, slash));
}

std::string_view GraphChatService::Impl::to_string(Workload w) {
  switch (w) {
    case Workload::presence:
      return "presence";
    case Workload::chat_read:
      return "chat reads";
    case Workload::chat_send:
      return "chat posts";
    case Workload::subscriptions:
      return "subscriptions";
    case Workload::directory:
      return "directory";
  }
  return "directory";
}

GraphChatService::Impl::Workload GraphChatService::Impl::workload_of(const Call& c) {
  const std::string_view path = c.path;
  if (path.starts_with("/communications/")) return Workload::presence;
  if (path.starts_with("/subscriptions")) return Workload::subscriptions;
  const bool messages = path.find("/messages") != std::string_view::npos;
  if (messages && (path.starts_with("/chats/") || path.starts_with("/teams/"))) {
    return c.method == "GET" ? Workload::chat_read : Workload::chat_send;
  }
  return Workload::directory;
}

std::string_view to_string(SignInStatus s) {
  switch (s) {
    case SignInStatus::pending:
      return "pending";
    case SignInStatus::slow_down:
      return "slow_down";
    case SignInStatus::signed_in:
      return "signed_in";
    case SignInStatus::expired:
      return "expired";
    case SignInStatus::denied:
      return "denied";
  }
  return "pending";
}

GraphChatService::Impl::Impl(Settings settings, store::TableStore& tables, const Clock& clock)
    : s_(std::move(settings)),
      tables_(tables),
      clock_(clock),
      vault_(tables, s_.key_file),
      rng_(std::random_device{}()) {
  for (auto& bucket : buckets_) {
    bucket = std::make_unique<graph::TokenBucket>(
        s_.max_requests_per_second, std::max(1.0, s_.max_requests_per_second), steady_now());
  }
  while (s_.graph_url.ends_with('/')) s_.graph_url.pop_back();
  while (s_.login_url.ends_with('/')) s_.login_url.pop_back();
  while (s_.public_url.ends_with('/')) s_.public_url.pop_back();
  s_.presence_batch = std::clamp<std::size_t>(s_.presence_batch, 1, 650);
  s_.subscription_batch = std::clamp<std::size_t>(s_.subscription_batch, 1, 650);
  s_.subscription_lifetime =
      std::clamp(s_.subscription_lifetime, std::chrono::minutes(5), std::chrono::minutes(60));
}

void GraphChatService::Impl::mark_broken(std::string why) {
  {
    std::lock_guard lock(mutex_);
    if (problem_ == why) return;
    problem_ = why;
  }
  spdlog::error("chat {}: broken: {}", s_.name, why);
}

Result<void> GraphChatService::Impl::check_usable() {
  if (auto ok = load_tokens(); !ok) {
    spdlog::warn("chat {}: stored tokens unusable ({}); signing in afresh", s_.name,
                 ok.error().describe());
    std::lock_guard lock(mutex_);
    tokens_loaded_ = true;
  }
  std::lock_guard lock(mutex_);
  if (!problem_.empty()) {
    return fail(Errc::unavailable, "Teams service '" + s_.name + "' is broken: " + problem_);
  }
  return {};
}

Result<void> GraphChatService::Impl::load_tokens() {
  {
    std::lock_guard lock(mutex_);
    if (tokens_loaded_) return {};
  }
  auto text = vault_.load(s_.name);
  if (!text) return fail(text.error());
  std::lock_guard lock(mutex_);
  tokens_loaded_ = true;
  if (text->empty()) return {};
  auto j = json::parse(*text, nullptr, false);
  sodium_memzero(text->data(), text->size());
  if (!j.is_object()) return fail(Errc::corrupt, "stored Graph tokens are not a JSON object");
  auto read = [&](const char* key, graph::TokenSet& out) {
    if (!j.contains(key) || !j[key].is_object()) return;
    const auto& t = j[key];
    out.access_token = t.value("access_token", "");
    out.refresh_token = t.value("refresh_token", "");
    out.expires_at = Timestamp(std::chrono::milliseconds(t.value("expires_at", 0LL)));
  };
  read("app", app_);
  read("delegated", delegated_);
  account_id_ = j.value("account_id", "");
  account_upn_ = j.value("account_upn", "");
  if (j.value("revoked", false)) {
    problem_ = "the service account's sign-in was revoked (invalid_grant); sign in again";
  }
  return {};
}

Result<void> GraphChatService::Impl::save_tokens() {
  auto put = [](const graph::TokenSet& t) {
    return json{{"access_token", t.access_token},
                {"refresh_token", t.refresh_token},
                {"expires_at", t.expires_at.time_since_epoch().count()}};
  };
  json j{{"app", put(app_)},
         {"delegated", put(delegated_)},
         {"account_id", account_id_},
         {"account_upn", account_upn_},
         {"revoked", !problem_.empty()}};
  std::string text = j.dump();
  auto ok = vault_.save(s_.name, text);
  sodium_memzero(text.data(), text.size());
  return ok;
}

Result<std::string> GraphChatService::Impl::access_token(Auth auth, SteadyTime deadline,
                                                         bool force_refresh) {
  if (auto ok = load_tokens(); !ok) {
    spdlog::warn("chat {}: stored tokens unusable ({}); signing in afresh", s_.name,
                 ok.error().describe());
    std::lock_guard lock(mutex_);
    tokens_loaded_ = true;
  }
  std::lock_guard token_lock(token_mutex_);
  const auto now = clock_.now();
  std::string form;
  {
    std::lock_guard lock(mutex_);
    auto& set = auth == Auth::app ? app_ : delegated_;
    if (!force_refresh && !set.empty() && set.expires_at - kRefreshMargin > now) {
      return set.access_token;
    }
    if (auth == Auth::app) {
      form = "grant_type=client_credentials&client_id=" + graph::form_encode(s_.client_id) +
             "&client_secret=" + graph::form_encode(s_.client_secret) +
             "&scope=" + graph::form_encode(graph_resource(s_.graph_url) + "/.default");
    } else {
      if (!problem_.empty()) return fail(Errc::unavailable, problem_);
      if (delegated_.refresh_token.empty()) {
        return fail(Errc::unavailable, "the Teams service account of '" + s_.name +
                                           "' is not signed in: start the device code sign-in");
      }
      form = "grant_type=refresh_token&client_id=" + graph::form_encode(s_.client_id) +
             "&refresh_token=" + graph::form_encode(delegated_.refresh_token) +
             "&scope=" + graph::form_encode(delegated_scope_list(s_));
    }
  }
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady_now());
  if (left <= 0ms) return fail(Errc::timeout, "no time left to get a Graph token");
  auto reply = graph::token_request(
      s_.login_url + "/" + graph::url_encode(s_.tenant) + "/oauth2/v2.0/token", form, left, now);
  sodium_memzero(form.data(), form.size());
  if (!reply) return fail(reply.error());
  auto& tokens = reply->tokens;
  if (!tokens) {
    const std::string what = auth == Auth::app ? "application token" : "service account token";
    // interaction_required and consent_required: Conditional Access (or a new permission) wants
    // the service account to sign in again in a browser; retrying every round cannot help.
    const bool interaction =
        reply->error == "interaction_required" || reply->error == "consent_required";
    if ((reply->error == "invalid_grant" || interaction) && auth == Auth::delegated) {
      {
        std::lock_guard lock(mutex_);
        delegated_ = {};
      }
      mark_broken(interaction
                      ? "the identity platform requires the service account to sign in again "
                        "interactively (" +
                            reply->error + ": " + reply->description +
                            "); an admin signs it in again from the web UI"
                      : "the service account's refresh token was refused (invalid_grant: " +
                            reply->description + "); sign in again");
      std::lock_guard lock(mutex_);
      (void)save_tokens();
      return fail(Errc::permission_denied, "Teams " + what + ": " + problem_);
    }
    if (reply->error == "invalid_client" || reply->error == "unauthorized_client") {
      mark_broken("the app registration was refused (" + reply->error + ": " + reply->description +
                  "); check client_id and client_secret_file");
    }
    return fail(Errc::permission_denied,
                "Teams " + what + " refused: " + reply->error + " " + reply->description);
  }
  std::lock_guard lock(mutex_);
  auto& set = auth == Auth::app ? app_ : delegated_;
  const std::string old_refresh = set.refresh_token;
  set = std::move(*tokens);
  if (set.refresh_token.empty()) set.refresh_token = old_refresh;  // not rotated
  if (auto ok = save_tokens(); !ok) {
    spdlog::warn("chat {}: cannot store tokens: {}", s_.name, ok.error().describe());
  }
  return set.access_token;
}

bool GraphChatService::Impl::sleep_until(SteadyTime until) {
  std::unique_lock lock(mutex_);
  return !wake_.wait_until(lock, until, [&] { return stopping_; });
}

Result<graph::HttpResponse> GraphChatService::Impl::call(const Call& c, SteadyTime deadline) {
  bool refreshed = false;
  const auto workload = workload_of(c);
  const auto w = static_cast<std::size_t>(workload);
  auto& bucket = *buckets_[w];
  // A message post may have been delivered although the answer was lost: never sent twice.
  const bool repeatable = workload != Workload::chat_send;
  for (unsigned attempt = 0;; ++attempt) {
    // Graph's Retry-After for this workload, then our own rate for it.
    SteadyTime not_before;
    {
      std::lock_guard lock(mutex_);
      not_before = blocked_until_[w];
    }
    const auto wait = bucket.reserve(steady_now());
    not_before = std::max(not_before, steady_now() + wait);
    if (not_before > deadline) {
      bucket.cancel();
      return fail(
          Errc::timeout,
          "Graph " + c.what + " (" + std::string(to_string(workload)) + "): would have to wait " +
              std::to_string(
                  std::chrono::duration_cast<std::chrono::milliseconds>(not_before - steady_now())
                      .count()) +
              " ms for the request limit, beyond the timeout");
    }
    if (not_before > steady_now() && !sleep_until(not_before)) {
      return fail(Errc::unavailable, "Graph " + c.what + ": stopping");
    }
    auto token = access_token(c.auth, deadline, false);
    if (!token) return fail(token.error());
    graph::HttpRequest request{c.method,
                               s_.graph_url + c.path,
                               {"Authorization: Bearer " + *token, "Accept: application/json"},
                               c.body};
    if (!c.body.empty()) request.headers.push_back("Content-Type: application/json");
    sodium_memzero(token->data(), token->size());
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady_now());
    if (left <= 0ms) return fail(Errc::timeout, "Graph " + c.what + ": timed out");
    auto response = graph::http_send(request, left);
    sodium_memzero(request.headers[0].data(), request.headers[0].size());
    if (!response) {
      if (response.error().code == Errc::timeout || !repeatable) return fail(response.error());
      // Connection refused or reset: back off and try again while there is time.
      std::chrono::milliseconds pause;
      {
        std::lock_guard lock(mutex_);
        pause = graph::backoff_delay(attempt, 200ms, s_.max_backoff, rng_);
      }
      if (attempt >= 3 || steady_now() + pause > deadline) {
        return fail(response.error().code, "Graph " + c.what + ": " + response.error().message);
      }
      if (!sleep_until(steady_now() + pause)) return fail(response.error());
      continue;
    }
    if (response->status == 401 && !refreshed) {
      refreshed = true;
      auto again = access_token(c.auth, deadline, true);
      if (!again) return fail(again.error());
      continue;
    }
    if (response->status == 504 && !repeatable) {
      return fail(Errc::unavailable,
                  "Graph " + c.what +
                      ": HTTP 504 (gateway timeout); not sent again, as the message may have "
                      "been posted");
    }
    if (response->status == 429 || response->status == 503 || response->status == 504) {
      std::chrono::milliseconds pause;
      const auto retry_after = graph::parse_retry_after(response->header("retry-after"));
      {
        std::lock_guard lock(mutex_);
        pause = retry_after ? std::chrono::milliseconds(*retry_after)
                            : graph::backoff_delay(attempt, 500ms, s_.max_backoff, rng_);
        if (retry_after) blocked_until_[w] = std::max(blocked_until_[w], steady_now() + pause);
      }
      spdlog::warn("chat {}: Graph {} answered {}; retrying in {} ms", s_.name, c.what,
                   response->status, pause.count());
      if (attempt >= 6 || steady_now() + pause > deadline) {
        return fail(
            Errc::unavailable,
            "Graph " + c.what + ": HTTP " + std::to_string(response->status) +
                (retry_after ? " with Retry-After " + std::to_string(retry_after->count()) + " s"
                             : std::string()) +
                ", beyond the time allowed");
      }
      if (!sleep_until(steady_now() + pause)) return fail(Errc::unavailable, "stopping");
      continue;
    }
    if (response->status < 500) {
      std::lock_guard lock(mutex_);
      healthy_ = true;
    }
    return response;
  }
}

Result<json> GraphChatService::Impl::expect_json(const Call& c, const graph::HttpResponse& r,
                                                 std::initializer_list<long> ok) {
  if (std::find(ok.begin(), ok.end(), r.status) == ok.end()) {
    const auto code = graph_error_code(r.body);
    const Errc errc = r.status == 404   ? Errc::not_found
                      : r.status == 403 ? Errc::permission_denied
                      : r.status == 400 ? Errc::invalid_argument
                                        : Errc::unavailable;
    return fail(errc, "Graph " + c.what + ": HTTP " + std::to_string(r.status) +
                          (code.empty() ? "" : " (" + code + ")"));
  }
  auto j = json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return fail(Errc::invalid_argument, "Graph " + c.what + ": the response is not a JSON object");
  }
  return j;
}

Result<std::string> GraphChatService::Impl::string_field(const Call& c, const json& answer,
                                                         const char* key) {
  const auto it = answer.find(key);
  if (it == answer.end() || !it->is_string() || it->get<std::string>().empty()) {
    return fail(Errc::invalid_argument, "Graph " + c.what + ": " + key + ": expected a string");
  }
  return it->get<std::string>();
}

namespace {

// An object id ("8b081ef6-4792-4def-b2c9-c363a1bf41d5"): used as it is, without a lookup.
bool is_object_id(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<std::string> GraphChatService::Impl::resolve_user(const std::string& user,
                                                         SteadyTime deadline) {
  const auto key = lower_ascii(user);
  {
    std::lock_guard lock(mutex_);
    if (const auto it = user_ids_.find(key); it != user_ids_.end()) return it->second;
  }
  if (is_object_id(user)) return key;
  if (user.empty() || user.size() > 256 || user.find('/') != std::string::npos) {
    return fail(Errc::invalid_argument, "Teams user: expected a UPN or e-mail, got '" + user + "'");
  }
  auto remember = [&](const std::string& id) -> Result<std::string> {
    std::lock_guard lock(mutex_);
    user_ids_[key] = id;
    return id;
  };
  // Graph "Get user": /users/{id | userPrincipalName}. An e-mail address that is not the UPN
  // is not found there.
  Call c{"GET", "/users/" + graph::url_encode(user) + "?$select=id,userPrincipalName", "",
         Auth::app, "user lookup of " + user};
  auto r = call(c, deadline);
  if (!r) return fail(r.error());
  if (r->status != 404) {
    auto j = expect_json(c, *r, {200});
    if (!j) return fail(j.error());
    auto id = string_field(c, *j, "id");
    if (!id) return fail(id.error());
    return remember(*id);
  }
  // Graph "List users" with $filter=mail eq '...' (single quotes doubled in OData literals).
  std::string literal;
  for (const char ch : user) literal += ch == '\'' ? std::string("''") : std::string(1, ch);
  Call by_mail{"GET",
               "/users?$filter=" + graph::url_encode("mail eq '" + literal + "'") +
                   "&$select=id,userPrincipalName,mail",
               "", Auth::app, "user lookup by mail of " + user};
  auto m = call(by_mail, deadline);
  if (!m) return fail(m.error());
  auto j = expect_json(by_mail, *m, {200});
  if (!j) return fail(j.error());
  const auto value = j->find("value");
  if (value == j->end() || !value->is_array()) {
    return fail(Errc::invalid_argument, "Graph " + by_mail.what + ": value: expected an array");
  }
  if (value->empty()) {
    return fail(Errc::not_found, "Teams user '" + user +
                                     "' does not exist in the tenant (Graph: no user with this "
                                     "userPrincipalName or mail)");
  }
  const auto& first = (*value)[0];
  if (!first.is_object() || !first.contains("id") || !first["id"].is_string()) {
    return fail(Errc::invalid_argument,
                "Graph " + by_mail.what + ": value[0].id: expected a string");
  }
  return remember(first["id"].get<std::string>());
}

Result<std::vector<json>> GraphChatService::Impl::get_pages(
    const Call& first, SteadyTime deadline, std::size_t max_pages,
    const std::function<bool(const json&)>& more) {
  std::vector<json> pages;
  Call c = first;
  for (std::size_t page = 0; page < max_pages; ++page) {
    auto r = call(c, deadline);
    if (!r) return fail(r.error());
    auto j = expect_json(c, *r, {200});
    if (!j) return fail(j.error());
    if (!j->contains("value") || !(*j)["value"].is_array()) {
      return fail(Errc::invalid_argument, "Graph " + c.what + ": value: expected an array");
    }
    pages.push_back(std::move(*j));
    const auto& last = pages.back();
    const auto next = last.find("@odata.nextLink");
    if (next == last.end() || !next->is_string()) return pages;
    if (more && !more(last)) return pages;
    const auto link = next->get<std::string>();
    if (!link.starts_with(s_.graph_url + "/")) {
      return fail(Errc::invalid_argument, "Graph " + first.what + ": @odata.nextLink '" + link +
                                              "' is not below graph_url " + s_.graph_url);
    }
    c.path = link.substr(s_.graph_url.size());
  }
  spdlog::warn("chat {}: Graph {}: stopped after {} pages", s_.name, first.what, max_pages);
  return pages;
}

Result<std::map<std::string, Presence>> GraphChatService::Impl::read_presences(
    const std::vector<std::string>& ids, SteadyTime deadline) {
  std::map<std::string, Presence> out;
  for (std::size_t first = 0; first < ids.size(); first += s_.presence_batch) {
    const auto last = std::min(ids.size(), first + s_.presence_batch);
    json body{{"ids", json::array()}};
    for (auto i = first; i < last; ++i) body["ids"].push_back(ids[i]);
    Call c{"POST", "/communications/getPresencesByUserId", body.dump(), Auth::app,
           "getPresencesByUserId"};
    auto r = call(c, deadline);
    if (!r) return fail(r.error());
    auto j = expect_json(c, *r, {200});
    if (!j) return fail(j.error());
    const auto value = j->find("value");
    if (value == j->end() || !value->is_array()) {
      return fail(Errc::invalid_argument, "Graph getPresencesByUserId: value: expected an array");
    }
    const auto now = clock_.now();
    for (std::size_t i = 0; i < value->size(); ++i) {
      const auto& p = (*value)[i];
      const std::string where = "Graph getPresencesByUserId: value[" + std::to_string(i) + "]";
      if (!p.is_object()) return fail(Errc::invalid_argument, where + ": expected an object");
      for (const char* field : {"id", "availability"}) {
        if (!p.contains(field) || !p[field].is_string()) {
          return fail(Errc::invalid_argument, where + "." + field + ": expected a string");
        }
      }
      std::string activity;
      if (p.contains("activity") && !p["activity"].is_null()) {
        if (!p["activity"].is_string()) {
          return fail(Errc::invalid_argument, where + ".activity: expected a string");
        }
        activity = p["activity"].get<std::string>();
      }
      std::string location;
      if (const auto w = p.find("workLocation"); w != p.end() && w->is_object()) {
        if (const auto t = w->find("workLocationType"); t != w->end() && t->is_string()) {
          location = t->get<std::string>();
        }
      }
      bool out_of_office = false;
      if (const auto o = p.find("outOfOfficeSettings"); o != p.end() && o->is_object()) {
        if (const auto b = o->find("isOutOfOffice"); b != o->end() && b->is_boolean()) {
          out_of_office = b->get<bool>();
        }
      }
      Presence presence;
      presence.availability =
          graph::map_availability(p["availability"].get<std::string>(), activity);
      presence.location = graph::map_work_location(location, activity, out_of_office);
      if (const auto sm = p.find("statusMessage"); sm != p.end() && sm->is_object()) {
        if (const auto m = sm->find("message"); m != sm->end() && m->is_object()) {
          if (const auto content = m->find("content");
              content != m->end() && content->is_string()) {
            presence.status_text = content->get<std::string>();
          }
        }
      }
      if (presence.status_text.empty()) presence.status_text = activity;
      presence.observed_at = now;
      out[p["id"].get<std::string>()] = std::move(presence);
    }
  }
  return out;
}

void GraphChatService::Impl::refresh_and_notify(const std::vector<std::string>& ids) {
  if (ids.empty()) return;
  auto presences = read_presences(ids, steady_now() + s_.request_timeout);
  if (!presences) {
    spdlog::warn("chat {}: presence read failed, trying again on the next round: {}", s_.name,
                 presences.error().describe());
    std::lock_guard lock(mutex_);
    retry_reads_.insert(ids.begin(), ids.end());
    return;
  }
  std::vector<std::pair<std::string, Presence>> changed;
  PresenceHandler handler;
  {
    std::lock_guard lock(mutex_);
    handler = presence_handler_;
    for (const auto& [id, p] : *presences) {
      const auto user = id_users_.find(id);
      if (user == id_users_.end()) continue;
      auto& last = last_presence_[id];
      Presence a = last, b = p;
      a.observed_at = b.observed_at = {};
      const bool rereport = rereport_.erase(id) > 0;
      if (a == b && last.observed_at != Timestamp{} && !rereport) continue;
      last = p;
      changed.emplace_back(user->second, p);
    }
  }
  if (handler) {
    for (const auto& [user, p] : changed) handler(user, p);
  }
}

// --- GraphChatService -------------------------------------------------------------------------

GraphChatService::GraphChatService(Settings settings, store::TableStore& tables, const Clock& clock)
    : impl_(std::make_unique<Impl>(std::move(settings), tables, clock)) {
  if (sodium_init() < 0) impl_->problem_ = "libsodium failed to initialise";
}

GraphChatService::~GraphChatService() {
  stop();
}

const std::string& GraphChatService::name() const {
  return impl_->s_.name;
}

ServiceState GraphChatService::state() const {
  std::lock_guard lock(impl_->mutex_);
  if (!impl_->problem_.empty()) return ServiceState::broken;
  // Presence works with the application token alone; without the service account no notice
  // goes out, so the service is not connected yet (and the web UI offers the sign-in).
  const bool signed_in = !impl_->delegated_.refresh_token.empty();
  return impl_->healthy_ && signed_in ? ServiceState::connected : ServiceState::connecting;
}

std::string GraphChatService::last_error() const {
  std::lock_guard lock(impl_->mutex_);
  if (!impl_->problem_.empty()) return impl_->problem_;
  if (impl_->delegated_.refresh_token.empty()) {
    return "the service account is not signed in: sign it in (Sign in with browser, or the "
           "device code)";
  }
  return {};
}

std::string GraphChatService::problem() const {
  std::lock_guard lock(impl_->mutex_);
  return impl_->problem_;
}

std::string GraphChatService::webhook_path() const {
  return "/api/v1/webhooks/graph/" + impl_->s_.name;
}

Result<void> GraphChatService::start() {
  if (auto ok = impl_->load_tokens(); !ok) {
    spdlog::warn("chat {}: stored tokens unusable: {}", name(), ok.error().describe());
  }
  std::lock_guard lock(impl_->mutex_);
  if (impl_->worker_.joinable()) return {};
  impl_->stopping_ = false;
  impl_->worker_ = std::thread([this] { impl_->worker_loop(); });
  return {};
}

void GraphChatService::stop() {
  {
    std::lock_guard lock(impl_->mutex_);
    impl_->stopping_ = true;
  }
  impl_->wake_.notify_all();
  if (impl_->worker_.joinable()) impl_->worker_.join();
}

void GraphChatService::Impl::decision_failed() {
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, user] : id_users_) {
      rereport_.insert(id);
      retry_reads_.insert(id);
    }
  }
  wake_.notify_all();
}

Result<std::map<std::string, Presence>> GraphChatService::presence(
    std::span<const std::string> users) {
  // A failed decision leaves jobs held by policy; the worker re-reads and reports the watched
  // users once Graph answers again, which makes the engine decide those jobs anew.
  if (auto ok = impl_->check_usable(); !ok) {
    impl_->decision_failed();
    return fail(ok.error());
  }
  const auto deadline = steady_now() + impl_->s_.timeout;
  std::vector<std::string> ids;
  std::map<std::string, std::vector<std::string>> users_of;
  for (const auto& user : users) {
    auto id = impl_->resolve_user(user, deadline);
    if (!id) {
      if (id.error().code == Errc::not_found) continue;  // unknown users are absent
      impl_->decision_failed();
      return fail(id.error());
    }
    if (!users_of.contains(*id)) ids.push_back(*id);
    users_of[*id].push_back(user);
  }
  auto presences = impl_->read_presences(ids, deadline);
  if (!presences) {
    impl_->decision_failed();
    return fail(presences.error());
  }
  std::map<std::string, Presence> out;
  for (const auto& [id, p] : *presences) {
    for (const auto& user : users_of[id]) out[user] = p;
  }
  return out;
}

Result<std::vector<std::string>> GraphChatService::channel_members(const std::string& channel) {
  if (auto ok = impl_->check_usable(); !ok) return fail(ok.error());
  const auto slash = channel.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == channel.size()) {
    return fail(Errc::invalid_argument,
                "Teams channel: expected \"<team id>/<channel id>\", got '" + channel + "'");
  }
  Impl::Call c{"GET",
               "/teams/" + graph::url_encode(channel.substr(0, slash)) + "/channels/" +
                   graph::url_encode(channel.substr(slash + 1)) + "/members",
               "", Impl::Auth::app, "channel members of " + channel};
  // Graph "List members of a channel" (aadUserConversationMember): userId is the object id,
  // which works where the member's email is not their UPN; all pages are read.
  auto pages = impl_->get_pages(c, steady_now() + impl_->s_.timeout, 20);
  if (!pages) return fail(pages.error());
  std::vector<std::string> members;
  for (const auto& page : *pages) {
    for (const auto& m : page["value"]) {
      if (!m.is_object()) continue;
      if (m.contains("userId") && m["userId"].is_string() &&
          !m["userId"].get<std::string>().empty()) {
        members.push_back(m["userId"].get<std::string>());
      } else if (m.contains("email") && m["email"].is_string() &&
                 !m["email"].get<std::string>().empty()) {
        members.push_back(m["email"].get<std::string>());
      }
    }
  }
  return members;
}

Result<void> GraphChatService::verify(const Recipient& recipient) {
  if (recipient.kind == RecipientKind::channel) {
    auto members = channel_members(recipient.address);
    if (!members) return fail(members.error());
    return {};
  }
  auto id = impl_->resolve_user(recipient.address, steady_now() + impl_->s_.request_timeout);
  if (!id) return fail(id.error());
  return {};
}

std::string GraphChatService::language(const std::string& user) const {
  const auto key = lower_ascii(user);
  {
    std::lock_guard lock(impl_->mutex_);
    if (const auto it = impl_->languages_.find(key); it != impl_->languages_.end()) {
      return it->second;
    }
  }
  if (!impl_->check_usable()) return {};
  const auto deadline = steady_now() + impl_->s_.timeout;
  auto id = impl_->resolve_user(user, deadline);
  if (!id) return {};  // unknown or unreachable now: asked again for the next notice
  // Graph "Get user" with $select=preferredLanguage ("user resource type": an ISO 639-1 code
  // with an optional region, "ja-JP"; null when not set).
  Impl::Call c{"GET", "/users/" + graph::url_encode(*id) + "?$select=id,preferredLanguage", "",
               Impl::Auth::app, "preferred language of " + user};
  auto r = impl_->call(c, deadline);
  if (!r) return {};
  std::string language;
  if (r->status == 403 || r->status == 404) {
    std::lock_guard lock(impl_->mutex_);
    if (!impl_->language_refusal_logged_) {
      impl_->language_refusal_logged_ = true;
      const auto code = graph_error_code(r->body);
      spdlog::info(
          "chat {}: Graph does not give the preferred language of {} (HTTP {}{}; it needs "
          "User.Read.All); notices use the recipient rule's language or [general] language, and "
          "this is not logged again",
          impl_->s_.name, user, r->status, code.empty() ? "" : " " + code);
    }
  } else {
    auto j = impl_->expect_json(c, *r, {200});
    if (!j) return {};  // a server error: asked again next time
    if (const auto it = j->find("preferredLanguage"); it != j->end() && it->is_string()) {
      language = it->get<std::string>();
    }
  }
  std::lock_guard lock(impl_->mutex_);
  impl_->languages_[key] = language;
  return language;
}

Result<void> GraphChatService::Impl::signed_in(graph::TokenSet tokens) {
  {
    std::lock_guard lock(mutex_);
    tokens_loaded_ = true;
    delegated_ = std::move(tokens);
    problem_.clear();
  }
  // Who signed in: the service account's id tells its own messages from replies.
  Call c{"GET", "/me?$select=id,userPrincipalName", "", Auth::delegated,
         "signed-in service account"};
  auto r = call(c, steady_now() + s_.request_timeout);
  if (!r) return fail(r.error());
  auto j = expect_json(c, *r, {200});
  if (!j) return fail(j.error());
  auto id = string_field(c, *j, "id");
  if (!id) return fail(id.error());
  std::lock_guard lock(mutex_);
  account_id_ = std::move(*id);
  account_upn_ = j->value("userPrincipalName", "");
  if (auto ok = save_tokens(); !ok) return fail(ok.error());
  watch_changed_ = true;  // subscriptions can now be made with the delegated token
  spdlog::info("chat {}: service account {} signed in", s_.name, account_upn_);
  return {};
}

namespace {

std::string base64url(const unsigned char* data, std::size_t size) {
  std::string out(sodium_base64_ENCODED_LEN(size, sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), data, size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::strlen(out.c_str()));
  return out;
}

}  // namespace

Result<BrowserSignIn> GraphChatService::begin_browser_sign_in(const std::string& redirect_uri) {
  const auto& s = impl_->s_;
  if (!redirect_uri.starts_with("https://") && !redirect_uri.starts_with("http://")) {
    return fail(
        Errc::invalid_argument,
        "browser sign-in: redirect_uri: expected an http(s) URL, got '" + redirect_uri + "'");
  }
  // RFC 7636: a verifier of 43 characters from 32 random bytes, and its S256 challenge.
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  BrowserSignIn out;
  out.code_verifier = base64url(raw, sizeof raw);
  randombytes_buf(raw, sizeof raw);
  out.state = base64url(raw, sizeof raw);
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(out.code_verifier.data()),
                     out.code_verifier.size());
  sodium_memzero(raw, sizeof raw);
  out.redirect_uri = redirect_uri;
  out.expires_at = impl_->clock_.now() + std::chrono::minutes(10);
  out.authorize_url =
      s.login_url + "/" + graph::url_encode(s.tenant) +
      "/oauth2/v2.0/authorize?client_id=" + graph::url_encode(s.client_id) +
      "&response_type=code&response_mode=query&redirect_uri=" + graph::url_encode(redirect_uri) +
      "&scope=" + graph::url_encode(delegated_scope_list(s)) + "&state=" + out.state +
      "&code_challenge=" + base64url(digest, sizeof digest) +
      "&code_challenge_method=S256&prompt=select_account";
  spdlog::info("chat {}: browser sign-in started (authorization code with PKCE)", name());
  return out;
}

Result<void> GraphChatService::finish_browser_sign_in(const BrowserSignIn& sign_in,
                                                      const std::string& code) {
  const auto& s = impl_->s_;
  if (impl_->clock_.now() >= sign_in.expires_at) {
    return fail(Errc::timeout, "browser sign-in: the attempt expired; start it again");
  }
  std::string form = "grant_type=authorization_code&client_id=" + graph::form_encode(s.client_id) +
                     "&client_secret=" + graph::form_encode(s.client_secret) +
                     "&code=" + graph::form_encode(code) +
                     "&redirect_uri=" + graph::form_encode(sign_in.redirect_uri) +
                     "&code_verifier=" + graph::form_encode(sign_in.code_verifier) +
                     "&scope=" + graph::form_encode(delegated_scope_list(s));
  auto reply =
      graph::token_request(s.login_url + "/" + graph::url_encode(s.tenant) + "/oauth2/v2.0/token",
                           form, s.request_timeout, impl_->clock_.now());
  sodium_memzero(form.data(), form.size());
  if (!reply) return fail(reply.error());
  auto& tokens = reply->tokens;
  if (!tokens) {
    return fail(Errc::permission_denied,
                "browser sign-in refused: " + reply->error + " " + reply->description);
  }
  return impl_->signed_in(std::move(*tokens));
}

Result<DeviceSignIn> GraphChatService::begin_device_sign_in() {
  const auto& s = impl_->s_;
  const std::string form = "client_id=" + graph::form_encode(s.client_id) +
                           "&scope=" + graph::form_encode(delegated_scope_list(s));
  auto reply = graph::device_code_request(
      s.login_url + "/" + graph::url_encode(s.tenant) + "/oauth2/v2.0/devicecode", form,
      s.request_timeout);
  if (!reply) return fail(reply.error());
  DeviceSignIn out;
  out.user_code = reply->user_code;
  out.verification_uri = reply->verification_uri;
  out.message = reply->message;
  out.interval = reply->interval;
  out.expires_at = impl_->clock_.now() + reply->expires_in;
  out.device_code = reply->device_code;
  spdlog::info("chat {}: device code sign-in started; the admin enters the code at {}", name(),
               out.verification_uri);
  return out;
}

Result<SignInStatus> GraphChatService::poll_device_sign_in(DeviceSignIn& sign_in) {
  const auto& s = impl_->s_;
  if (impl_->clock_.now() >= sign_in.expires_at) return SignInStatus::expired;
  const std::string form =
      "grant_type=" + graph::form_encode("urn:ietf:params:oauth:grant-type:device_code") +
      "&client_id=" + graph::form_encode(s.client_id) +
      "&device_code=" + graph::form_encode(sign_in.device_code);
  auto reply =
      graph::token_request(s.login_url + "/" + graph::url_encode(s.tenant) + "/oauth2/v2.0/token",
                           form, s.request_timeout, impl_->clock_.now());
  if (!reply) return fail(reply.error());
  auto& tokens = reply->tokens;
  if (!tokens) {
    if (reply->error == "authorization_pending") return SignInStatus::pending;
    if (reply->error == "slow_down") {
      sign_in.interval += std::chrono::seconds(5);  // RFC 8628 section 3.5
      return SignInStatus::slow_down;
    }
    if (reply->error == "expired_token" || reply->error == "code_expired") {
      return SignInStatus::expired;
    }
    if (reply->error == "access_denied" || reply->error == "authorization_declined") {
      return SignInStatus::denied;
    }
    if (reply->error == "bad_verification_code") {
      return fail(Errc::invalid_argument,
                  "device code sign-in: the identity platform does not know this device code "
                  "(bad_verification_code: " +
                      reply->description + "); start the sign-in again");
    }
    return fail(Errc::permission_denied,
                "device code sign-in failed: " + reply->error + " " + reply->description);
  }
  if (auto ok = impl_->signed_in(std::move(*tokens)); !ok) return fail(ok.error());
  return SignInStatus::signed_in;
}

}  // namespace atdesk::chat
