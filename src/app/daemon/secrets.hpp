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

}  // namespace atdesk::app
