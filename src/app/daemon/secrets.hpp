// Secret files: the admin API token, created at first start with mode 0600. Secrets are read
// from files, never from the command line, and never logged.
#pragma once

#include <filesystem>
#include <string>

#include "atdesk/core/error.hpp"

namespace atdesk::app {

// Reads the token in `file`, or creates a new random one (256 bits, hex) if the file is absent.
// A token file readable by group or others is refused.
Result<std::string> load_or_create_token(const std::filesystem::path& file, bool& created);

// A password or client secret: the first line of a regular file nobody but the owner may read
// (not a symbolic link), trailing blanks removed. Errors start with `where` (file, table, key).
Result<std::string> read_secret_file(const std::string& path, const std::string& where);

}  // namespace atdesk::app
