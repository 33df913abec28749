// Text as people type numbers outside ASCII (private to core): Japanese input methods and
// spreadsheets give full-width digits and dashes (０３－１２３４－５６７８), the ideographic space
// and a handful of dash look-alikes. fold_for_numbers() applies Unicode NFKC (ICU) and then maps
// the dashes NFKC keeps (U+2010-2015, U+2212, U+30FC, ...) to '-', so that the ASCII rules of
// sender.cpp apply to what is left.
#pragma once

#include <string>
#include <string_view>

#include "atdesk/core/error.hpp"

namespace atdesk::unicode {

// ASCII text comes back unchanged (no ICU call). Text that is not UTF-8 is Errc::invalid_argument.
Result<std::string> fold_for_numbers(std::string_view utf8);

// "'〒' (U+3012)": a character of UTF-8 text at byte `offset`, for error messages; the code point
// alone for one that is not printable.
std::string describe_character(std::string_view utf8, std::size_t offset);

}  // namespace atdesk::unicode
