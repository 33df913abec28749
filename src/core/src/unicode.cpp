#include "unicode.hpp"

#include <unicode/normalizer2.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <cstdio>

namespace atdesk::unicode {
namespace {

bool ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x80; });
}

// Dashes and minus signs that NFKC leaves as they are, written in numbers for '-'.
bool is_dash(UChar32 c) {
  return (c >= 0x2010 && c <= 0x2015) ||  // hyphen .. horizontal bar
         c == 0x2043 ||                   // hyphen bullet
         c == 0x2212 ||                   // minus sign
         c == 0x30FC ||                   // katakana-hiragana prolonged sound mark (ー)
         c == 0x301C ||                   // wave dash (〜), typed for ranges and dashes
         c == 0xFE58 ||                   // small em dash (NFKC: U+2014)
         c == 0x2E3A || c == 0x2E3B;      // two- and three-em dash
}

}  // namespace

Result<std::string> fold_for_numbers(std::string_view utf8) {
  if (ascii(utf8)) return std::string(utf8);
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfkc = icu::Normalizer2::getNFKCInstance(status);
  if (U_FAILURE(status) || nfkc == nullptr) {
    return fail(Errc::internal,
                std::string("Unicode NFKC is not available: ") + u_errorName(status));
  }
  // Invalid UTF-8 would become U+FFFD silently: refuse it instead.
  for (std::size_t i = 0; i < utf8.size();) {
    UChar32 c = 0;
    auto at = static_cast<int32_t>(i);
    U8_NEXT(reinterpret_cast<const uint8_t*>(utf8.data()), at, static_cast<int32_t>(utf8.size()),
            c);
    if (c < 0) {
      return fail(Errc::invalid_argument,
                  "not UTF-8 at byte " + std::to_string(i + 1) + " (expected UTF-8 text)");
    }
    i = static_cast<std::size_t>(at);
  }
  const auto text = icu::UnicodeString::fromUTF8(
      icu::StringPiece(utf8.data(), static_cast<int32_t>(utf8.size())));
  icu::UnicodeString folded = nfkc->normalize(text, status);
  if (U_FAILURE(status)) {
    return fail(Errc::invalid_argument,
                std::string("cannot normalise the text (NFKC): ") + u_errorName(status));
  }
  icu::UnicodeString out;
  for (int32_t i = 0; i < folded.length();) {
    const UChar32 c = folded.char32At(i);
    out.append(is_dash(c) ? UChar32{'-'} : c);
    i += U16_LENGTH(c);
  }
  std::string result;
  out.toUTF8String(result);
  return result;
}

std::string describe_character(std::string_view utf8, std::size_t offset) {
  UChar32 c = 0;
  auto at = static_cast<int32_t>(offset);
  U8_NEXT(reinterpret_cast<const uint8_t*>(utf8.data()), at, static_cast<int32_t>(utf8.size()), c);
  char code[16];
  if (c < 0) {
    std::snprintf(code, sizeof code, "byte 0x%02X",
                  static_cast<unsigned>(static_cast<unsigned char>(utf8[offset])));
    return code;
  }
  std::snprintf(code, sizeof code, "U+%04X", static_cast<unsigned>(c));
  const bool printable = c >= 0x20 && c != 0x7f && !(c >= 0x80 && c < 0xa0);
  if (!printable) return code;
  return "'" + std::string(utf8.substr(offset, static_cast<std::size_t>(at) - offset)) + "' (" +
         code + ")";
}

}  // namespace atdesk::unicode
