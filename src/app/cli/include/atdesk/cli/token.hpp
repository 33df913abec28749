// The admin token the CLI sends as "Authorization: Bearer <token>".
#pragma once

#include <filesystem>
#include <string>

#include "atdesk/core/error.hpp"

namespace atdesk::cli {

// Reads a token file: trailing whitespace (the newline) is stripped. Errors name the path and the
// ways to point the CLI elsewhere (--token-file, ATDESK_TOKEN_FILE, ATDESK_TOKEN). The token itself
// never appears in an error message.
Result<std::string> read_token_file(const std::filesystem::path& path);

// A token must be non-empty and free of whitespace and control characters (it goes into a header).
Result<std::string> check_token(std::string token, std::string_view origin);

}  // namespace atdesk::cli
