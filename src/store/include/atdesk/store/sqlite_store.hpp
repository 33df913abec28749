// The SQLite adapter of JobStore and TableStore: WAL, synchronous=FULL, foreign keys on,
// versioned migrations. One connection, serialised by a mutex (SQLite serialises writers anyway).
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <string>

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

  struct Closer {
    void operator()(sqlite3* db) const;
  };
  std::unique_ptr<sqlite3, Closer> db_;
  std::string path_;
  NumberPlan plan_;
  std::mutex mutex_;
  // Leases: history rows up to this id were written before this process opened the file.
  std::int64_t lease_horizon_ = 0;
  std::set<std::string> claimed_;
};

}  // namespace atdesk::store
