// The SQLite adapter of JobStore and TableStore: WAL, synchronous=FULL, foreign keys on,
// versioned migrations. One connection for the writes and one for the reads, each serialised by
// a mutex (SQLite serialises writers anyway; in WAL mode a reader does not wait for a writer).
// The job writes (insert, update, save) are committed in groups: writers that arrive while a
// commit is on disk are written together in the next transaction, each in a savepoint of its own
// (a failing compare-and-set rolls back alone), and each returns once that transaction is durable.
#pragma once

#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "atdesk/core/sender.hpp"
#include "atdesk/store/job_store.hpp"
#include "atdesk/store/table_store.hpp"

struct sqlite3;

namespace atdesk::store {

class SqliteStore final : public JobStore, public TableStore {
 public:
  // Opens (creating if needed) the database and applies pending migrations. On a new database
  // the mode tables "weekday" (the seed's table) and "holiday" (everything held) are created.
  static Result<std::unique_ptr<SqliteStore>> open(const std::filesystem::path& file,
                                                   NumberPlan plan);
  ~SqliteStore() override;

  // The schema version after migrations.
  int schema_version();
  // The highest schema version this build knows (its number of migrations). A store with a
  // higher version was written by a newer atdesk and is refused by open().
  static int highest_schema_version();

  // How the job writes were grouped into commits so far (for the benchmarks and the tests).
  struct GroupCommitStats {
    std::int64_t groups = 0;  // transactions begun for job writes
    std::int64_t writes = 0;  // job writes in them (applied or failed)
    std::size_t waiting = 0;  // writes queued now for the next group
  };
  GroupCommitStats group_commit_stats();

  // JobStore
  Result<void> insert(const Job& job, const Transition& first) override;
  Result<void> update(const Job& job, JobState expected, const Transition& transition) override;
  Result<void> save(const Job& job) override;
  Result<Job> get(const JobId& id) override;
  Result<Job> find(std::string_view id_or_prefix) override;
  Result<std::vector<Job>> list(const JobFilter& filter) override;
  Result<std::vector<Transition>> history(const JobId& id) override;
  Result<std::vector<std::pair<JobState, std::int64_t>>> count_by_state() override;
  Result<std::int64_t> queue_notice(const QueuedNotice& notice) override;
  Result<std::vector<QueuedNotice>> queued_notices(std::size_t limit) override;
  Result<void> note_notice_attempt(std::int64_t id) override;
  Result<void> remove_notice(std::int64_t id) override;
  Result<std::int64_t> count_notices() override;
  // One process uses the file (the state folder's lock): the jobs it wrote are its own, the jobs
  // an earlier process left in a working state are expired and claimed once each.
  Result<std::vector<Job>> claim_expired(std::size_t limit) override;
  Result<std::size_t> renew_leases() override;
  Result<bool> hold_lease(const std::string& name, std::chrono::milliseconds ttl) override;
  Result<void> drop_lease(const std::string& name) override;

  // TableStore
  Result<std::vector<RecipientRule>> recipient_rules() override;
  Result<RecipientRule> add_recipient_rule(const RecipientRule& rule) override;
  Result<void> update_recipient_rule(const RecipientRule& rule) override;
  Result<void> remove_recipient_rule(std::int64_t id) override;
  Result<std::vector<RecipientRule>> replace_recipient_rules(
      const std::vector<RecipientRule>& rules) override;
  Result<std::vector<ModeTable>> mode_tables() override;
  Result<void> put_mode_table(const ModeTable& table) override;
  Result<void> remove_mode_table(const std::string& name) override;
  Result<std::optional<Schedule>> schedule() override;
  Result<void> put_schedule(const Schedule& schedule) override;
  Result<void> append_audit(const AuditEntry& entry) override;
  Result<std::vector<AuditEntry>> audit(std::size_t limit, std::int64_t before_id) override;
  Result<std::optional<std::string>> get_setting(const std::string& ns,
                                                 const std::string& key) override;
  Result<void> put_setting(const std::string& ns, const std::string& key,
                           const std::string& value) override;
  Result<std::vector<std::pair<std::string, std::string>>> settings(const std::string& ns) override;

  class Statement;  // RAII sqlite3_stmt with typed binds (sqlite_store.cpp)

 private:
  SqliteStore(sqlite3* db, std::string path, NumberPlan plan);
  Result<void> exec(const char* sql);
  Result<void> migrate();
  Result<void> write_job_recipients(const Job& job);
  Result<std::vector<Job>> query_jobs(Statement& st);
  Result<void> note_lease_horizon();

  // Group commit of the job writes. A write is a function run inside the group's transaction
  // (mutex_ held); it returns an error to have its own changes rolled back.
  struct GroupWrite {
    std::function<Result<void>()> apply;
    std::optional<Result<void>> result;  // set by the group's leader under mutex_
    bool done = false;  // set under group_mutex_ once the group's transaction has ended
  };
  Result<void> write_in_group(std::function<Result<void>()> apply);
  void commit_group(const std::vector<GroupWrite*>& group);
  Result<void> insert_rows(const Job& job, const Transition& first);
  Result<void> update_rows(const Job& job, JobState expected, const Transition& transition);
  Result<void> save_rows(const Job& job);

  struct Closer {
    void operator()(sqlite3* db) const;
  };
  std::unique_ptr<sqlite3, Closer> db_;
  std::string path_;
  NumberPlan plan_;
  std::mutex mutex_;  // db_, the connection that writes
  std::unique_ptr<sqlite3, Closer> reader_;
  std::mutex read_mutex_;  // reader_

  std::mutex group_mutex_;  // the fields below
  std::condition_variable group_done_;
  std::vector<GroupWrite*> waiting_;  // writes for the next group
  bool committing_ = false;           // a writer is committing a group now
  GroupCommitStats stats_;
  // Leases: history rows up to this id were written before this process opened the file.
  std::int64_t lease_horizon_ = 0;  // under mutex_
  std::set<std::string> claimed_;   // under mutex_
};

}  // namespace atdesk::store
