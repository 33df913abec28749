#include "atdesk/api/ipp_tokens.hpp"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstdlib>

namespace atdesk::api {
namespace {

constexpr std::size_t kTokenBytes = 20;
constexpr std::size_t kIdDigits = 12;

std::string hex(const unsigned char* data, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0xf]);
  }
  return out;
}

std::string hash_of(std::string_view token) {
  std::array<unsigned char, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256(digest.data(), reinterpret_cast<const unsigned char*>(token.data()),
                     token.size());
  return hex(digest.data(), digest.size());
}

bool plausible_token(std::string_view token) {
  return token.size() == 2 * kTokenBytes && std::all_of(token.begin(), token.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

Result<NewIppToken> IppTokenStore::create(const std::string& user) {
  if (user.empty() || user.size() > 255 ||
      std::any_of(user.begin(), user.end(),
                  [](unsigned char c) { return c < 0x20 || c == 0x7f || c == '/'; })) {
    return fail(Errc::invalid_argument,
                "user: expected the IPP user name of 1-255 characters (as in ipp:<user> rules), "
                "without control characters or '/'");
  }
  if (sodium_init() < 0) std::abort();  // no randomness: nothing safe to do
  std::array<unsigned char, kTokenBytes> raw{};
  randombytes_buf(raw.data(), raw.size());
  NewIppToken out;
  out.token = hex(raw.data(), raw.size());
  const auto key = hash_of(out.token);
  out.record = {key.substr(0, kIdDigits), user};
  if (auto ok = tables_.put_setting(std::string(kNamespace), key, user); !ok) {
    return fail(ok.error());
  }
  return out;
}

Result<std::vector<IppToken>> IppTokenStore::list() const {
  auto all = tables_.settings(std::string(kNamespace));
  if (!all) return fail(all.error());
  std::vector<IppToken> out;
  for (const auto& [key, user] : *all) {
    if (!user.empty()) out.push_back({key.substr(0, kIdDigits), user});
  }
  std::sort(out.begin(), out.end(), [](const IppToken& a, const IppToken& b) {
    return a.user != b.user ? a.user < b.user : a.id < b.id;
  });
  return out;
}

Result<void> IppTokenStore::revoke(std::string_view id) {
  auto all = tables_.settings(std::string(kNamespace));
  if (!all) return fail(all.error());
  for (const auto& [key, user] : *all) {
    if (!user.empty() && id.size() == kIdDigits && key.starts_with(id)) {
      // The store keeps settings; an empty value is a revoked token (as accounts are removed).
      return tables_.put_setting(std::string(kNamespace), key, "");
    }
  }
  return fail(Errc::not_found, "IPP token " + std::string(id) + ": no such token");
}

Result<std::string> IppTokenStore::user_of(std::string_view token) const {
  if (!plausible_token(token)) {
    return fail(Errc::permission_denied, "not a personal queue token");
  }
  auto user = tables_.get_setting(std::string(kNamespace), hash_of(token));
  if (!user) return fail(user.error());
  const std::optional<std::string>& found = *user;
  if (!found || found->empty()) {
    return fail(Errc::permission_denied, "no such personal queue token (revoked or never made)");
  }
  return *found;
}

}  // namespace atdesk::api
