// The IPP adapter of the Printer port: talks IPP/1.1+ to one printer (ipp:// or ipps://) with
// libcups. Every call opens its own connection, so one IppPrinter may be used from several
// threads at once. Documents are sent as application/pdf only.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "atdesk/print/printer.hpp"

namespace atdesk::print {
namespace detail {
class JobEventListener;
}

class IppPrinter final : public Printer {
 public:
  struct Settings {
    std::string name;  // printer name in atdesk (used in messages and Submission::printer)
    std::string uri;   // ipp://host[:port]/path or ipps://...
    // Connect timeout, and the longest wait for any read or write on the connection.
    std::chrono::milliseconds timeout{10000};
  };

  explicit IppPrinter(Settings settings);
  ~IppPrinter() override;

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
  // A thread of its own subscribes to the printer's job events (Create-Printer-Subscriptions,
  // Get-Notifications with notify-wait: RFC 3995, RFC 3996) and ends by itself when the printer
  // has none that arrive on time.
  void watch_jobs(JobChanged changed) override;
  bool pushes_job_events() const override;

 private:
  Settings settings_;
  mutable std::mutex listener_mutex_;
  std::unique_ptr<detail::JobEventListener> listener_;
};

}  // namespace atdesk::print
