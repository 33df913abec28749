// The Microsoft identity platform's OAuth 2.0 endpoints (v2.0): client credentials, device
// authorization grant (RFC 8628) and refresh. Tokens are only returned, never logged.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "atdesk/core/clock.hpp"
#include "atdesk/core/error.hpp"

namespace atdesk::chat::graph {

struct TokenSet {
  std::string access_token;
  std::string refresh_token;  // empty for client credentials
  Timestamp expires_at{};
  bool empty() const { return access_token.empty(); }
};

// An answer of the token endpoint: tokens, or the OAuth error code and description.
struct TokenReply {
  std::optional<TokenSet> tokens;
  std::string error;        // "invalid_grant", "authorization_pending", ...
  std::string description;  // the identity platform's first line (no secrets in it)
};

struct DeviceCodeReply {
  std::string device_code, user_code, verification_uri, message;
  std::chrono::seconds interval{5};
  std::chrono::seconds expires_in{900};
};

// POSTs `form` to `url` and reads an access token or an OAuth error. Transport failures and
// answers that are neither are Errors.
Result<TokenReply> token_request(const std::string& url, const std::string& form,
                                 std::chrono::milliseconds timeout, Timestamp now);
Result<DeviceCodeReply> device_code_request(const std::string& url, const std::string& form,
                                            std::chrono::milliseconds timeout);

}  // namespace atdesk::chat::graph
