// Who may call the API. Every route except GET /healthz goes through an Authenticator, which
// names the caller (the Actor recorded in job history and the audit log) and their role, or
// refuses the request. The admin bearer token (TokenAuthenticator) is an administrator; the web
// UI's session cookies (web_session.hpp) name a local account with its role; a
// CompositeAuthenticator accepts either.
#pragma once

#include <array>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atdesk/api/http_server.hpp"
#include "atdesk/api/principal.hpp"

namespace atdesk::api {

// Why a request was refused: 401 (no or unusable credentials; `challenge` becomes the
// WWW-Authenticate field) or 403 (credentials accepted but the request is not allowed, e.g. a
// cookie session without its CSRF token).
struct Denial {
  int status = 401;
  std::string message;
  std::string challenge = "Bearer realm=\"atdesk\"";
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  Authenticator() = default;
  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;

  virtual std::expected<Actor, Denial> authenticate(const Request& request) const = 0;
  // The caller with their role. By default the actor authenticate() names, as an administrator
  // (a bearer token is the administrator's).
  virtual std::expected<Principal, Denial> identify(const Request& request) const;
};

// BLAKE2b-256 (libsodium crypto_generichash) of a token. Only hashes are kept and compared, so
// the comparison takes the same time whatever the length or content of the presented token.
using TokenHash = std::array<unsigned char, 32>;
TokenHash hash_token(std::string_view token);

// Accepts `Authorization: Bearer <token>` when the token's hash equals the admin token's hash
// (sodium_memcmp, constant time).
class TokenAuthenticator final : public Authenticator {
 public:
  explicit TokenAuthenticator(const TokenHash& admin_token_hash, Actor actor = "api:admin");
  // Hashes `admin_token` at once; the token itself is not kept.
  explicit TokenAuthenticator(std::string_view admin_token, Actor actor = "api:admin");

  std::expected<Actor, Denial> authenticate(const Request& request) const override;

 private:
  TokenHash hash_{};
  Actor actor_;
};

// Bearer token when the request has an Authorization field, else the session cookie: a
// request is judged by the credentials it presents (an Authorization field that fails is not
// retried as a cookie). Both must outlive it.
class CompositeAuthenticator final : public Authenticator {
 public:
  CompositeAuthenticator(const Authenticator& bearer, const Authenticator& session)
      : bearer_(bearer), session_(session) {}
  std::expected<Actor, Denial> authenticate(const Request& request) const override;
  std::expected<Principal, Denial> identify(const Request& request) const override;

 private:
  const Authenticator& pick(const Request& request) const;
  const Authenticator& bearer_;
  const Authenticator& session_;
};

using AuthenticatedHandler = std::function<Response(const Request&, const Actor&)>;
using PrincipalHandler = std::function<Response(const Request&, const Principal&)>;

// A handler that runs `handler` only for requests `auth` accepts (it must outlive the handler);
// refused requests get the denial as JSON, with WWW-Authenticate on 401. When the router has
// identified the caller with the same authenticator already (Request::principal), that answer is
// used instead of asking again (one session look-up and account read per request, not two).
Handler authenticated(const Authenticator& auth, AuthenticatedHandler handler);
// The same with the whole Principal (role and recipient keys), for routes that scope by role.
Handler authorized(const Authenticator& auth, PrincipalHandler handler);

// The response for a refused request: {"error": {"code": "unauthenticated" (401) or
// "permission_denied" (403), "message": ...}}.
Response denial_response(const Denial& denial);

}  // namespace atdesk::api
