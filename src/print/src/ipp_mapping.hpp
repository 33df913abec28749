// Pure translations between IPP values and atdesk's types: printer URIs, job and printer states,
// IPP status codes. Kept apart from the connection code so they can be tested without a printer.
// Values are plain integers here; no libcups type leaves this part.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "atdesk/core/error.hpp"
#include "atdesk/print/printer.hpp"

namespace atdesk::print::detail {

// Where an ipp:// or ipps:// printer URI points.
struct IppEndpoint {
  std::string host;
  int port = 631;
  std::string resource;  // HTTP path, e.g. "/ipp/print"
  bool tls = false;      // ipps://
  bool operator==(const IppEndpoint&) const = default;
};

// Splits an ipp:// or ipps:// URI; Errc::invalid_argument (naming the URI) for anything else.
Result<IppEndpoint> parse_printer_uri(std::string_view uri);

// IPP job-state (RFC 8011 5.3.7): 3 pending .. 9 completed. nullopt for values outside it.
std::optional<RemoteJobState> job_state_from_ipp(int job_state);

// IPP printer-state (RFC 8011 5.4.11) together with printer-is-accepting-jobs: a printer that
// refuses jobs counts as stopped, since atdesk cannot print on it.
PrinterState printer_state_from_ipp(int printer_state, bool accepting_jobs);

// True for the successful-ok range 0x0000-0x00ff.
inline bool ipp_succeeded(int status) {
  return status >= 0 && status < 0x0100;
}

// The Errc for a failed IPP status code (RFC 8011 Appendix B, plus libcups' own codes).
Errc errc_from_ipp_status(int status);

}  // namespace atdesk::print::detail
