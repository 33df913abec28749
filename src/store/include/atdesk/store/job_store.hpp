// The JobStore port: jobs and their history. Every write is a committed transaction when the
// call returns. Implementations: SQLite (default) and PostgreSQL (several nodes on one database).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "atdesk/core/error.hpp"
#include "atdesk/core/job.hpp"

namespace atdesk::store {

struct JobFilter {
  std::vector<JobState> states;          // empty: any state
  std::optional<std::string> recipient;  // Recipient::key()
  std::optional<std::string> sender;     // substring of the sender's display or any identifier
  std::optional<Timestamp> received_after;
  std::optional<Timestamp> received_before;
  std::size_t limit = 1000;
  bool oldest_first = false;  // default: newest first
};

// A notice that a chat service could not take (down, throttling, a timeout). It is kept until
// it is sent or its job has left the state it was about, so that a restart does not lose it.
struct QueuedNotice {
  std::int64_t id = 0;  // assigned by queue_notice()
  JobId job;
  JobState state = JobState::received;  // the job's state the notice is about
  Recipient to;
  std::string text;
  bool with_preview = false;  // the job's page-1 preview goes with it
  int attempts = 1;           // sends tried so far
  Timestamp queued_at{};
};

class JobStore {
 public:
  virtual ~JobStore() = default;
  JobStore() = default;
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  // Inserts a new job and its first history row in one transaction. Errc::conflict if the id
  // exists.
  [[nodiscard]] virtual Result<void> insert(const Job& job, const Transition& first) = 0;

  // Saves `job` (all mutable columns) and appends `transition`, but only if the stored state is
  // still `expected`; otherwise Errc::conflict and nothing changes. This compare-and-set is what
  // makes "a released job prints once" hold across threads and nodes.
  [[nodiscard]] virtual Result<void> update(const Job& job, JobState expected,
                                            const Transition& transition) = 0;

  // Saves mutable columns that do not change the state (print_attempts, printer_job, reason).
  [[nodiscard]] virtual Result<void> save(const Job& job) = 0;

  [[nodiscard]] virtual Result<Job> get(const JobId& id) = 0;
  // Resolves a short id (a unique prefix of at least 4 hex digits) or a full id.
  [[nodiscard]] virtual Result<Job> find(std::string_view id_or_prefix) = 0;
  [[nodiscard]] virtual Result<std::vector<Job>> list(const JobFilter& filter) = 0;
  [[nodiscard]] virtual Result<std::vector<Transition>> history(const JobId& id) = 0;
  // Job counts by state, for metrics.
  [[nodiscard]] virtual Result<std::vector<std::pair<JobState, std::int64_t>>> count_by_state() = 0;

  // Notices waiting to be sent again. queue_notice() returns the notice's id; at most `limit`
  // are listed, oldest first.
  [[nodiscard]] virtual Result<std::int64_t> queue_notice(const QueuedNotice& notice) = 0;
  [[nodiscard]] virtual Result<std::vector<QueuedNotice>> queued_notices(std::size_t limit) = 0;
  [[nodiscard]] virtual Result<void> note_notice_attempt(std::int64_t id) = 0;  // attempts + 1
  [[nodiscard]] virtual Result<void> remove_notice(std::int64_t id) = 0;
  [[nodiscard]] virtual Result<std::int64_t> count_notices() = 0;

  // Leases (docs/architecture.md, "Several nodes"). A job in a working state (is_working: stored,
  // releasing, printing) belongs to the node that inserted it or moved it into that state, until
  // its lease expires; the owner renews its leases with renew_leases(). On PostgreSQL the expiry
  // is set by the database's clock, and insert/update/save of a job another node holds a live
  // lease on is Errc::conflict naming that node. A store used by one process (SQLite, the fakes)
  // treats the jobs it wrote as its own and every job an earlier process left as expired.

  // Takes up to `limit` jobs in a working state whose lease expired (or that no node holds) and
  // makes them this node's, oldest first; each is handed to one node only.
  [[nodiscard]] virtual Result<std::vector<Job>> claim_expired(std::size_t limit) = 0;
  // Extends every lease this node holds; returns how many.
  [[nodiscard]] virtual Result<std::size_t> renew_leases() = 0;
  // A named lease (periodic work, a singleton such as a chat connection): true when this node
  // holds `name` now, taken if free or expired, extended by `ttl` if already held; false while
  // another node holds it. drop_lease() gives it up (a clean stop), so another takes it at once.
  [[nodiscard]] virtual Result<bool> hold_lease(const std::string& name,
                                                std::chrono::milliseconds ttl) = 0;
  [[nodiscard]] virtual Result<void> drop_lease(const std::string& name) = 0;
};

}  // namespace atdesk::store
