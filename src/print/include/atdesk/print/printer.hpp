// The Printer port: submit a printable PDF, follow the printer's job, find a job by name after a
// crash, describe the printer. Calls block (an adapter talks IPP); the engine calls them from
// its worker threads.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "atdesk/core/error.hpp"

namespace atdesk::print {

struct PrintOptions {
  std::string job_name;  // "atdesk-<job id>": the key for reconciliation
  std::string user;      // requesting-user-name
  int copies = 1;
};

// A job at a printer. The job id alone does not identify it: a printer that restarts numbers
// jobs from 1 again, so the job-name atdesk gave it (and the job-uuid, where the printer has
// one) is checked whenever the job is looked at.
struct Submission {
  std::string printer;   // printer name in atdesk
  int job_id = 0;        // the printer's job-id
  std::string job_name;  // the job-name atdesk sent ("atdesk-<job id>")
  std::string job_uuid;  // the printer's job-uuid, empty when it has none
  bool operator==(const Submission&) const = default;
};

enum class RemoteJobState { pending, held, processing, stopped, canceled, aborted, completed };
std::string_view to_string(RemoteJobState s);
inline bool is_terminal(RemoteJobState s) {
  return s == RemoteJobState::canceled || s == RemoteJobState::aborted ||
         s == RemoteJobState::completed;
}

enum class PrinterState { idle, processing, stopped, unreachable };
std::string_view to_string(PrinterState s);

struct PrinterStatus {
  std::string name;
  std::string uri;
  PrinterState state = PrinterState::unreachable;
  std::vector<std::string> state_reasons;  // IPP printer-state-reasons
  std::vector<std::string> formats;        // document-format-supported
  std::string message;                     // printer-state-message or the connection error
  // The printer does not process its jobs (IPP printer-state stopped). `state` is also stopped
  // for a printer that only refuses new jobs, which still prints those it holds.
  bool halted = false;
};

class Printer {
 public:
  virtual ~Printer() = default;
  Printer() = default;
  Printer(const Printer&) = delete;
  Printer& operator=(const Printer&) = delete;

  virtual const std::string& name() const = 0;
  // Errc::unavailable when the printer cannot be reached or does not accept jobs (stopped).
  virtual Result<Submission> submit(std::span<const std::byte> pdf,
                                    const PrintOptions& options) = 0;
  // The state of the printer's job. Errc::not_found when the printer no longer knows the job
  // id; Errc::conflict when the id now belongs to another job (another job-name or job-uuid:
  // the printer restarted and reused it).
  virtual Result<RemoteJobState> status(const Submission& submission) = 0;
  // The printer's job with this job-name (any state), for reconciliation after a crash, a lost
  // connection or a retry. `recorded_job_id` (0: none) is the id the job was given when it was
  // last sent: it is asked for first, and taken only when its job-name is `job_name`.
  virtual Result<std::optional<std::pair<Submission, RemoteJobState>>> find(
      const std::string& job_name, int recorded_job_id) = 0;
  virtual Result<PrinterStatus> describe() = 0;

  // Event notifications, where the printer has them: `changed(job_id)` is called from a thread
  // of the adapter's own whenever the printer reports that one of its jobs changed state (0: it
  // may have missed some, look at every job). An empty function stops the calls; it is never
  // called after watch_jobs({}) returned. The caller still polls, more slowly while
  // pushes_job_events() is true. The default has no events.
  using JobChanged = std::function<void(int job_id)>;
  virtual void watch_jobs(JobChanged changed) { (void)changed; }
  // Whether job changes reach watch_jobs' function now (a subscription is active and the
  // printer waits for events instead of answering at once).
  virtual bool pushes_job_events() const { return false; }
};

}  // namespace atdesk::print
