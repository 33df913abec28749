// `atdesk migrate`: moves a node's SQLite store and its spool documents into an empty PostgreSQL
// database (jobs with their history and recipients, queued notices, recipient rules, mode tables,
// schedule, audit log, settings; ids and order kept), then checks that every table has the same
// number of rows on both sides and that every document reads back with the same SHA-256.
// Documents are moved sealed (the spool's bytes); the PostgreSQL store opens them with the same
// key file. docs/postgresql.md "Moving from SQLite".
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "atdesk/core/error.hpp"
#include "atdesk/store/backup.hpp"

namespace atdesk::store {

struct MigrateReport {
  std::vector<std::pair<std::string, std::int64_t>> rows;  // table, rows (equal on both sides)
  std::size_t documents = 0;                               // documents moved and checked
  std::uint64_t document_bytes = 0;                        // their plaintext size
  std::vector<std::string> missing;  // documents the rows name that the spool did not have
};

// `from` must not be in use (its StateLock is taken); `to_url` must name a database with no
// jobs (a new one: the schema is created by the migration). `progress` gets one line per step.
[[nodiscard]] Result<MigrateReport> migrate_sqlite_to_postgres(
    const StatePaths& from, const std::string& to_url,
    const std::function<void(const std::string&)>& progress);

}  // namespace atdesk::store
