// Exit codes of the atdesk CLI, stable for scripts (documented in docs/cli.md and --help).
#pragma once

#include <string>

#include "atdesk/core/error.hpp"
#include "atdesk/core/language.hpp"

namespace atdesk::cli {

enum class ExitCode : int {
  ok = 0,
  error = 1,           // anything not listed below (server error 5xx, unexpected answer)
  usage = 2,           // bad arguments, or an input file named on the command line is invalid
  cannot_connect = 3,  // atdeskd cannot be reached at --url
  not_authorized = 4,  // 401/403, or no token could be read
  conflict = 5,        // 409
  not_found = 6,       // 404
  rejected_input = 7,  // 400/413/415
};

constexpr int to_int(ExitCode code) {
  return static_cast<int>(code);
}

// The exit code for an HTTP error status from atdeskd (status >= 400).
ExitCode exit_code_for_status(long status);

// The exit code for a failure of the transport (no HTTP status).
ExitCode exit_code_for_transport_error(Errc code);

// The exit code for a failure of a command that works on local files (backup, restore, migrate).
ExitCode exit_code_for_local_error(Errc code);

// The text printed at the end of --help (data/messages/, cli_help_exit_codes) and in docs/cli.md.
std::string exit_code_help(Language language = Language::en);

}  // namespace atdesk::cli
