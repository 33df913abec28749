#include "atdesk/core/text.hpp"

#include <algorithm>
#include <string>

namespace atdesk {

Result<void> check_utf8(std::string_view text, std::string_view what) {
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    const std::size_t n = c < 0x80             ? 1
                          : (c & 0xe0) == 0xc0 ? 2
                          : (c & 0xf0) == 0xe0 ? 3
                          : (c & 0xf8) == 0xf0 ? 4
                                               : 0;
    bool ok = n != 0 && i + n <= text.size();
    for (std::size_t k = 1; ok && k < n; ++k) {
      ok = (static_cast<unsigned char>(text[i + k]) & 0xc0) == 0x80;
    }
    if (!ok) {
      const auto line =
          1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(i), '\n');
      return fail(Errc::invalid_argument, std::string(what) + ", line " + std::to_string(line) +
                                              ": not UTF-8 (invalid byte sequence at byte " +
                                              std::to_string(i) + ")");
    }
    i += n;
  }
  return {};
}

std::string quote(std::string_view text, std::size_t max) {
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    out += (c < 0x20 || c == 0x7f) ? '?' : text[i];
  }
  if (text.size() > max) out += "...";
  out += '"';
  return out;
}

}  // namespace atdesk
