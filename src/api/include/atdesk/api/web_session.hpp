// Web UI sessions: sign-in with a local account sets a random 256-bit session id in an
// HttpOnly, SameSite=Strict cookie (Secure when configured); only the id's hash is kept, in
// memory (a restart signs everyone out). Each session has a CSRF token that the page gets from
// GET /api/v1/session and must send as X-CSRF-Token on every unsafe request (403 otherwise).
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "atdesk/api/accounts.hpp"
#include "atdesk/api/auth.hpp"
#include "atdesk/api/http_server.hpp"
#include "atdesk/core/clock.hpp"
#include "atdesk/engine/engine.hpp"

namespace atdesk::api {

inline constexpr std::string_view kSessionCookie = "atdesk_session";
inline constexpr std::string_view kCsrfHeader = "X-CSRF-Token";

// The value of cookie `name` in the request's Cookie fields.
std::optional<std::string> request_cookie(const Request& request, std::string_view name);
// GET, HEAD and OPTIONS change nothing; every other method needs the CSRF token.
bool is_safe_method(std::string_view method);

class SessionStore {
 public:
  struct Settings {
    std::chrono::seconds lifetime{8 * 3600};
    bool secure_cookies = false;  // add Secure (when atdeskd is behind HTTPS)
    std::size_t max_sessions = 10000;
  };
  struct Session {
    std::string account;
    std::string csrf;
    Timestamp expires{};
  };

  SessionStore(Settings settings, const Clock& clock) : settings_(settings), clock_(clock) {}

  // A new session: returns the id for the cookie (shown once, never stored) and the session.
  std::pair<std::string, Session> create(const std::string& account);
  // The session of a cookie value, unless unknown or expired (an expired one is dropped).
  std::optional<Session> find(std::string_view id) const;
  void remove(std::string_view id);
  // Signs an account out everywhere (password changed, account deleted).
  void remove_account(const std::string& account);

  std::string set_cookie(const std::string& id) const;  // Set-Cookie value
  std::string clear_cookie() const;                     // Set-Cookie value that deletes it
  const Settings& settings() const { return settings_; }

 private:
  Settings settings_;
  const Clock& clock_;
  mutable std::mutex mutex_;
  mutable std::map<std::string, Session> sessions_;  // by hex BLAKE2b-256 of the id
};

// Accepts a request with a live session cookie of an existing account; unsafe methods also need
// X-CSRF-Token equal to the session's token (else 403). The actor is "user:<account>".
class SessionAuthenticator final : public Authenticator {
 public:
  SessionAuthenticator(const SessionStore& sessions, const AccountStore& accounts)
      : sessions_(sessions), accounts_(accounts) {}
  std::expected<Actor, Denial> authenticate(const Request& request) const override;
  std::expected<Principal, Denial> identify(const Request& request) const override;

 private:
  const SessionStore& sessions_;
  const AccountStore& accounts_;
};

// The sign-in limiter's key for one account from one client address (docs/web-ui.md).
std::string sign_in_key(std::string_view account, std::string_view address);

struct WebApiContext {
  engine::Engine& engine;
  AccountStore& accounts;
  SessionStore& sessions;
  SignInLimiter& limiter;
  store::TableStore& tables;  // "my settings" (web.default_printer)
  const Authenticator& auth;  // bearer or session (CompositeAuthenticator)
};

// Routes of the web UI's API (docs/web-ui.md): POST/GET/DELETE /api/v1/session (sign in, who
// am I + CSRF token, sign out), /api/v1/accounts (admin), /api/v1/ipp-tokens (admin: personal
// print queue tokens), GET/PUT /api/v1/me (my settings).
// `context` members must outlive the router.
void install_web_api(Router& router, const WebApiContext& context);

// The default printer a user chose in "my settings" (empty: none).
std::string user_default_printer(store::TableStore& tables, const std::string& account);

}  // namespace atdesk::api
