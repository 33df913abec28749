#include "atdesk/core/ids.hpp"

#include <algorithm>
#include <cctype>

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

Result<std::string> JobId::parse_prefix(std::string_view text) {
  std::string prefix(text);
  for (auto& c : prefix) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (prefix.size() < 4 || prefix.size() > kLength ||
      prefix.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return fail(Errc::invalid_argument,
                "job id: expected 4 to 32 hex digits, got " + text::quote(text.substr(0, 40)));
  }
  return prefix;
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
