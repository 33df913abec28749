#include "ipp_mapping.hpp"

#include <cups/http.h>
#include <cups/ipp.h>

#include <array>
#include <string>

namespace atdesk::print::detail {

Result<IppEndpoint> parse_printer_uri(std::string_view uri) {
  const std::string text(uri);
  std::array<char, 32> scheme{};
  std::array<char, 256> userpass{};
  std::array<char, 256> host{};
  std::array<char, 1024> resource{};
  int port = 0;
  const http_uri_status_t st = httpSeparateURI(
      HTTP_URI_CODING_ALL, text.c_str(), scheme.data(), scheme.size(), userpass.data(),
      userpass.size(), host.data(), host.size(), &port, resource.data(), resource.size());
  if (st < HTTP_URI_STATUS_OK) {
    return fail(Errc::invalid_argument, "printer uri '" + text + "' is not a valid URI (" +
                                            httpURIStatusString(st) +
                                            "); expected ipp://host[:port]/path");
  }
  const std::string_view s(scheme.data());
  if (s != "ipp" && s != "ipps") {
    return fail(Errc::invalid_argument, "printer uri '" + text + "' has scheme '" + std::string(s) +
                                            "'; expected ipp or ipps");
  }
  if (host[0] == '\0') {
    return fail(Errc::invalid_argument, "printer uri '" + text + "' has no host");
  }
  IppEndpoint endpoint;
  endpoint.host = host.data();
  endpoint.port = port > 0 ? port : 631;
  endpoint.resource = resource[0] != '\0' ? resource.data() : "/";
  endpoint.tls = s == "ipps";
  return endpoint;
}

std::optional<RemoteJobState> job_state_from_ipp(int job_state) {
  switch (job_state) {
    case IPP_JSTATE_PENDING:
      return RemoteJobState::pending;
    case IPP_JSTATE_HELD:
      return RemoteJobState::held;
    case IPP_JSTATE_PROCESSING:
      return RemoteJobState::processing;
    case IPP_JSTATE_STOPPED:
      return RemoteJobState::stopped;
    case IPP_JSTATE_CANCELED:
      return RemoteJobState::canceled;
    case IPP_JSTATE_ABORTED:
      return RemoteJobState::aborted;
    case IPP_JSTATE_COMPLETED:
      return RemoteJobState::completed;
    default:
      return std::nullopt;
  }
}

PrinterState printer_state_from_ipp(int printer_state, bool accepting_jobs) {
  if (!accepting_jobs) return PrinterState::stopped;
  switch (printer_state) {
    case IPP_PSTATE_IDLE:
      return PrinterState::idle;
    case IPP_PSTATE_PROCESSING:
      return PrinterState::processing;
    default:
      return PrinterState::stopped;
  }
}

Errc errc_from_ipp_status(int status) {
  switch (status) {
    case IPP_STATUS_ERROR_FORBIDDEN:
    case IPP_STATUS_ERROR_NOT_AUTHENTICATED:
    case IPP_STATUS_ERROR_NOT_AUTHORIZED:
    case IPP_STATUS_ERROR_CUPS_AUTHENTICATION_CANCELED:
      return Errc::permission_denied;
    case IPP_STATUS_ERROR_NOT_FOUND:
    case IPP_STATUS_ERROR_GONE:
      return Errc::not_found;
    case IPP_STATUS_ERROR_REQUEST_ENTITY:
    case IPP_STATUS_ERROR_REQUEST_VALUE:
      return Errc::limit_exceeded;
    case IPP_STATUS_ERROR_DOCUMENT_FORMAT_NOT_SUPPORTED:
    case IPP_STATUS_ERROR_ATTRIBUTES_OR_VALUES:
    case IPP_STATUS_ERROR_URI_SCHEME:
    case IPP_STATUS_ERROR_CHARSET:
    case IPP_STATUS_ERROR_COMPRESSION_NOT_SUPPORTED:
    case IPP_STATUS_ERROR_OPERATION_NOT_SUPPORTED:
    case IPP_STATUS_ERROR_VERSION_NOT_SUPPORTED:
      return Errc::unsupported;
    default:
      break;
  }
  if (status >= 0x0400 && status < 0x0500) return Errc::invalid_argument;
  // Server errors (0x05xx: not accepting jobs, busy, device error, and libcups' own code for a
  // failed transport) and libcups' TLS/upgrade failures: the printer cannot take the request now.
  return Errc::unavailable;
}

}  // namespace atdesk::print::detail
