// The PostgreSQL adapter of JobStore, TableStore and BlobStore (libpq): a pool of connections
// (one per caller at a time), statements prepared per connection, a multi-host connection string
// with target_session_attrs=read-write by default, and a connection the server dropped replaced
// at its next use. Numbered migrations are applied at open() under an advisory lock, so nodes
// starting together migrate once. Documents are kept in the database sealed as the spool seals
// them (same key file), in chunks of about 1 MiB. docs/postgresql.md.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "atdesk/core/sender.hpp"
#include "atdesk/store/blob_store.hpp"
#include "atdesk/store/job_store.hpp"
#include "atdesk/store/spool.hpp"
#include "atdesk/store/table_store.hpp"

namespace atdesk::store {

class PgConnections;  // the pool (src/pg/pq.hpp)
namespace pg {
class Connection;
}

class PgStore final : public JobStore, public TableStore {
 public:
  struct Settings {
    std::string url;              // postgresql://... or key=value conninfo
    std::size_t connections = 4;  // the pool's size: one per engine worker and API thread
    std::chrono::milliseconds wait_for_connection{10000};
    // This node's name in the leases it holds (empty: a random one); unique per process.
    std::string node_id{};
    // How long a lease lasts after it is taken or renewed, by the database's clock.
    std::chrono::milliseconds lease{30000};
  };

  // Connects, applies pending migrations (a new database gets the "weekday" and "holiday" mode
  // tables, as SQLite does) and refuses a schema newer than this build knows.
  static Result<std::unique_ptr<PgStore>> open(const Settings& settings, NumberPlan plan);
  ~PgStore() override;

  [[nodiscard]] Result<int> schema_version();
  static int highest_schema_version();
  std::shared_ptr<PgConnections> connections() const { return pool_; }
  const std::string& node_id() const { return node_id_; }

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

 private:
  PgStore(std::shared_ptr<PgConnections> pool, NumberPlan plan, std::string node_id,
          std::chrono::milliseconds lease);
  Result<void> migrate();
  Error lease_conflict(pg::Connection& c, const Job& job, std::optional<JobState> expected);

  std::shared_ptr<PgConnections> pool_;
  NumberPlan plan_;
  std::string node_id_;
  std::chrono::milliseconds lease_;
};

// Documents in the database: each blob sealed with the spool's key (seal(), the same bytes as a
// spool file) and kept as rows of about 1 MiB (bytea, STORAGE EXTERNAL: ciphertext does not
// compress). put() replaces the blob in one transaction.
class PgBlobStore final : public BlobStore {
 public:
  static constexpr std::size_t kChunkBytes = 1024 * 1024;

  // `key_file` as for the spool (created when absent); every node needs the same file. The key
  // is checked against a sealed check row, so a node with another key is refused at start.
  static Result<std::unique_ptr<PgBlobStore>> open(std::shared_ptr<PgConnections> pool,
                                                   const std::filesystem::path& key_file);
  PgBlobStore(std::shared_ptr<PgConnections> pool, const SecretKey& key);
  ~PgBlobStore() override;

  Result<void> put(const JobId& job, BlobKind kind, std::span<const std::byte> data) override;
  Result<Bytes> get(const JobId& job, BlobKind kind) override;
  Result<bool> exists(const JobId& job, BlobKind kind) override;
  Result<void> remove(const JobId& job) override;

  // The sealed bytes as stored (for `atdesk migrate`: a spool file is copied without opening).
  [[nodiscard]] Result<void> put_sealed(const JobId& job, BlobKind kind,
                                        std::span<const unsigned char> sealed);

 private:
  std::shared_ptr<PgConnections> pool_;
  SecretKey key_{};
};

}  // namespace atdesk::store
