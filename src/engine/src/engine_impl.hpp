// Internal to the engine: the state behind the Engine facade, shared by engine.cpp (tables,
// facade), job_flow.cpp (decide, print, release, retention) and chat_commands.cpp.
#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "atdesk/core/command.hpp"
#include "atdesk/core/log_context.hpp"
#include "atdesk/core/messages.hpp"
#include "atdesk/engine/engine.hpp"

namespace atdesk::engine {

// "Fax from +81..." / "+81... からのファクス"; `inline_form` for the middle of a sentence.
std::string subject_text(const Job& job, Language language, bool inline_form);
// "job 3fa2c9d1" / "ジョブ 3fa2c9d1".
std::string job_label(const Job& job, Language language);

// The settings namespace of recipient rules' languages: key the rule's id, value "en" / "ja"
// ("" once cleared).
inline constexpr const char* kRuleLanguages = "rule.language";

class Engine::Impl {
 public:
  Impl(Settings settings, Dependencies deps);
  ~Impl();

  // --- lifecycle (engine.cpp)
  [[nodiscard]] Result<void> start();
  void stop();
  void drain();

  // --- tables (engine.cpp)
  [[nodiscard]] Result<void> load_tables();  // (re)builds the caches from the TableStore
  // The recipient rules with their languages (kept in the settings kRuleLanguages by rule id:
  // no column of the store's recipient table, so every store adapter keeps them alike).
  [[nodiscard]] Result<std::vector<RecipientRule>> stored_rules();
  [[nodiscard]] Result<void> store_rule_language(const RecipientRule& rule);  // none: cleared
  std::shared_ptr<const RecipientTable> recipient_table() const;
  ModeTable mode_table(const std::string& name) const;  // missing table: all hold
  std::string active_table_name() const;
  void rewatch();  // tells each chat service which users to watch
  [[nodiscard]] Result<void> append_audit(const std::string& actor, const std::string& action,
                                          const std::string& subject, const std::string& detail);
  void audit(const std::string& actor, const std::string& action, const std::string& subject,
             const std::string& detail);  // append_audit(), its failure logged

  // --- the one function that changes a job's state (job_flow.cpp). Saves `job` with the new
  // state and appends the history row, only if the stored state is still job.state.
  [[nodiscard]] Result<Job> transition(Job job, JobState to, const std::string& actor,
                                       std::string reason);
  // A row in the job's history without a change of state (from == to), for what happens to a
  // job while it stays where it is (the printer stopped it, then resumed it). Saves `job` with
  // `reason` as its reason, only if the stored state is still job.state.
  [[nodiscard]] Result<Job> note(Job job, const std::string& actor, std::string reason);

  // --- job flow (job_flow.cpp)
  [[nodiscard]] Result<Job> submit(IncomingDocument document);
  void process_stored(const JobId& id);       // decide a stored job
  void recheck_held(const std::string& why);  // re-decide every held job
  void on_presence(const std::string& service, const std::string& user, const Presence& p);
  // Hands a pushed presence to the workers so that the updates of one user are applied one at a
  // time in the order the chat service pushed them (the pool would otherwise reorder them).
  void queue_presence(const std::string& service, const std::string& user, const Presence& p);
  // Releases a held job and posts its print; with `batch`, appends the job to it instead, for
  // the caller to print the batch in order with print_in_order() (held jobs print oldest first).
  [[nodiscard]] Result<Job> release(Job job, std::optional<std::string> printer,
                                    const std::string& actor, const std::string& reason,
                                    std::vector<JobId>* batch = nullptr);
  void print_in_order(std::vector<JobId> batch);
  // Queues a job in `printing` on its printer's print queue (printing.cpp). `after_restart`: the
  // job was left in `printing` by a previous run, whose Print-Job may still be arriving.
  void print(const JobId& id, bool after_restart = false);
  // Makes the printable PDF from the original and stores it (a failure to store is logged: the
  // PDF is returned all the same). A document that cannot be read or made printable fails the
  // job (unless it is final already) and is returned as the error.
  [[nodiscard]] Result<Bytes> make_printable(const JobId& id);
  // Renders the page-1 preview from the original and stores it.
  [[nodiscard]] Result<Bytes> make_preview(const JobId& id, const std::string& document_name);
  void schedule_retry(const JobId& id);
  static constexpr const char* kHousekeepingLease = "housekeeping";
  void reconcile();  // start-up: takes over jobs with expired leases, re-checks held jobs
  // Claims jobs whose lease expired (a node died, or this node's earlier life) and works them
  // as a restart would; returns how many it took.
  std::size_t take_over();
  void retry_held();  // schedules the retry of every held job atdesk retries by itself
  // The lease thread: renews this node's job leases every lease_renew_interval and takes over
  // expired ones every takeover_interval, until stop().
  void lease_loop();
  // Reads the recipient table, mode tables and schedule again: another node on the database may
  // have changed them (called by the lease thread at each take-over tick).
  void refresh_tables();
  void housekeeping();
  std::chrono::milliseconds note_clock_jump(Timestamp now);  // returns the skew to allow for
  void housekeeping_tick();  // housekeeping() on the node holding its lease, then re-arms
  [[nodiscard]] Result<Job> remove(Job job, const std::string& actor);

  // Presence of recipients, gathered from the chat services (blocking, outside any lock).
  PresenceMap gather_presence(std::span<const Recipient> recipients);
  // decide() with the hold-everything flags of recipients applied.
  Decision decide_job(Job& job, const std::string& rule_printer);  // sets job.mode_table
  std::string printer_for(const std::string& requested) const;
  print::Printer* printer(const std::string& name) const;

  // --- chat (messages.cpp, chat_commands.cpp)
  // A notice's text in a given language; notify() renders it once per language needed.
  using Render = std::function<std::string(Language)>;
  void notify(const Job& job, const Render& render, bool with_preview);
  // Sends again the notices a chat service could not take (down, throttling, timeouts); called
  // by housekeeping. A notice is dropped once its job has left the state it was about.
  void resend_unsent();
  void queue_unsent(const store::QueuedNotice& notice);  // keeps the cap of kMaxUnsent
  std::string held_text(const Job& job, Language language) const;
  std::string printed_text(const Job& job, Language language) const;
  std::string local_time(Timestamp t, Language language) const;
  // The language atdesk writes to `to` in: the language of the message being answered
  // (`said`, from the chat service), else the one the chat service knows for the user, else the
  // recipient's setting, else [general] language.
  Language language_for(const Recipient& to, std::string_view said = {});
  void on_command(const chat::ChatCommand& command);
  void reply(const chat::ChatCommand& command, const std::string& text);
  bool is_recipient(const Job& job, const chat::ChatCommand& command) const;
  bool hold_flag(const std::string& recipient_key);
  [[nodiscard]] Result<void> set_hold_flag(const std::string& recipient_key, bool on);

  // The job's id and recipients for log sinks with fields (core/log_context.hpp).
  static LogScope log_scope(const Job& job);

  // --- work scheduling
  void post(std::function<void()> fn);
  void post_after(std::chrono::milliseconds delay, std::function<void()> fn);

  Settings settings_;
  Dependencies deps_;

  // Guards the caches below; held only for memory operations, never around store or network
  // calls (transitions are serialised by the store's compare-and-set).
  mutable std::mutex mutex_;
  std::shared_ptr<const RecipientTable> table_;
  std::map<std::string, ModeTable> modes_;
  Schedule schedule_;
  std::vector<ImportedHoliday> imported_holidays_;  // [holidays]: from iCalendar, not stored
  std::string last_active_table_;
  // Clock-jump guard for retention (housekeeping()): the wall and elapsed time of the last check,
  // and how far the wall clock has jumped forward since start-up, net of backward jumps and never
  // below zero. Expiry measures age minus this, so a jump never makes a held job expire early.
  Timestamp last_check_wall_{};
  std::chrono::milliseconds last_check_elapsed_{0};
  std::chrono::milliseconds clock_skew_{0};
  std::set<std::string> retrying_;  // job ids with a print retry scheduled

  // --- printing (printing.cpp): one FIFO queue of job ids per printer, served by one chain of
  // tasks per printer, as PAPPL and the CUPS scheduler do: a printer has at most one processing
  // job (submitted, then tracked until the printer is done with it) and a list of pending ones.
  // A job id is in at most one place at a time, so nothing is submitted twice at once.
  struct QueuedPrint {
    JobId id;
    bool after_restart = false;
  };
  // The timer of the tracked job's next status call, which the printer's job event (where the
  // printer has them) cuts short. Whoever claims it first (the timer or the event) runs the poll.
  struct TrackWait {
    explicit TrackWait(boost::asio::io_context& io) : timer(io) {}
    boost::asio::steady_timer timer;
    std::atomic<bool> claimed{false};
    int printer_job = 0;  // the printer's job id of the tracked job
    std::function<void()> poll;
  };
  struct PrintQueue {
    std::deque<QueuedPrint> pending;     // oldest first
    std::optional<JobId> processing;     // being submitted or tracked
    bool queued_again = false;           // print() asked for `processing` meanwhile
    bool serving = false;                // a task chain serves this queue
    std::shared_ptr<TrackWait> waiting;  // the tracked job's next poll, while it waits
    // Printer job ids reported changed while no poll waited (0: any): the next poll of such a
    // job runs at once. Cleared at each poll; other users' jobs do not pile up.
    std::set<int> changed;
  };
  // What became of one step of the processing job.
  struct PrintStep {
    enum class Next { done, track, set_aside } next = Next::done;
    print::Submission submission;  // track: the printer's job
    Timestamp submitted_at{};      // track: for the latency metric
    int polls = 0;                 // track: status calls so far
    // track: when tracking began and when the printer's state was last asked for (steady
    // clock: they pace the polls, whatever the wall clock does)
    std::chrono::steady_clock::time_point tracked_since{};
    std::chrono::steady_clock::time_point described_at{};
    std::chrono::milliseconds delay{0};  // set_aside: queue the job again after this
    bool after_restart = false;          // set_aside: as print()'s flag
  };
  void serve_queue(const std::string& printer_name);  // starts the next pending job, if any
  void advance(const std::string& printer_name, const JobId& id, PrintStep step);
  PrintStep attempt_print(const JobId& id, bool after_restart);  // find or submit
  PrintStep poll_print(const JobId& id, PrintStep step);         // one status call
  // The printer stopped the tracked job (job-state processing-stopped), or the job waits at a
  // stopped printer: noted once, people told once after print_stopped_notice, followed on.
  // `printer_status`: the printer's state when it was just asked for.
  PrintStep follow_stopped(Job job, PrintStep step, print::RemoteJobState state,
                           std::optional<print::PrinterStatus> printer_status);
  // The printing job goes back to held because of `problem`; retried or told as it says.
  void hold_for_print_problem(Job job, PrintProblem problem, const std::string& why);
  // While jobs wait for an unavailable printer, its state is looked at every print_retry_min;
  // when it is idle (or printing) again they are released at once instead of after the backoff.
  void watch_printer(const std::string& printer_name);
  // The printer reported that its job `printer_job` changed (0: any of its jobs may have): the
  // tracked job's status is asked for now instead of at its next poll.
  void on_printer_event(const std::string& printer_name, int printer_job);
  // How long until the next status call of a tracked job: short while it is young, where the
  // printer has no job events; print_track_interval where it has (they wake the poll).
  std::chrono::milliseconds track_delay(const PrintStep& step, bool pushed) const;
  void check_printer(const std::string& printer_name);
  std::mutex print_queue_mutex_;  // guards print_queues_ and watched_printers_
  std::map<std::string, PrintQueue> print_queues_;
  std::set<std::string> watched_printers_;

  // Notices a chat service refused for a transient reason wait in the store (JobStore's queued
  // notices), at most kMaxUnsent; the oldest is dropped beyond that.
  static constexpr std::size_t kMaxUnsent = 1000;
  std::mutex unsent_mutex_;  // one queue-or-resend at a time, so the cap holds
  std::atomic<std::uint64_t> notices_sent_{0}, notices_failed_{0}, notices_dropped_{0};

  // Counters for /metrics.
  std::atomic<std::uint64_t> decisions_print_{0}, decisions_hold_{0};
  std::atomic<std::uint64_t> presence_ok_{0}, presence_failed_{0};
  std::atomic<std::uint64_t> prints_submitted_{0}, prints_completed_{0}, prints_failed_{0};
  std::atomic<std::uint64_t> print_retries_{0};
  std::mutex latency_mutex_;
  std::vector<std::uint64_t> latency_counts_;
  double latency_sum_ = 0;
  std::uint64_t latency_count_ = 0;
  void observe_latency(double seconds);

  // Work queue: an io_context run by worker threads; `pending_` counts queued + running tasks.
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::vector<std::thread> workers_;
  std::mutex pending_mutex_;
  std::condition_variable pending_cv_;
  // Presence updates not applied yet, per service and user; a user's queue is drained by one
  // task at a time.
  std::mutex presence_mutex_;
  std::map<std::pair<std::string, std::string>, std::deque<Presence>> presence_queue_;
  int pending_ = 0;
  // steady_clock times (ns since its epoch) at which the last queued task finished and at which
  // the queue last went from empty to busy (guarded by pending_mutex_)
  std::int64_t last_finished_ = 0;
  std::int64_t busy_since_ = 0;
  static std::int64_t steady_ns();
  bool making_progress(std::chrono::milliseconds bound);
  bool started_ = false;
  std::atomic<bool> stopping_{false};
  // The lease thread (renew_leases_loop), woken early by stop().
  std::thread lease_thread_;
  // Named leases of work one node does (Engine::singleton), kept by the lease thread.
  Singletons singletons_{deps_.jobs, settings_.singleton_lease, settings_.takeover_interval};
  std::mutex lease_mutex_;
  std::condition_variable lease_cv_;
};

}  // namespace atdesk::engine
