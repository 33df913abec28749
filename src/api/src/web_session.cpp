// Sessions, the session authenticator and the web UI's own API routes (sign in/out, accounts,
// my settings).
#include "atdesk/api/web_session.hpp"

#include <sodium.h>
#include <strings.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "atdesk/api/ipp_tokens.hpp"
#include "atdesk/api/json_mapping.hpp"

namespace atdesk::api {
namespace {

std::string random_token() {
  std::array<unsigned char, 32> bytes{};
  randombytes_buf(bytes.data(), bytes.size());
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                  '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::string id_key(std::string_view id) {
  const auto hash = hash_token(id);
  std::string hex(hash.size() * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), hash.data(), hash.size());
  hex.pop_back();
  return hex;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

Response json_response(int status, const Json& body) {
  return Response::json_text(status, dump_json(body));
}

Json account_json(const Account& a) {
  return Json{
      {"name", a.name}, {"role", std::string(to_string(a.role))}, {"recipients", a.recipients}};
}

Response forbidden_unless_admin(const Principal& who) {
  return Response::error(403, "permission_denied",
                         "this needs the admin role (signed in as " + who.actor + ")");
}

// A JSON object body with only `keys`.
Result<Json> object_body(const Request& request, std::initializer_list<std::string_view> keys) {
  auto j = parse_json(request.body.empty() ? std::string("{}") : request.body);
  if (!j) return fail(j.error());
  if (!j->is_object()) return fail(Errc::invalid_argument, "request body: expected a JSON object");
  for (const auto& [key, value] : j->items()) {
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      std::string list;
      for (auto k : keys) list += (list.empty() ? "" : ", ") + std::string(k);
      return fail(Errc::invalid_argument,
                  "request body: unknown field \"" + key + "\" (expected: " + list + ")");
    }
  }
  return j;
}

Result<std::optional<std::string>> string_field(const Json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::optional<std::string>{};
  if (!j[key].is_string())
    return fail(Errc::invalid_argument, std::string(key) + ": expected a string");
  return std::optional<std::string>(j[key].get<std::string>());
}

Result<std::optional<std::vector<std::string>>> strings_field(const Json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::optional<std::vector<std::string>>{};
  if (!j[key].is_array()) {
    return fail(Errc::invalid_argument, std::string(key) + ": expected a list of strings");
  }
  std::vector<std::string> out;
  for (const auto& v : j[key]) {
    if (!v.is_string()) {
      return fail(Errc::invalid_argument, std::string(key) + ": expected a list of strings");
    }
    out.push_back(v.get<std::string>());
  }
  return std::optional<std::vector<std::string>>(std::move(out));
}

Result<std::optional<Role>> role_field(const Json& j) {
  auto text = string_field(j, "role");
  if (!text) return fail(text.error());
  const std::optional<std::string>& given = *text;
  if (!given) return std::optional<Role>{};
  auto role = parse_role(*given);
  if (!role) return fail(Errc::invalid_argument, "role: expected admin or user");
  return std::optional<Role>(*role);
}

constexpr std::string_view kDefaultPrinterNs = "web.default_printer";

}  // namespace

std::string sign_in_key(std::string_view account, std::string_view address) {
  // A newline cannot be in an account name nor an address: the key cannot be forged by either.
  return "account:" + std::string(account) + "\n" + std::string(address);
}

std::optional<std::string> request_cookie(const Request& request, std::string_view name) {
  for (const auto& [field, value] : request.headers) {
    if (field.size() != 6 || strncasecmp(field.c_str(), "cookie", 6) != 0) continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      const auto semi = rest.find(';');
      const auto pair = rest.substr(0, semi);
      const auto eq = pair.find('=');
      if (eq != std::string_view::npos && trim(pair.substr(0, eq)) == name) {
        return trim(pair.substr(eq + 1));
      }
      if (semi == std::string_view::npos) break;
      rest.remove_prefix(semi + 1);
    }
  }
  return std::nullopt;
}

bool is_safe_method(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS";
}

std::pair<std::string, SessionStore::Session> SessionStore::create(const std::string& account) {
  auto id = random_token();
  Session s{account, random_token(), clock_.now() + settings_.lifetime};
  std::lock_guard lock(mutex_);
  const auto now = clock_.now();
  std::erase_if(sessions_, [&](const auto& e) { return e.second.expires <= now; });
  if (sessions_.size() >= settings_.max_sessions) {
    // Make room by dropping the session closest to expiry.
    auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](auto& a, auto& b) {
      return a.second.expires < b.second.expires;
    });
    sessions_.erase(oldest);
  }
  sessions_[id_key(id)] = s;
  return {std::move(id), std::move(s)};
}

std::optional<SessionStore::Session> SessionStore::find(std::string_view id) const {
  if (id.empty() || id.size() > 128) return std::nullopt;
  const auto key = id_key(id);
  std::lock_guard lock(mutex_);
  const auto it = sessions_.find(key);
  if (it == sessions_.end()) return std::nullopt;
  if (it->second.expires <= clock_.now()) {
    sessions_.erase(it);
    return std::nullopt;
  }
  return it->second;
}

void SessionStore::remove(std::string_view id) {
  const auto key = id_key(id);
  std::lock_guard lock(mutex_);
  sessions_.erase(key);
}

void SessionStore::remove_account(const std::string& account) {
  std::lock_guard lock(mutex_);
  std::erase_if(sessions_, [&](const auto& e) { return e.second.account == account; });
}

std::string SessionStore::set_cookie(const std::string& id) const {
  return std::string(kSessionCookie) + "=" + id + "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" +
         std::to_string(settings_.lifetime.count()) + (settings_.secure_cookies ? "; Secure" : "");
}

std::string SessionStore::clear_cookie() const {
  return std::string(kSessionCookie) + "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0" +
         (settings_.secure_cookies ? "; Secure" : "");
}

std::expected<Actor, Denial> SessionAuthenticator::authenticate(const Request& request) const {
  auto who = identify(request);
  if (!who) return std::unexpected(who.error());
  return who->actor;
}

std::expected<Principal, Denial> SessionAuthenticator::identify(const Request& request) const {
  const auto id = request_cookie(request, kSessionCookie);
  if (!id || id->empty()) {
    return std::unexpected(
        Denial{401,
               "this request needs a session (sign in at /signin) or an Authorization: Bearer "
               "<token> field"});
  }
  const auto session = sessions_.find(*id);
  if (!session) {
    return std::unexpected(Denial{401, "the session has expired or was signed out; sign in again"});
  }
  if (!is_safe_method(request.method)) {
    const auto token = request.header(kCsrfHeader);
    if (!token || token->size() != session->csrf.size() ||
        sodium_memcmp(token->data(), session->csrf.data(), token->size()) != 0) {
      return std::unexpected(
          Denial{403, "X-CSRF-Token: missing or wrong (a change needs the page's CSRF token)"});
    }
  }
  auto account = accounts_.find(session->account);
  const std::optional<Account> found = account ? *account : std::nullopt;
  if (!found) return std::unexpected(Denial{401, "the account of this session no longer exists"});
  return Principal{"user:" + found->name, found->role, found->name, found->recipients};
}

std::string user_default_printer(store::TableStore& tables, const std::string& account) {
  auto v = tables.get_setting(std::string(kDefaultPrinterNs), account);
  return v.value_or(std::nullopt).value_or(std::string());
}

void install_web_api(Router& router, const WebApiContext& c) {
  const std::string p = "/api/v1";

  router.add_public(
      "POST", p + "/session",
      [c](const Request& request) {
        // Only JSON: a cross-site HTML form cannot send it without a CORS preflight.
        const auto type = request.header("Content-Type").value_or("");
        if (type.substr(0, 16) != "application/json") {
          return Response::error(415, "unsupported", "Content-Type: expected application/json");
        }
        auto j = object_body(request, {"user", "password"});
        if (!j) return Response::error(j.error());
        auto user = string_field(*j, "user");
        auto password = string_field(*j, "password");
        if (!user || !*user || (*user)->empty()) {
          return Response::error(400, "invalid_argument", "user: expected the account name");
        }
        if (!password || !*password) {
          return Response::error(400, "invalid_argument", "password: expected the password");
        }
        const std::string name = (*user)->substr(0, 64);
        const std::string pair_key = sign_in_key(name, request.remote);
        const std::string address_key = "address:" + request.remote;
        const auto refuse = [&](std::chrono::milliseconds wait, const std::string& why) {
          const auto seconds = std::max<long long>(1, (wait.count() + 999) / 1000);
          (void)c.engine.record_audit("web:" + request.remote, "session.refused", "account " + name,
                                      why);
          auto r = Response::error(
              429, "limit_exceeded",
              "too many failed sign-ins; try again in " + std::to_string(seconds) + " s");
          r.headers.emplace_back("Retry-After", std::to_string(seconds));
          return r;
        };
        // This account from this address: locked after five failures, the right password
        // included (that is what stops guessing). Other addresses and accounts are not affected.
        if (const auto wait = c.limiter.locked_for(pair_key); wait.count() > 0) {
          return refuse(wait, "sign-in attempted while locked");
        }
        const auto address_wait = c.limiter.locked_for(address_key);
        auto account = c.accounts.verify(name, **password);
        if (!account) return Response::error(account.error());
        if (!*account) {
          c.limiter.failure(pair_key);
          // Names that are no account count against the address: made-up names cannot lock a
          // real account out. While the address is locked every failure from it gets the same
          // 429 (so it does not tell which names exist); a right password still signs in.
          auto known = c.accounts.find(name);
          if (known && !*known) c.limiter.failure(address_key);
          if (address_wait.count() > 0) {
            return refuse(address_wait, "wrong user name or password from a locked address");
          }
          (void)c.engine.record_audit("web:" + request.remote, "session.refused", "account " + name,
                                      "wrong user name or password");
          return Response::error(401, "unauthenticated", "wrong user name or password");
        }
        c.limiter.success(pair_key);
        auto [id, session] = c.sessions.create(name);
        (void)c.engine.record_audit("user:" + name, "session.start", "account " + name,
                                    "signed in from " + request.remote);
        auto body = account_json(**account);
        body["user"] = name;
        body["csrf"] = session.csrf;
        body["expires"] = format_time(session.expires);
        auto r = json_response(200, body);
        r.headers.emplace_back("Set-Cookie", c.sessions.set_cookie(id));
        r.headers.emplace_back("Cache-Control", "no-store");
        return r;
      },
      "the sign-in itself: checks the password, limited per account and address");

  router.add("GET", p + "/session",
             authorized(c.auth, [c](const Request& request, const Principal& who) {
               Json body{{"user", who.account.empty() ? who.actor : who.account},
                         {"actor", who.actor},
                         {"role", std::string(to_string(who.role))},
                         {"recipients", who.recipients},
                         {"csrf", ""}};
               if (auto id = request_cookie(request, kSessionCookie)) {
                 if (auto s = c.sessions.find(*id)) {
                   body["csrf"] = s->csrf;
                   body["expires"] = format_time(s->expires);
                 }
               }
               auto r = json_response(200, body);
               r.headers.emplace_back("Cache-Control", "no-store");
               return r;
             }));

  router.add("DELETE", p + "/session",
             authorized(c.auth, [c](const Request& request, const Principal& who) {
               if (auto id = request_cookie(request, kSessionCookie)) c.sessions.remove(*id);
               (void)c.engine.record_audit(who.actor, "session.end", who.actor, "signed out");
               auto r = Response::no_content();
               r.headers.emplace_back("Set-Cookie", c.sessions.clear_cookie());
               return r;
             }));

  router.add("GET", p + "/accounts", authorized(c.auth, [c](const Request&, const Principal& who) {
               if (who.role != Role::admin) return forbidden_unless_admin(who);
               auto list = c.accounts.list();
               if (!list) return Response::error(list.error());
               Json out = Json::array();
               for (const auto& a : *list) out.push_back(account_json(a));
               return json_response(200, Json{{"accounts", std::move(out)}});
             }));

  router.add("POST", p + "/accounts",
             authorized(c.auth, [c](const Request& request, const Principal& who) {
               if (who.role != Role::admin) return forbidden_unless_admin(who);
               auto j = object_body(request, {"name", "password", "role", "recipients"});
               if (!j) return Response::error(j.error());
               auto name = string_field(*j, "name");
               auto password = string_field(*j, "password");
               auto role = role_field(*j);
               auto recipients = strings_field(*j, "recipients");
               if (!name) return Response::error(name.error());
               if (!password) return Response::error(password.error());
               if (!role) return Response::error(role.error());
               if (!recipients) return Response::error(recipients.error());
               if (!*name)
                 return Response::error(400, "invalid_argument", "name: expected a string");
               if (!*password) {
                 return Response::error(400, "invalid_argument", "password: expected a string");
               }
               auto account = c.accounts.create(**name, **password, role->value_or(Role::user),
                                                recipients->value_or(std::vector<std::string>{}));
               if (!account) return Response::error(account.error());
               (void)c.engine.record_audit(who.actor, "account.add", "account " + account->name,
                                           "role " + std::string(to_string(account->role)));
               return json_response(201, account_json(*account));
             }));

  router.add("PUT", p + "/accounts/{name}",
             authorized(c.auth, [c](const Request& request, const Principal& who) {
               if (who.role != Role::admin) return forbidden_unless_admin(who);
               const std::string name(request.param("name"));
               auto j = object_body(request, {"name", "password", "role", "recipients"});
               if (!j) return Response::error(j.error());
               auto password = string_field(*j, "password");
               auto role = role_field(*j);
               auto recipients = strings_field(*j, "recipients");
               if (!password) return Response::error(password.error());
               if (!role) return Response::error(role.error());
               if (!recipients) return Response::error(recipients.error());
               if (name == who.account && *role && **role != Role::admin) {
                 return Response::error(409, "conflict",
                                        "role: you cannot take the admin role from yourself");
               }
               std::optional<std::string_view> pw;
               if (*password) pw = **password;
               auto account = c.accounts.update(name, *role, std::move(*recipients), pw);
               if (!account) return Response::error(account.error());
               if (pw) c.sessions.remove_account(name);
               // Saving an account (even with no change) unlocks its sign-in from every address.
               c.limiter.forget(sign_in_key(name, ""));
               (void)c.engine.record_audit(who.actor, "account.update", "account " + name,
                                           "role " + std::string(to_string(account->role)) +
                                               (pw ? ", password changed" : ""));
               return json_response(200, account_json(*account));
             }));

  router.add("DELETE", p + "/accounts/{name}",
             authorized(c.auth, [c](const Request& request, const Principal& who) {
               if (who.role != Role::admin) return forbidden_unless_admin(who);
               const std::string name(request.param("name"));
               if (name == who.account) {
                 return Response::error(409, "conflict", "you cannot delete your own account");
               }
               if (auto ok = c.accounts.remove(name); !ok) return Response::error(ok.error());
               c.sessions.remove_account(name);
               (void)c.engine.record_audit(who.actor, "account.remove", "account " + name, "");
               return Response::no_content();
             }));

  // Personal print queue tokens (atdesk-ippd's /ipp/print/u/<token>): admins only; the token
  // is in the answer to POST and nowhere else.
  router.add("GET", p + "/ipp-tokens",
             authorized(c.auth, [c](const Request&, const Principal& who) {
               if (who.role != Role::admin) return forbidden_unless_admin(who);
               auto list = IppTokenStore(c.tables).list();
               if (!list) return Response::error(list.error());
               Json out = Json::array();
               for (const auto& t : *list) out.push_back(Json{{"id", t.id}, {"user", t.user}});
               return json_response(200, Json{{"tokens", std::move(out)}});
             }));

  router.add("POST", p + "/ipp-tokens",
             authorized(c.auth, [c](const Request& request, const Principal& who) {
               if (who.role != Role::admin) return forbidden_unless_admin(who);
               auto j = object_body(request, {"user"});
               if (!j) return Response::error(j.error());
               auto user = string_field(*j, "user");
               if (!user) return Response::error(user.error());
               if (!*user)
                 return Response::error(400, "invalid_argument", "user: expected a string");
               auto made = IppTokenStore(c.tables).create(**user);
               if (!made) return Response::error(made.error());
               (void)c.engine.record_audit(who.actor, "ipp_token.add",  // logged if it fails
                                           "IPP token " + made->record.id,
                                           "for " + made->record.user);
               return json_response(201, Json{{"id", made->record.id},
                                              {"user", made->record.user},
                                              {"token", made->token},
                                              {"path", "/ipp/print/u/" + made->token}});
             }));

  router.add("DELETE", p + "/ipp-tokens/{id}",
             authorized(c.auth, [c](const Request& request, const Principal& who) {
               if (who.role != Role::admin) return forbidden_unless_admin(who);
               const std::string id(request.param("id"));
               if (auto ok = IppTokenStore(c.tables).revoke(id); !ok) {
                 return Response::error(ok.error());
               }
               (void)c.engine.record_audit(who.actor, "ipp_token.revoke",  // logged if it fails
                                           "IPP token " + id, "");
               return Response::no_content();
             }));

  // My settings: "hold everything until I resume" (the engine's hold flag of each of my
  // recipient keys, the same one the chat commands hold/resume set) and my default printer.
  auto me_json = [c](const Principal& who) {
    bool hold = !who.recipients.empty();
    for (const auto& r : who.recipients) hold = hold && c.engine.hold_all(r);
    return Json{
        {"user", who.account.empty() ? who.actor : who.account},
        {"role", std::string(to_string(who.role))},
        {"recipients", who.recipients},
        {"hold_all", hold},
        {"default_printer",
         who.account.empty() ? std::string() : user_default_printer(c.tables, who.account)}};
  };
  router.add("GET", p + "/me", authorized(c.auth, [me_json](const Request&, const Principal& who) {
               return json_response(200, me_json(who));
             }));
  router.add(
      "PUT", p + "/me",
      authorized(c.auth, [c, me_json](const Request& request, const Principal& who) {
        auto j = object_body(request, {"hold_all", "default_printer"});
        if (!j) return Response::error(j.error());
        if (j->contains("hold_all")) {
          if (!(*j)["hold_all"].is_boolean()) {
            return Response::error(400, "invalid_argument", "hold_all: expected true or false");
          }
          if (who.recipients.empty()) {
            return Response::error(409, "conflict",
                                   "hold_all: this account is no recipient (an admin "
                                   "gives it recipient keys)");
          }
          const bool on = (*j)["hold_all"].get<bool>();
          for (const auto& r : who.recipients) {
            if (auto ok = c.engine.set_hold_all(r, on, who.actor); !ok) {
              return Response::error(ok.error());
            }
          }
        }
        auto printer = string_field(*j, "default_printer");
        if (!printer) return Response::error(printer.error());
        if (*printer) {
          if (who.account.empty()) {
            return Response::error(409, "conflict", "default_printer: only for signed-in accounts");
          }
          if (!(*printer)->empty()) {
            const auto printers = c.engine.printers();
            const bool known = std::any_of(printers.begin(), printers.end(),
                                           [&](const auto& s) { return s.name == **printer; });
            if (!known) {
              return Response::error(400, "invalid_argument",
                                     "default_printer: no printer named \"" + **printer + "\"");
            }
          }
          if (auto ok =
                  c.tables.put_setting(std::string(kDefaultPrinterNs), who.account, **printer);
              !ok) {
            return Response::error(ok.error());
          }
          (void)c.engine.record_audit(who.actor, "user.default_printer", who.actor,
                                      (*printer)->empty() ? "none" : **printer);
        }
        return json_response(200, me_json(who));
      }));
}

}  // namespace atdesk::api
