// Personal print queue tokens: an administrator makes one for a person and gives them the URL
// ipp(s)://<host>:<port>/ipp/print/u/<token>; atdesk-ippd asks atdeskd whose a token is, and a
// job sent there belongs to that person (docs/printing.md). Only the SHA-256 of a token is kept
// (in the TableStore's settings under "ipp.token", keyed by the hash's hex, the value the
// owner's user name): the token itself is shown once, when it is made, and never logged.
// Tokens are 160 random bits, so a plain hash is enough (no password hashing needed).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "atdesk/core/error.hpp"
#include "atdesk/store/table_store.hpp"

namespace atdesk::api {

struct IppToken {
  std::string id;    // the first 12 hex digits of the token's hash: names it for listing, revoking
  std::string user;  // the person: the IPP user name the recipient table's ipp: rules name
};

struct NewIppToken {
  IppToken record;
  std::string token;  // the secret, 40 lowercase hex digits; shown once
};

class IppTokenStore {
 public:
  static constexpr std::string_view kNamespace = "ipp.token";

  explicit IppTokenStore(store::TableStore& tables) : tables_(tables) {}

  // A new token for `user` (1-255 characters, no control characters, no '/').
  Result<NewIppToken> create(const std::string& user);
  Result<std::vector<IppToken>> list() const;  // by user, then id
  // Errc::not_found when no token has that id.
  Result<void> revoke(std::string_view id);
  // The person a token belongs to; Errc::permission_denied when it is not a live token.
  Result<std::string> user_of(std::string_view token) const;

 private:
  store::TableStore& tables_;
};

}  // namespace atdesk::api
