// Bearer-token authentication with constant-time comparison of token hashes.
#include "atdesk/api/auth.hpp"

#include <sodium.h>

#include <algorithm>

namespace atdesk::api {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

// RFC 6750 b64token: ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/", then "=" padding.
bool is_b64token(std::string_view t) {
  if (t.empty()) return false;
  std::size_t end = t.size();
  while (end > 0 && t[end - 1] == '=') --end;
  if (end == 0) return false;
  return std::all_of(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(end), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
  });
}

Denial invalid_token(std::string message) {
  return Denial{401, std::move(message), "Bearer realm=\"atdesk\", error=\"invalid_token\""};
}

}  // namespace

TokenHash hash_token(std::string_view token) {
  TokenHash out{};
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(token.data()),
                     token.size(), nullptr, 0);
  return out;
}

TokenAuthenticator::TokenAuthenticator(const TokenHash& admin_token_hash, Actor actor)
    : hash_(admin_token_hash), actor_(std::move(actor)) {}

TokenAuthenticator::TokenAuthenticator(std::string_view admin_token, Actor actor)
    : hash_(hash_token(admin_token)), actor_(std::move(actor)) {}

std::expected<Actor, Denial> TokenAuthenticator::authenticate(const Request& request) const {
  const auto field = request.header("Authorization");
  if (!field) {
    return std::unexpected(
        Denial{401, "this request needs an Authorization: Bearer <token> field"});
  }
  std::string_view value = *field;
  while (!value.empty() && is_space(value.front())) value.remove_prefix(1);
  while (!value.empty() && is_space(value.back())) value.remove_suffix(1);
  const auto space = value.find_first_of(" \t");
  const auto scheme = value.substr(0, space);
  const bool bearer =
      scheme.size() == 6 && std::equal(scheme.begin(), scheme.end(), "bearer", [](char a, char b) {
        return (a >= 'A' && a <= 'Z' ? static_cast<char>(a - 'A' + 'a') : a) == b;
      });
  if (!bearer) {
    return std::unexpected(Denial{401, "Authorization: expected the Bearer scheme"});
  }
  auto token = space == std::string_view::npos ? std::string_view{} : value.substr(space);
  while (!token.empty() && is_space(token.front())) token.remove_prefix(1);
  if (!is_b64token(token)) {
    return std::unexpected(invalid_token("Authorization: expected Bearer followed by a token"));
  }
  const auto presented = hash_token(token);
  if (sodium_memcmp(presented.data(), hash_.data(), hash_.size()) != 0) {
    return std::unexpected(invalid_token("the bearer token is not valid"));
  }
  return actor_;
}

std::string_view to_string(Role role) {
  return role == Role::admin ? "admin" : "user";
}

std::optional<Role> parse_role(std::string_view text) {
  if (text == "admin") return Role::admin;
  if (text == "user") return Role::user;
  return std::nullopt;
}

std::expected<Principal, Denial> Authenticator::identify(const Request& request) const {
  auto actor = authenticate(request);
  if (!actor) return std::unexpected(actor.error());
  return Principal{*actor, Role::admin, {}, {}};
}

const Authenticator& CompositeAuthenticator::pick(const Request& request) const {
  return request.header("Authorization") ? bearer_ : session_;
}

std::expected<Actor, Denial> CompositeAuthenticator::authenticate(const Request& request) const {
  return pick(request).authenticate(request);
}

std::expected<Principal, Denial> CompositeAuthenticator::identify(const Request& request) const {
  return pick(request).identify(request);
}

Handler authorized(const Authenticator& auth, PrincipalHandler handler) {
  return [&auth, handler = std::move(handler)](const Request& request) {
    if (const auto& known = request.principal; known && request.principal_by == &auth) {
      return handler(request, *known);
    }
    auto who = auth.identify(request);
    if (!who) return denial_response(who.error());
    return handler(request, *who);
  };
}

Handler authenticated(const Authenticator& auth, AuthenticatedHandler handler) {
  return [&auth, handler = std::move(handler)](const Request& request) {
    if (const auto& known = request.principal; known && request.principal_by == &auth) {
      return handler(request, known->actor);
    }
    auto actor = auth.authenticate(request);
    if (!actor) return denial_response(actor.error());
    return handler(request, *actor);
  };
}

Response denial_response(const Denial& denial) {
  auto r =
      Response::error(denial.status, denial.status == 401 ? "unauthenticated" : "permission_denied",
                      denial.message);
  if (denial.status == 401 && !denial.challenge.empty()) {
    r.headers.emplace_back("WWW-Authenticate", denial.challenge);
  }
  return r;
}

}  // namespace atdesk::api
