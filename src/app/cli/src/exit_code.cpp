#include "atdesk/cli/exit_code.hpp"

#include "atdesk/core/messages.hpp"

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

std::string exit_code_help(Language language) {
  return message(language, MessageKey::cli_help_exit_codes);
}

}  // namespace atdesk::cli
