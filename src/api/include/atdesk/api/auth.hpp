// Who may call the API. Every route except GET /healthz goes through an Authenticator, which
// names the caller (the Actor recorded in job history and the audit log) or refuses the request.
// Today: the admin bearer token. The web UI will add a session-cookie authenticator (with a CSRF
// check on unsafe methods) behind the same interface.
#pragma once

#include <array>
#include <expected>
#include <functional>
#include <string>
#include <string_view>

#include "atdesk/api/http_server.hpp"

namespace atdesk::api {

// The caller in the words of the audit log: "api:admin", later "user:alice".
using Actor = std::string;

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

using AuthenticatedHandler = std::function<Response(const Request&, const Actor&)>;

// A handler that runs `handler` only for requests `auth` accepts (it must outlive the handler);
// refused requests get the denial as JSON, with WWW-Authenticate on 401.
Handler authenticated(const Authenticator& auth, AuthenticatedHandler handler);

// The response for a refused request: {"error": {"code": "unauthenticated" (401) or
// "permission_denied" (403), "message": ...}}.
Response denial_response(const Denial& denial);

}  // namespace atdesk::api
