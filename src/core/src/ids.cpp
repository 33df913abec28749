#include "atdesk/core/ids.hpp"

#include <algorithm>

#include "text.hpp"

namespace atdesk {

Result<JobId> JobId::parse(std::string_view text) {
  const bool lower_hex = std::all_of(
      text.begin(), text.end(), [](char c) { return text::is_digit(c) || (c >= 'a' && c <= 'f'); });
  if (text.size() != kLength || !lower_hex) {
    return fail(Errc::invalid_argument,
                "job id: expected 32 lowercase hex digits, got " + text::quote(text));
  }
  return JobId(std::string(text));
}

JobId JobId::from_bytes(std::span<const unsigned char, 16> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(kLength);
  for (unsigned char b : bytes) {
    s += kHex[b >> 4];
    s += kHex[b & 0xf];
  }
  return JobId(std::move(s));
}

}  // namespace atdesk
