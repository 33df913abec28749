// A job: one received document with its sender, pages, recipients and state, and the rules for
// which state changes are allowed. The engine is the only code that changes a job's state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atdesk/core/clock.hpp"
#include "atdesk/core/ids.hpp"
#include "atdesk/core/recipient.hpp"
#include "atdesk/core/sender.hpp"

namespace atdesk {

// received -> stored -> printing -> printed, or stored -> held -> releasing -> printing -> printed;
// any live state can end in deleted, expired or failed.
enum class JobState {
  received,
  stored,
  held,
  releasing,
  printing,
  printed,
  deleted,
  expired,
  failed
};

std::string_view to_string(JobState s);
std::optional<JobState> parse_job_state(std::string_view text);
bool is_final(JobState s);  // printed, deleted, expired, failed
// stored, releasing, printing: a node is working on the job (it holds its lease, JobStore)
bool is_working(JobState s);
bool can_transition(JobState from, JobState to);

enum class JobSource { upload, inbox, hylafax, sip, webhook, ipp };
std::string_view to_string(JobSource s);
std::optional<JobSource> parse_job_source(std::string_view text);

enum class DocumentFormat { tiff, pdf };
std::string_view to_string(DocumentFormat f);   // "tiff" | "pdf"
std::string_view media_type(DocumentFormat f);  // "image/tiff" | "application/pdf"

// Why the last print of a job did not print, kept as data so that a restart knows whether a
// retry follows (the reason is prose for people and is never parsed).
enum class PrintProblem {
  none,         // no print problem (never printed, or printing went well)
  unavailable,  // the printer could not be reached, was stopped or busy: retried with backoff
  aborted,      // the printer aborted or cancelled the job: retried a bounded number of times
  gave_up,      // the same failure happened too often: held until a person releases it
  lost,         // the printer no longer knows the job it was sent (restarted, id reused): it may
                // have printed, so it is held until a person releases it, never sent blindly again
  stopped,      // the printer holds the job but stopped it (IPP job-state processing-stopped: its
                // queue is stopped, e.g. the device failed). The job stays `printing` and is
                // followed; it prints when the queue is restarted and is never sent a second time
                // while the printer holds it. print_failures is 1 once people were told.
  unprintable,  // the printer cannot print the document (no medium it fits on, no format it
                // takes): held until a person releases it, e.g. to another printer
  owner_unknown,  // not a printer's doing: nobody could be established as the job's owner (a
                  // print job without a trusted identity or a matching rule). Held for the
                  // admin's chosen recipient until a person releases it, never by presence
};
std::string_view to_string(PrintProblem p);
std::optional<PrintProblem> parse_print_problem(std::string_view text);
// True when atdesk retries the print by itself.
inline bool retries_by_itself(PrintProblem p) {
  return p == PrintProblem::unavailable || p == PrintProblem::aborted;
}
// True when only a person's release prints the job again (presence changes do not).
inline bool needs_person(PrintProblem p) {
  return p == PrintProblem::gave_up || p == PrintProblem::lost || p == PrintProblem::unprintable ||
         p == PrintProblem::owner_unknown;
}

struct Job {
  JobId id;
  JobState state = JobState::received;
  JobSource source = JobSource::upload;
  Sender sender;
  std::string document_name;  // as received (file name, IPP job-name), for people
  DocumentFormat format = DocumentFormat::tiff;
  int pages = 0;
  bool incomplete = false;  // a fax call that dropped before the last page
  std::uint64_t size_bytes = 0;
  Timestamp received_at{};
  Timestamp updated_at{};
  std::vector<Recipient> recipients;  // from the recipient table at reception
  std::string mode_table;             // the table used for the last decision
  std::string printer;                // printer chosen for (or used by) the print
  std::string reason;                 // why the job is in its state, in a sentence
  int print_attempts = 0;
  std::string printer_job;  // the printer's job id/URI of the current print, for tracking
  // Why the job was last held by printing (or owner_unknown: held until a person releases it).
  PrintProblem print_problem = PrintProblem::none;
  int print_failures = 0;  // consecutive print failures of the kind print_problem names
};

// One row in a job's history.
struct Transition {
  JobId job;
  Timestamp at{};
  JobState from = JobState::received;
  JobState to = JobState::received;
  std::string actor;   // "engine", "user:alice", "api:admin", "chat:xmpp:alice@example.org"
  std::string reason;  // a sentence a person can read
  bool operator==(const Transition&) const = default;
};

}  // namespace atdesk
