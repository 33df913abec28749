#include "atdesk/cli/exit_code.hpp"

namespace atdesk::cli {

ExitCode exit_code_for_status(long status) {
  switch (status) {
    case 400:
    case 413:
    case 415:
      return ExitCode::rejected_input;
    case 401:
    case 403:
      return ExitCode::not_authorized;
    case 404:
      return ExitCode::not_found;
    case 409:
      return ExitCode::conflict;
    default:
      return status >= 200 && status < 300 ? ExitCode::ok : ExitCode::error;
  }
}

ExitCode exit_code_for_transport_error(Errc code) {
  switch (code) {
    case Errc::unavailable:
      return ExitCode::cannot_connect;
    case Errc::invalid_argument:
      return ExitCode::usage;
    default:
      return ExitCode::error;
  }
}

ExitCode exit_code_for_local_error(Errc code) {
  switch (code) {
    case Errc::not_found:
      return ExitCode::not_found;
    case Errc::conflict:
      return ExitCode::conflict;
    case Errc::permission_denied:
      return ExitCode::not_authorized;
    case Errc::corrupt:
    case Errc::unsupported:
    case Errc::invalid_argument:
      return ExitCode::rejected_input;
    default:
      return ExitCode::error;
  }
}

std::string_view exit_code_help() {
  return "Exit codes:\n"
         "  0  ok\n"
         "  1  other error (atdeskd answered 5xx, unexpected answer, local I/O)\n"
         "  2  usage error (bad arguments, invalid input file)\n"
         "  3  cannot connect to atdeskd\n"
         "  4  not authenticated or forbidden (401/403, no token)\n"
         "  5  conflict (409)\n"
         "  6  not found (404)\n"
         "  7  rejected input (400/413/415)\n"
         "\n"
         "Environment: ATDESK_URL, ATDESK_TOKEN_FILE, ATDESK_TOKEN (the token itself).";
}

}  // namespace atdesk::cli
