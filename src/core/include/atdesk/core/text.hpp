// Checks on text from outside before a parser sees it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "atdesk/core/error.hpp"

namespace atdesk {

// Errc::invalid_argument unless `text` is well-formed UTF-8 (1-4 byte sequences). The message
// starts with `what` and names the line and byte: "atdesk.toml, line 3: not UTF-8 (invalid byte
// sequence at byte 41)". TOML parsers are given only checked text (toml11 over-reads on a lead
// byte without its continuation bytes).
Result<void> check_utf8(std::string_view text, std::string_view what);

// Text from outside quoted in an error message or a log line: in double quotes, cut to `max`
// characters ("..." after), control characters replaced by '?', so that a hostile input cannot
// forge log lines or flood a message.
std::string quote(std::string_view text, std::size_t max = 64);

}  // namespace atdesk
