#include "atdesk/store/migrate.hpp"

#include <sodium.h>
#include <sqlite3.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <memory>

#include "atdesk/store/pg_store.hpp"
#include "atdesk/store/spool.hpp"
#include "atdesk/store/sqlite_store.hpp"
#include "atdesk/store/state_lock.hpp"
#include "pg/pq.hpp"

namespace atdesk::store {
namespace {

// The tables and columns both schemas have, parents first. `order` keeps SQLite's row order
// (jobs: the arrival order, which PostgreSQL keeps as `seq`); `serial` names a BIGSERIAL id whose
// sequence is moved past the copied ids.
struct Table {
  const char* name;
  const char* columns;
  const char* order;
  bool serial;
};
constexpr Table kTables[] = {
    {"jobs",
     "id, state, source, sender, sender_display, document_name, format, pages, incomplete, "
     "size_bytes, received_at, updated_at, recipients, mode_table, printer, reason, "
     "print_attempts, printer_job, print_problem, print_failures",
     "rowid", false},
    {"job_recipients", "job_id, recipient", "job_id, recipient", false},
    {"job_history", "id, job_id, at, from_state, to_state, actor, reason", "id", true},
    {"queued_notices", "id, job_id, state, recipient, text, with_preview, attempts, queued_at",
     "id", true},
    {"recipient_rules", "id, position, pattern, recipient, printer, note", "id", true},
    {"mode_tables", "name, cells", "name", false},
    {"schedule", "id, body", "id", false},
    {"audit_log", "id, at, actor, action, subject, detail", "id", true},
    {"settings", "ns, key, value", "ns, key", false},
};

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtCloser {
  void operator()(sqlite3_stmt* st) const { sqlite3_finalize(st); }
};

std::string placeholders(const std::string& columns) {
  std::string out;
  int n = 1;
  out += "$1";
  for (char c : columns) {
    if (c == ',') out += ", $" + std::to_string(++n);
  }
  return out;
}

int column_count(const std::string& columns) {
  return 1 + static_cast<int>(std::count(columns.begin(), columns.end(), ','));
}

std::string sha256_hex(std::span<const std::byte> data) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

Result<std::vector<unsigned char>> read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail(Errc::io, file.string() + ": cannot read");
  return std::vector<unsigned char>(std::istreambuf_iterator<char>(in),
                                    std::istreambuf_iterator<char>());
}

}  // namespace

Result<MigrateReport> migrate_sqlite_to_postgres(
    const StatePaths& from, const std::string& to_url,
    const std::function<void(const std::string&)>& progress) {
  if (sodium_init() < 0) return fail(Errc::internal, "libsodium failed to initialise");
  std::error_code ec;
  if (!std::filesystem::exists(from.database, ec)) {
    return fail(Errc::not_found, from.database.string() + ": no SQLite store there");
  }
  // atdeskd must not write to the store while it moves.
  auto lock = StateLock::acquire(from.state_dir, "atdesk migrate");
  if (!lock) return fail(lock.error());
  // Brings an older store to this build's schema first (and refuses a newer one).
  {
    auto upgraded = SqliteStore::open(from.database, NumberPlan{});
    if (!upgraded) return fail(upgraded.error());
  }
  auto spool = EncryptedSpool::open(from.spool_dir, from.key_file);
  if (!spool) return fail(spool.error());
  sqlite3* raw = nullptr;
  if (sqlite3_open_v2(from.database.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    std::unique_ptr<sqlite3, SqliteCloser> closer(raw);
    return fail(Errc::io, from.database.string() +
                              ": cannot open: " + (raw ? sqlite3_errmsg(raw) : "out of memory"));
  }
  std::unique_ptr<sqlite3, SqliteCloser> source(raw);

  auto target = PgStore::open({.url = to_url, .connections = 2}, NumberPlan{});
  if (!target) return fail(target.error());
  auto pool = (*target)->connections();
  MigrateReport report;
  std::vector<std::string> job_ids;
  {
    auto lease = pool->acquire();
    if (!lease) return fail(lease.error());
    auto& c = **lease;
    auto jobs = c.exec("SELECT count(*) FROM jobs");
    if (!jobs) return fail(jobs.error());
    if (jobs->integer(0, 0) != 0) {
      return fail(Errc::conflict, "postgresql " + c.peer() + ": the database holds " +
                                      std::to_string(jobs->integer(0, 0)) +
                                      " job(s) already: migrate into a new, empty database");
    }
    // The rows: one transaction, so a failure leaves the database as it was.
    auto copy_rows = [&]() -> Result<void> {
      if (auto ok = c.exec("BEGIN"); !ok) return fail(ok.error());
      // The seed's mode tables and any documents of an earlier, failed attempt.
      if (auto ok = c.exec("DELETE FROM mode_tables; DELETE FROM documents"); !ok) {
        return fail(ok.error());
      }
      for (const auto& t : kTables) {
        const std::string columns = t.columns;
        const int n = column_count(columns);
        const std::string select = "SELECT " + columns + " FROM " + t.name + " ORDER BY " + t.order;
        sqlite3_stmt* st_raw = nullptr;
        if (sqlite3_prepare_v2(source.get(), select.c_str(), -1, &st_raw, nullptr) != SQLITE_OK) {
          return fail(Errc::io, from.database.string() + ": " + sqlite3_errmsg(source.get()));
        }
        std::unique_ptr<sqlite3_stmt, StmtCloser> st(st_raw);
        const std::string insert_name = std::string("migrate_") + t.name;
        const std::string insert = std::string("INSERT INTO ") + t.name + " (" + columns +
                                   ") VALUES (" + placeholders(columns) + ")";
        std::int64_t rows = 0;
        int rc = 0;
        while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
          pg::Params p;
          for (int i = 0; i < n; ++i) {
            const auto* v = sqlite3_column_text(st.get(), i);
            p.text(v ? std::string_view(reinterpret_cast<const char*>(v),
                                        static_cast<std::size_t>(sqlite3_column_bytes(st.get(), i)))
                     : std::string_view());
          }
          if (std::string_view(t.name) == "jobs") {
            job_ids.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st.get(), 0)));
          }
          if (auto ok = c.run({insert_name.c_str(), insert.c_str()}, p); !ok) {
            return fail(ok.error().code, std::string(t.name) + " row " + std::to_string(rows + 1) +
                                             ": " + ok.error().message);
          }
          ++rows;
        }
        if (rc != SQLITE_DONE) {
          return fail(Errc::io, from.database.string() + ": " + sqlite3_errmsg(source.get()));
        }
        if (t.serial) {
          const std::string bump = std::string("SELECT setval(pg_get_serial_sequence('") + t.name +
                                   "', 'id'), GREATEST(COALESCE(MAX(id), 0), 1), MAX(id) IS NOT "
                                   "NULL) FROM " +
                                   t.name;
          if (auto ok = c.exec(bump); !ok) return fail(ok.error());
        }
        report.rows.emplace_back(t.name, rows);
        if (progress) progress(std::string(t.name) + ": " + std::to_string(rows) + " row(s)");
      }
      if (auto ok = c.exec("COMMIT"); !ok) return fail(ok.error());
      return {};
    };
    if (auto ok = copy_rows(); !ok) {
      if (!c.broken()) (void)c.exec("ROLLBACK");  // the error is what is reported
      return fail(ok.error());
    }
    // The counts, read back on both sides.
    for (const auto& [table, rows] : report.rows) {
      auto counted = c.exec("SELECT count(*) FROM " + table);
      if (!counted) return fail(counted.error());
      if (counted->integer(0, 0) != rows) {
        return fail(Errc::corrupt, "postgresql " + c.peer() + ": " + table + " has " +
                                       std::to_string(counted->integer(0, 0)) +
                                       " row(s) after the move, the SQLite store " +
                                       std::to_string(rows));
      }
    }
  }

  // The documents, sealed as they are in the spool; each read back through the PostgreSQL
  // store (opened, so the key and the job id are checked) and compared by SHA-256.
  auto documents = PgBlobStore::open(pool, from.key_file);
  if (!documents) return fail(documents.error());
  for (const auto& text : job_ids) {
    auto id = JobId::parse(text);
    if (!id) return fail(Errc::corrupt, from.database.string() + ": bad job id " + text);
    for (auto kind : {BlobKind::original, BlobKind::printable, BlobKind::preview}) {
      const auto file = (*spool)->path_of(*id, kind);
      if (!std::filesystem::exists(file, ec)) {
        if (kind == BlobKind::original) report.missing.push_back(file.string());
        continue;
      }
      auto plain = (*spool)->get(*id, kind);
      if (!plain) return fail(plain.error());
      auto sealed = read_file(file);
      if (!sealed) return fail(sealed.error());
      if (auto ok = (*documents)->put_sealed(*id, kind, *sealed); !ok) return fail(ok.error());
      auto back = (*documents)->get(*id, kind);
      if (!back) return fail(back.error());
      if (sha256_hex(*back) != sha256_hex(*plain)) {
        return fail(Errc::corrupt, "the " + std::string(to_string(kind)) + " document of job " +
                                       text + " reads back with another SHA-256 than " +
                                       file.string());
      }
      ++report.documents;
      report.document_bytes += plain->size();
    }
  }
  if (progress) {
    progress("documents: " + std::to_string(report.documents) + " moved, SHA-256 checked");
  }
  return report;
}

}  // namespace atdesk::store
