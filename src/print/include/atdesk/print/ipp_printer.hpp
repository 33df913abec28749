// The IPP adapter of the Printer port: talks IPP/1.1+ to one printer (ipp:// or ipps://) with
// libcups. Every call opens its own connection, so one IppPrinter may be used from several
// threads at once. Documents are sent as application/pdf only.
#pragma once

#include <chrono>
#include <string>

#include "atdesk/print/printer.hpp"

namespace atdesk::print {

class IppPrinter final : public Printer {
 public:
  struct Settings {
    std::string name;  // printer name in atdesk (used in messages and Submission::printer)
    std::string uri;   // ipp://host[:port]/path or ipps://...
    // Connect timeout, and the longest wait for any read or write on the connection.
    std::chrono::milliseconds timeout{10000};
  };

  explicit IppPrinter(Settings settings);

  const std::string& name() const override { return settings_.name; }
  const std::string& uri() const { return settings_.uri; }

  // Checks the printer first: Errc::unavailable when it is stopped or not accepting jobs,
  // A printer without application/pdf gets PWG Raster rendered at its resolution;
  // Errc::unsupported when it takes neither.
  Result<Submission> submit(std::span<const std::byte> pdf, const PrintOptions& options) override;
  Result<RemoteJobState> status(const Submission& submission) override;
  Result<std::optional<std::pair<Submission, RemoteJobState>>> find(const std::string& job_name,
                                                                    int recorded_job_id) override;
  // A printer that cannot be reached is reported as PrinterState::unreachable with the
  // connection error in `message`, not as an error result.
  Result<PrinterStatus> describe() override;

 private:
  Settings settings_;
};

}  // namespace atdesk::print
