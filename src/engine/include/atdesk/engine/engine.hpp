// The engine: the seed's loop. A job arrives -> stored durably -> recipient table -> presence ->
// active mode table -> print now, or hold and notify; presence changes release held jobs.
// The engine owns every job transition (Engine::transition is the one place a state changes).
//
// Thread-safety: every public method may be called from any thread. State changes are
// serialised by the store's compare-and-set (one transition wins, the others get a conflict);
// the engine's own lock guards only its in-memory caches. Blocking I/O (printing, presence
// look-ups, chat messages, document conversion) runs on the engine's worker threads, never under
// a lock. docs/architecture.md has the thread map of the whole process.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atdesk/chat/chat_service.hpp"
#include "atdesk/core/clock.hpp"
#include "atdesk/core/decide.hpp"
#include "atdesk/core/incoming.hpp"
#include "atdesk/core/job.hpp"
#include "atdesk/core/language.hpp"
#include "atdesk/core/mode_table.hpp"
#include "atdesk/core/recipient_table.hpp"
#include "atdesk/core/schedule.hpp"
#include "atdesk/document/document.hpp"
#include "atdesk/engine/singletons.hpp"
#include "atdesk/print/printer.hpp"
#include "atdesk/store/blob_store.hpp"
#include "atdesk/store/job_store.hpp"
#include "atdesk/store/table_store.hpp"

namespace atdesk::engine {

using Bytes = std::vector<std::byte>;

// Defined in core (ingress parts do not depend on the engine); the old name stays for callers.
using IncomingDocument = atdesk::IncomingDocument;

struct Settings {
  Policy policy;
  NumberPlan numbers;
  MatchPreference match = MatchPreference::sender_first;
  document::Limits limits;
  std::string default_printer;                        // must name a configured printer
  std::chrono::seconds retention{7 * 24 * 3600};      // held jobs expire after this
  std::chrono::milliseconds print_retry_min{2000};    // first retry after a printer failure
  std::chrono::milliseconds print_retry_max{300000};  // backoff doubles up to this
  std::chrono::milliseconds print_track_interval{500};
  // After a restart, a job left in `printing` that the printer does not know (yet) is looked up
  // once more after this long before it is sent again: the previous run's request may have been
  // in flight when it stopped, and the printer may still create the job.
  std::chrono::milliseconds reconcile_grace{3000};
  // A job the printer stopped (its queue is stopped) is followed without end; its recipients are
  // told once it has been stopped this long (a queue restarted within minutes is not news).
  std::chrono::milliseconds print_stopped_notice{600000};
  std::chrono::milliseconds housekeeping_interval{30000};  // retention and schedule checks
  // Several nodes on one database (JobStore leases): this node's leases are renewed every
  // lease_renew_interval (a third of the store's lease), and jobs whose lease expired are taken
  // over every takeover_interval. Housekeeping runs on the node holding its named lease.
  std::chrono::milliseconds lease_renew_interval{10000};
  std::chrono::milliseconds takeover_interval{5000};
  // How long a singleton's lease lasts after each renewal (the store's lease, `[cluster]
  // lease_s`); singletons are renewed and tried every takeover_interval.
  std::chrono::milliseconds singleton_lease{30000};
  int preview_px = 480;
  int worker_threads = 4;
  // The language of chat messages for a recipient whose chat service and own setting say none.
  Language language = Language::en;
};

struct Dependencies {
  store::JobStore& jobs;
  store::TableStore& tables;
  store::BlobStore& blobs;
  const Clock& clock;
  const TimeZone& time_zone;
  std::map<std::string, print::Printer*> printers;
  std::map<std::string, chat::ChatService*> chat_services;
};

struct MetricsSnapshot {
  std::vector<std::pair<JobState, std::int64_t>> jobs_by_state;
  std::uint64_t decisions_print = 0;
  std::uint64_t decisions_hold = 0;
  std::uint64_t presence_lookups_ok = 0;
  std::uint64_t presence_lookups_failed = 0;
  std::uint64_t prints_submitted = 0;
  std::uint64_t prints_completed = 0;
  std::uint64_t prints_failed = 0;
  std::uint64_t print_retries = 0;
  std::uint64_t notices_sent = 0;
  std::uint64_t notices_failed = 0;   // attempts a chat service refused (each is retried)
  std::uint64_t notices_dropped = 0;  // given up: more than 1000 waiting
  std::uint64_t notices_waiting = 0;
  // Seconds from submission to the printer until the printer reported completion.
  std::vector<double> print_latency_buckets{0.5, 1, 2, 5, 10, 30, 60, 300};
  std::vector<std::uint64_t> print_latency_counts;  // cumulative per bucket, then +Inf
  double print_latency_sum = 0;
  std::uint64_t print_latency_count = 0;
};

// The view of a recipient for the overview page and the API.
struct RecipientView {
  Recipient recipient;
  RecipientPresence presence;
  Action action = Action::hold;  // what the active table makes of it
  std::int64_t held_jobs = 0;
};

class Engine {
 public:
  Engine(Settings settings, Dependencies deps);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Reconciles jobs left in `printing`/`releasing`, decides jobs left `stored`, watches presence
  // of every recipient in the table, starts timers. Call once.
  [[nodiscard]] Result<void> start();
  // Stops timers and workers; jobs in flight stay durable and resume at the next start.
  void stop();

  // Work only one node on a shared database may do (a chat account's commands, a push
  // subscription, a SIP registration): the node holding the lease `name` does it. `on_change`
  // is called before this returns with whether this node holds it, then from the lease thread
  // whenever that changes (a dead holder's lease is taken within singleton_lease +
  // takeover_interval), and with false at stop(). It must not block. With one process on the
  // store every lease is held.
  void singleton(std::string name, RoleHandler on_change);

  // Ingress: validates and stores the document durably, commits the job row (state `stored`)
  // and returns it; the decision then runs asynchronously. Bad documents: Errc::invalid_argument
  // or Errc::limit_exceeded naming the document, and nothing is stored.
  [[nodiscard]] Result<Job> submit(IncomingDocument document);

  // Jobs. `id` is a full id or a unique short id.
  [[nodiscard]] Result<Job> job(std::string_view id);
  [[nodiscard]] Result<std::vector<Job>> jobs(const store::JobFilter& filter);
  [[nodiscard]] Result<std::vector<Transition>> history(std::string_view id);
  [[nodiscard]] Result<Bytes> blob(std::string_view id, store::BlobKind kind);
  [[nodiscard]] Result<Bytes> page_png(std::string_view id, int page, int max_px);
  // Release a held job (to `printer` or the rule's/default printer). Errc::conflict if the job
  // is not held.
  [[nodiscard]] Result<Job> release(std::string_view id, std::optional<std::string> printer,
                                    const std::string& actor);
  // Delete a job that is not being printed; removes its documents.
  [[nodiscard]] Result<Job> remove(std::string_view id, const std::string& actor);

  // Recipient table.
  [[nodiscard]] Result<std::vector<RecipientRule>> recipient_rules();
  [[nodiscard]] Result<RecipientRule> add_recipient_rule(RecipientRule rule,
                                                         const std::string& actor);
  [[nodiscard]] Result<void> update_recipient_rule(const RecipientRule& rule,
                                                   const std::string& actor);
  [[nodiscard]] Result<void> remove_recipient_rule(std::int64_t id, const std::string& actor);
  [[nodiscard]] Result<std::vector<RecipientRule>> replace_recipient_rules(
      std::vector<RecipientRule> rules, const std::string& actor);
  // Who the table sends a sender's jobs to (for the UI's "test a sender").
  [[nodiscard]] Result<std::vector<Recipient>> route(const Sender& sender);

  // Mode tables and schedule; a change re-checks every held job at once.
  [[nodiscard]] Result<std::vector<ModeTable>> mode_tables();
  [[nodiscard]] Result<void> put_mode_table(const ModeTable& table, const std::string& actor);
  [[nodiscard]] Result<void> remove_mode_table(const std::string& name, const std::string& actor);
  [[nodiscard]] Result<Schedule> schedule();
  [[nodiscard]] Result<void> put_schedule(const Schedule& schedule, const std::string& actor);
  // Holiday dates from outside the schedule ([holidays]: iCalendar files and URLs), counted as
  // holidays alongside the schedule's own dates. Replaces the previous import; audited when the
  // dates changed, and held jobs are checked again (the active table may have changed).
  void set_imported_holidays(std::vector<ImportedHoliday> holidays, const std::string& actor);
  std::vector<ImportedHoliday> imported_holidays() const;
  std::string active_mode_table();

  // "Hold everything until I resume" of a recipient (key "user:local:alice"): the flag the chat
  // commands `hold` and `resume` set. Turning it off re-checks held jobs at once; both are
  // audited as user.hold / user.resume.
  bool hold_all(const std::string& recipient_key);
  [[nodiscard]] Result<void> set_hold_all(const std::string& recipient_key, bool on,
                                          const std::string& actor);

  // Presence and recipients as the engine sees them now.
  [[nodiscard]] Result<std::vector<RecipientView>> recipients_overview();

  [[nodiscard]] Result<std::vector<store::AuditEntry>> audit(std::size_t limit,
                                                             std::int64_t before_id = 0);
  // Appends to the audit log. A failure is logged here too, so a caller for whom the entry is
  // only a record may ignore the result; one that must not lose it (a failed fax reception)
  // keeps it for a later attempt.
  Result<void> record_audit(const std::string& actor, const std::string& action,
                            const std::string& subject, const std::string& detail);

  std::vector<print::PrinterStatus> printers();
  std::map<std::string, chat::ServiceState> chat_services();
  // Each chat service's last_error() ("" when it has nothing to tell).
  std::map<std::string, std::string> chat_service_errors();
  MetricsSnapshot metrics();

  const Settings& settings() const;

  // Expires held jobs past retention and re-checks held jobs when the schedule switched tables.
  // Runs by itself every settings().housekeeping_interval; callable directly (tests, CLI).
  void run_housekeeping();

  // Waits until no decision, print or notification is queued or running (tests, shutdown).
  void drain();

  // Whether the work queue moves: true when nothing is queued, or when a queued task finished
  // within `bound`. A busy engine that keeps finishing tasks is alive; one whose workers are all
  // stuck (a store or printer call that never returns) is not. atdeskd feeds systemd's watchdog
  // with it (service_manager.hpp).
  bool making_progress(std::chrono::milliseconds bound) const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace atdesk::engine
