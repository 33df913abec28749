// One IPP connection to one printer, owned by a single call of IppPrinter: connect, send a request
// (optionally with a document), check the IPP status, read attributes from the response. RAII for
// libcups' http_t and ipp_t. Private to atdesk::print.
#pragma once

#include <cups/cups.h>

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "atdesk/core/error.hpp"
#include "ipp_mapping.hpp"

namespace atdesk::print::detail {

struct HttpDeleter {
  void operator()(http_t* http) const { httpClose(http); }
};
struct IppDeleter {
  void operator()(ipp_t* ipp) const { ippDelete(ipp); }
};
using HttpPtr = std::unique_ptr<http_t, HttpDeleter>;
using IppPtr = std::unique_ptr<ipp_t, IppDeleter>;

class IppSession {
 public:
  // Connects to the printer. A printer that cannot be reached is Errc::unavailable; a malformed
  // URI is Errc::invalid_argument. Messages name the printer and its URI.
  static Result<IppSession> open(const std::string& name, const std::string& uri,
                                 std::chrono::milliseconds timeout);

  // A request for `op` with the charset, language and printer-uri attributes filled in.
  IppPtr new_request(ipp_op_t op) const;

  // Sends the request (and the document, if any) and returns the response when its status is
  // successful. Transport failures are Errc::unavailable (Errc::timeout when the printer stopped
  // answering); IPP error statuses map through errc_from_ipp_status.
  Result<IppPtr> call(IppPtr request, std::span<const std::byte> document = {});

  // The longest wait for a read or write from now on (a Get-Notifications that waits for events
  // is answered only when one happens).
  void set_timeout(std::chrono::milliseconds timeout);
  // Ends the connection from another thread: a call blocked on it returns with an error. The
  // caller makes sure the session outlives this call.
  void shutdown() { httpShutdown(http_.get()); }
  // Closes the connection at once (httpShutdown only stops reading, so the printer would not see
  // it end); the session must not be used after this.
  void close() { http_.reset(); }

  // "printer <name> (<uri>)", the start of every message about this printer.
  const std::string& who() const { return who_; }

 private:
  IppSession(HttpPtr http, IppEndpoint endpoint, std::string uri, std::string who)
      : http_(std::move(http)),
        endpoint_(std::move(endpoint)),
        uri_(std::move(uri)),
        who_(std::move(who)) {}

  Error transport_error(const std::string& operation) const;

  HttpPtr http_;
  IppEndpoint endpoint_;
  std::string uri_;
  std::string who_;
};

// Attribute readers. The name is looked up in the whole response (first match).
std::optional<int> ipp_integer(ipp_t* response, const char* name);  // integer or enum
std::optional<bool> ipp_boolean(ipp_t* response, const char* name);
std::vector<std::string> ipp_strings(ipp_t* response, const char* name);  // all values
std::string ipp_text(ipp_t* response, const char* name);                  // first value or ""

}  // namespace atdesk::print::detail
