#include "atdesk/store/sqlite_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>

#include "rows.hpp"

namespace atdesk::store {
namespace {

using rows::cells_json;
using rows::corrupt;
using rows::from_millis;
using rows::kJobColumns;
using rows::millis;
using rows::recipients_json;
using rows::schedule_from;
using rows::schedule_json;
using rows::sender_text;
using rows::table_from;

// Versioned schema: migration N brings the schema from version N-1 to N. Never edit a shipped
// migration; add a new one.
const char* const kMigrations[] = {
    // 1: jobs, history, tables, audit, settings.
    R"sql(
CREATE TABLE jobs (
  id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  source TEXT NOT NULL,
  sender TEXT NOT NULL,
  sender_display TEXT NOT NULL,
  document_name TEXT NOT NULL,
  format TEXT NOT NULL,
  pages INTEGER NOT NULL,
  incomplete INTEGER NOT NULL,
  size_bytes INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  recipients TEXT NOT NULL,
  mode_table TEXT NOT NULL,
  printer TEXT NOT NULL,
  reason TEXT NOT NULL,
  print_attempts INTEGER NOT NULL,
  printer_job TEXT NOT NULL
);
CREATE INDEX jobs_by_state ON jobs(state, received_at);
CREATE INDEX jobs_by_received ON jobs(received_at);
CREATE TABLE job_recipients (
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  recipient TEXT NOT NULL,
  PRIMARY KEY (job_id, recipient)
);
CREATE INDEX job_recipients_by_recipient ON job_recipients(recipient);
CREATE TABLE job_history (
  id INTEGER PRIMARY KEY,
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  at INTEGER NOT NULL,
  from_state TEXT NOT NULL,
  to_state TEXT NOT NULL,
  actor TEXT NOT NULL,
  reason TEXT NOT NULL
);
CREATE INDEX job_history_by_job ON job_history(job_id, id);
CREATE TABLE recipient_rules (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  position INTEGER NOT NULL,
  pattern TEXT NOT NULL,
  recipient TEXT NOT NULL,
  printer TEXT NOT NULL,
  note TEXT NOT NULL
);
CREATE TABLE mode_tables (name TEXT PRIMARY KEY, cells TEXT NOT NULL);
CREATE TABLE schedule (id INTEGER PRIMARY KEY CHECK (id = 1), body TEXT NOT NULL);
CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  subject TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE TABLE settings (ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
                       PRIMARY KEY (ns, key));
)sql",
    // 2: notices a chat service could not take, kept until sent or obsolete.
    R"sql(
CREATE TABLE queued_notices (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  state TEXT NOT NULL,
  recipient TEXT NOT NULL,
  text TEXT NOT NULL,
  with_preview INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  queued_at INTEGER NOT NULL
);
)sql",
    // 3: why a job was last held by printing, as data (a retry follows or a person decides),
    // and how many times in a row that happened.
    R"sql(
ALTER TABLE jobs ADD COLUMN print_problem TEXT NOT NULL DEFAULT 'none';
ALTER TABLE jobs ADD COLUMN print_failures INTEGER NOT NULL DEFAULT 0;
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

// SQLite's LIMIT is a signed 64-bit integer; a larger size_t (callers use SIZE_MAX for "all")
// would be read as a real number and fail with "datatype mismatch".
std::int64_t sql_limit(std::size_t limit) {
  return static_cast<std::int64_t>(
      std::min<std::size_t>(limit, static_cast<std::size_t>(INT64_MAX)));
}

}  // namespace

void SqliteStore::Closer::operator()(sqlite3* db) const {
  sqlite3_close_v2(db);
}

// A prepared statement: binds by position (1-based), steps, reads columns. Finalised on scope exit.
class SqliteStore::Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
      error_ = sqlite3_errmsg(db);
      stmt_ = nullptr;
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool ok() const { return stmt_ != nullptr; }
  const std::string& error() const { return error_; }

  Statement& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Statement& bind(int i, int v) { return bind(i, static_cast<std::int64_t>(v)); }
  Statement& bind(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  Statement& bind(int i, const char* v) { return bind(i, std::string_view(v)); }

  // SQLITE_ROW -> true, SQLITE_DONE -> false; errors are kept in error().
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) error_ = sqlite3_errmsg(db_);
    return false;
  }
  bool failed() const { return !error_.empty(); }

  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string error_;
};

namespace {

// A transaction that rolls back unless committed.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) {
    ok_ = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK;
  }
  ~Transaction() {
    if (ok_ && !done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  bool ok() const { return ok_; }
  Result<void> commit() {
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      return fail(Errc::io, std::string("commit failed: ") + sqlite3_errmsg(db_));
    }
    done_ = true;
    return {};
  }

 private:
  sqlite3* db_;
  bool ok_ = false;
  bool done_ = false;
};

std::unexpected<Error> db_error(const std::string& what, const std::string& detail) {
  return fail(Errc::io, "store: " + what + ": " + detail);
}

}  // namespace

SqliteStore::SqliteStore(sqlite3* db, std::string path, NumberPlan plan)
    : db_(db), path_(std::move(path)), plan_(std::move(plan)) {}

SqliteStore::~SqliteStore() = default;

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::filesystem::path& file,
                                                       NumberPlan plan) {
  std::error_code ec;
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
  if (ec) {
    return fail(Errc::io, file.parent_path().string() +
                              ": cannot create the database folder: " + ec.message());
  }
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(file.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  std::unique_ptr<SqliteStore> store(new SqliteStore(raw, file.string(), std::move(plan)));
  if (rc != SQLITE_OK) {
    return fail(Errc::io, file.string() + ": cannot open the database: " +
                              (raw ? sqlite3_errmsg(raw) : "out of memory"));
  }
  sqlite3_busy_timeout(raw, 5000);
  for (const char* pragma :
       {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON"}) {
    if (auto ok = store->exec(pragma); !ok) return fail(ok.error());
  }
  if (auto ok = store->migrate(); !ok) return fail(ok.error());
  // A second connection for the reads: in WAL mode it reads the last committed data while the
  // first one syncs a commit, so readers do not wait for the disk (and never see a group's
  // writes before they are committed).
  sqlite3* reader = nullptr;
  const int rrc = sqlite3_open_v2(file.c_str(), &reader,
                                  SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, nullptr);
  store->reader_.reset(reader);
  if (rrc != SQLITE_OK) {
    return fail(Errc::io, file.string() + ": cannot open the database for reading: " +
                              (reader ? sqlite3_errmsg(reader) : "out of memory"));
  }
  sqlite3_busy_timeout(reader, 5000);
  if (sqlite3_exec(reader, "PRAGMA query_only=ON", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return fail(Errc::io, file.string() + ": " + sqlite3_errmsg(reader));
  }
  if (auto ok = store->note_lease_horizon(); !ok) return fail(ok.error());
  return store;
}

Result<void> SqliteStore::exec(const char* sql) {
  char* err = nullptr;
  if (const int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, &err); rc != SQLITE_OK) {
    std::string message = err ? err : "unknown error";
    sqlite3_free(err);
    // A file that is not a database, or a damaged one, is corrupt data rather than failed I/O:
    // the operator has to restore it, retrying will not help.
    const int primary = rc & 0xff;
    if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT) {
      return fail(Errc::corrupt, path_ + ": " + message + " (damaged or not an atdesk database)");
    }
    return fail(Errc::io, path_ + ": " + message);
  }
  return {};
}

int SqliteStore::schema_version() {
  std::lock_guard lock(read_mutex_);
  Statement st(reader_.get(), "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  return st.ok() && st.step() ? static_cast<int>(st.integer(0)) : 0;
}

int SqliteStore::highest_schema_version() {
  return kSchemaVersion;
}

Result<void> SqliteStore::migrate() {
  if (auto ok = exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                     "applied_at INTEGER NOT NULL)");
      !ok) {
    return ok;
  }
  int current = 0;
  {
    Statement st(db_.get(), "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    if (st.ok() && st.step()) current = static_cast<int>(st.integer(0));
  }
  if (current > kSchemaVersion) {
    return fail(Errc::unsupported,
                path_ + ": the database has schema version " + std::to_string(current) +
                    ", newer than the highest this atdesk knows (" +
                    std::to_string(kSchemaVersion) +
                    "); it was written by a newer atdesk: run that version, or restore a backup "
                    "made before the upgrade (no migration was run)");
  }
  for (int v = current + 1; v <= kSchemaVersion; ++v) {
    Transaction tx(db_.get());
    if (!tx.ok()) return db_error("migration", sqlite3_errmsg(db_.get()));
    if (auto ok = exec(kMigrations[v - 1]); !ok) {
      return fail(Errc::io,
                  path_ + ": migration " + std::to_string(v) + " failed: " + ok.error().message);
    }
    Statement st(db_.get(),
                 "INSERT INTO schema_migrations (version, applied_at) VALUES (?, "
                 "strftime('%s','now'))");
    st.bind(1, v);
    st.step();
    if (st.failed()) return db_error("migration", st.error());
    if (v == 1) {
      // A new database starts with the seed's status table and an all-hold holiday table.
      for (const auto& t : {ModeTable::seed_default("weekday"), ModeTable("holiday")}) {
        Statement ins(db_.get(), "INSERT INTO mode_tables (name, cells) VALUES (?, ?)");
        ins.bind(1, t.name()).bind(2, cells_json(t));
        ins.step();
        if (ins.failed()) return db_error("seed mode tables", ins.error());
      }
    }
    if (auto ok = tx.commit(); !ok) return ok;
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// Jobs

Result<void> SqliteStore::write_job_recipients(const Job& job) {
  Statement del(db_.get(), "DELETE FROM job_recipients WHERE job_id = ?");
  del.bind(1, job.id.str());
  del.step();
  if (del.failed()) return db_error("job recipients", del.error());
  for (const auto& r : job.recipients) {
    Statement ins(db_.get(),
                  "INSERT OR IGNORE INTO job_recipients (job_id, recipient) VALUES (?, ?)");
    ins.bind(1, job.id.str()).bind(2, r.key());
    ins.step();
    if (ins.failed()) return db_error("job recipients", ins.error());
  }
  return {};
}

namespace {

void bind_history(SqliteStore::Statement& st, const Transition& t) {
  st.bind(1, t.job.str())
      .bind(2, millis(t.at))
      .bind(3, to_string(t.from))
      .bind(4, to_string(t.to))
      .bind(5, t.actor)
      .bind(6, t.reason);
}

constexpr const char* kInsertHistory =
    "INSERT INTO job_history (job_id, at, from_state, to_state, actor, reason) "
    "VALUES (?, ?, ?, ?, ?, ?)";

// Binds the mutable columns in the order of kUpdateColumns, starting at index 1.
constexpr const char* kUpdateColumns =
    "state = ?1, sender = ?2, sender_display = ?3, updated_at = ?4, recipients = ?5, "
    "mode_table = ?6, printer = ?7, reason = ?8, print_attempts = ?9, printer_job = ?10, "
    "pages = ?11, incomplete = ?12, print_problem = ?13, print_failures = ?14";

void bind_mutable(SqliteStore::Statement& st, const Job& j) {
  st.bind(1, to_string(j.state))
      .bind(2, sender_text(j.sender))
      .bind(3, j.sender.display())
      .bind(4, millis(j.updated_at))
      .bind(5, recipients_json(j.recipients))
      .bind(6, j.mode_table)
      .bind(7, j.printer)
      .bind(8, j.reason)
      .bind(9, j.print_attempts)
      .bind(10, j.printer_job)
      .bind(11, j.pages)
      .bind(12, j.incomplete ? 1 : 0)
      .bind(13, to_string(j.print_problem))
      .bind(14, j.print_failures);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Group commit of the job writes
//
// With synchronous=FULL every commit waits for the disk, and the engine's workers each write a
// job's transition at the end of a decision: committed one by one, the disk's sync rate was the
// rate of decisions. So a write joins a queue; the first writer that finds no commit under way
// takes the whole queue (its own write and those of writers that arrived while the previous
// group was syncing), writes them in one transaction, each in a savepoint of its own, commits,
// and wakes the others. Every writer returns only when the transaction that holds its write is
// durable, or with the error that ended it. A write that fails (a lost compare-and-set, a
// missing job) rolls back to its savepoint and fails alone. The whole group runs under mutex_,
// so readers never see a write before it is committed.

Result<void> SqliteStore::write_in_group(std::function<Result<void>()> apply) {
  GroupWrite write{std::move(apply), std::nullopt, false};
  std::unique_lock lock(group_mutex_);
  waiting_.push_back(&write);
  while (!write.done) {
    if (committing_) {
      group_done_.wait(lock);
      continue;
    }
    // Lead: take every waiting write (this one among them) and commit them together.
    committing_ = true;
    std::vector<GroupWrite*> group;
    group.swap(waiting_);
    ++stats_.groups;
    stats_.writes += static_cast<std::int64_t>(group.size());
    lock.unlock();
    commit_group(group);
    lock.lock();
    for (auto* w : group) w->done = true;  // publishes each result to its writer
    committing_ = false;
    group_done_.notify_all();
  }
  return *std::move(write.result);
}

SqliteStore::GroupCommitStats SqliteStore::group_commit_stats() {
  std::lock_guard lock(group_mutex_);
  auto out = stats_;
  out.waiting = waiting_.size();
  return out;
}

void SqliteStore::commit_group(const std::vector<GroupWrite*>& group) {
  std::lock_guard lock(mutex_);
  sqlite3* db = db_.get();
  const auto fail_all = [&](const Error& e) {
    for (auto* w : group) {
      if (!w->result || *w->result) w->result = std::unexpected(e);
    }
  };
  if (sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
    fail_all(db_error("begin a transaction", sqlite3_errmsg(db)).error());
    return;
  }
  bool any_applied = false;
  for (auto* w : group) {
    if (sqlite3_exec(db, "SAVEPOINT job_write", nullptr, nullptr, nullptr) != SQLITE_OK) {
      w->result = db_error("savepoint", sqlite3_errmsg(db));
      continue;
    }
    w->result = w->apply();
    if (sqlite3_get_autocommit(db) != 0) {
      // SQLite rolled the whole transaction back (disk full, I/O error): every write of the
      // group is lost, the earlier ones too.
      const std::string why =
          *w->result ? std::string(sqlite3_errmsg(db)) : w->result->error().message;
      fail_all(db_error("write", "the transaction was rolled back: " + why).error());
      return;
    }
    if (*w->result) {
      any_applied = true;
    } else {
      sqlite3_exec(db, "ROLLBACK TO job_write", nullptr, nullptr, nullptr);
    }
    sqlite3_exec(db, "RELEASE job_write", nullptr, nullptr, nullptr);
  }
  if (!any_applied) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    return;
  }
  if (sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    const auto e = db_error("commit", sqlite3_errmsg(db)).error();
    if (sqlite3_get_autocommit(db) == 0) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    fail_all(e);
  }
}

Result<void> SqliteStore::insert(const Job& job, const Transition& first) {
  return write_in_group([&] { return insert_rows(job, first); });
}

Result<void> SqliteStore::update(const Job& job, JobState expected, const Transition& t) {
  return write_in_group([&] { return update_rows(job, expected, t); });
}

Result<void> SqliteStore::save(const Job& job) {
  return write_in_group([&] { return save_rows(job); });
}

Result<void> SqliteStore::insert_rows(const Job& job, const Transition& first) {
  Statement st(
      db_.get(),
      "INSERT INTO jobs (id, state, source, sender, sender_display, document_name, "
      "format, pages, incomplete, size_bytes, received_at, updated_at, recipients, "
      "mode_table, printer, reason, print_attempts, printer_job, print_problem, print_failures) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, "
      "?18, ?19, ?20)");
  st.bind(1, job.id.str())
      .bind(2, to_string(job.state))
      .bind(3, to_string(job.source))
      .bind(4, sender_text(job.sender))
      .bind(5, job.sender.display())
      .bind(6, job.document_name)
      .bind(7, to_string(job.format))
      .bind(8, job.pages)
      .bind(9, job.incomplete ? 1 : 0)
      .bind(10, static_cast<std::int64_t>(job.size_bytes))
      .bind(11, millis(job.received_at))
      .bind(12, millis(job.updated_at))
      .bind(13, recipients_json(job.recipients))
      .bind(14, job.mode_table)
      .bind(15, job.printer)
      .bind(16, job.reason)
      .bind(17, job.print_attempts)
      .bind(18, job.printer_job)
      .bind(19, to_string(job.print_problem))
      .bind(20, job.print_failures);
  st.step();
  if (st.failed()) {
    if (st.error().find("UNIQUE") != std::string::npos) {
      return fail(Errc::conflict, "job " + job.id.str() + " exists already");
    }
    return db_error("insert job", st.error());
  }
  if (auto ok = write_job_recipients(job); !ok) return ok;
  Statement h(db_.get(), kInsertHistory);
  bind_history(h, first);
  h.step();
  if (h.failed()) return db_error("insert history", h.error());
  return {};
}

Result<void> SqliteStore::update_rows(const Job& job, JobState expected, const Transition& t) {
  const std::string sql =
      std::string("UPDATE jobs SET ") + kUpdateColumns + " WHERE id = ?15 AND state = ?16";
  Statement st(db_.get(), sql.c_str());
  bind_mutable(st, job);
  st.bind(15, job.id.str()).bind(16, to_string(expected));
  st.step();
  if (st.failed()) return db_error("update job", st.error());
  if (sqlite3_changes(db_.get()) == 0) {
    Statement exists(db_.get(), "SELECT state FROM jobs WHERE id = ?");
    exists.bind(1, job.id.str());
    if (!exists.step()) return fail(Errc::not_found, "job " + job.id.str() + " not found");
    return fail(Errc::conflict, "job " + std::string(job.id.short_id()) + " is " + exists.text(0) +
                                    ", no longer " + std::string(to_string(expected)));
  }
  if (auto ok = write_job_recipients(job); !ok) return ok;
  Statement h(db_.get(), kInsertHistory);
  bind_history(h, t);
  h.step();
  if (h.failed()) return db_error("insert history", h.error());
  return {};
}

Result<void> SqliteStore::save_rows(const Job& job) {
  // Everything but the state, which only update() changes.
  Statement st(
      db_.get(),
      "UPDATE jobs SET sender = ?2, sender_display = ?3, updated_at = ?4, recipients = "
      "?5, mode_table = ?6, printer = ?7, reason = ?8, print_attempts = ?9, printer_job "
      "= ?10, pages = ?11, incomplete = ?12, print_problem = ?13, print_failures = ?14 WHERE "
      "id = ?15");
  bind_mutable(st, job);
  st.bind(15, job.id.str());
  st.step();
  if (st.failed()) return db_error("save job", st.error());
  if (sqlite3_changes(db_.get()) == 0) {
    return fail(Errc::not_found, "job " + job.id.str() + " not found");
  }
  return write_job_recipients(job);
}

Result<std::vector<Job>> SqliteStore::query_jobs(Statement& st) {
  std::vector<Job> out;
  while (st.step()) {
    rows::JobRow r{st.text(0),     st.text(1),    st.text(2),    st.text(3),    st.text(4),
                   st.text(5),     st.integer(6), st.integer(7), st.integer(8), st.integer(9),
                   st.integer(10), st.text(11),   st.text(12),   st.text(13),   st.text(14),
                   st.integer(15), st.text(16),   st.text(17),   st.integer(18)};
    auto job = rows::job_from(r);
    if (!job) return fail(job.error());
    out.push_back(std::move(*job));
  }
  if (st.failed()) return db_error("read jobs", st.error());
  return out;
}

Result<Job> SqliteStore::get(const JobId& id) {
  std::lock_guard lock(read_mutex_);
  const std::string sql = std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = ?";
  Statement st(reader_.get(), sql.c_str());
  st.bind(1, id.str());
  auto jobs = query_jobs(st);
  if (!jobs) return fail(jobs.error());
  if (jobs->empty()) return fail(Errc::not_found, "job " + id.str() + " not found");
  return std::move(jobs->front());
}

Result<Job> SqliteStore::find(std::string_view id_or_prefix) {
  auto parsed = JobId::parse_prefix(id_or_prefix);
  if (!parsed) return fail(parsed.error());
  const std::string& prefix = *parsed;
  std::lock_guard lock(read_mutex_);
  const std::string sql =
      std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id >= ?1 AND id < ?2 LIMIT 2";
  Statement st(reader_.get(), sql.c_str());
  st.bind(1, prefix).bind(2, prefix + "g");  // 'g' sorts after every hex digit
  auto jobs = query_jobs(st);
  if (!jobs) return fail(jobs.error());
  return rows::the_job_with_prefix(prefix, std::move(*jobs));
}

Result<std::vector<Job>> SqliteStore::list(const JobFilter& f) {
  std::string sql = std::string("SELECT ") + kJobColumns + " FROM jobs WHERE 1";
  std::vector<std::string> texts;
  std::vector<std::int64_t> ints;
  std::string binds;  // 't' or 'i' per parameter, in order
  if (!f.states.empty()) {
    sql += " AND state IN (";
    for (std::size_t i = 0; i < f.states.size(); ++i) {
      sql += i ? ", ?" : "?";
      texts.emplace_back(to_string(f.states[i]));
      binds += 't';
    }
    sql += ")";
  }
  if (f.recipient) {
    sql += " AND id IN (SELECT job_id FROM job_recipients WHERE recipient = ?)";
    texts.push_back(*f.recipient);
    binds += 't';
  }
  if (f.sender) {
    // Match the display and the identifiers' values, not the JSON text: every sender's JSON has
    // the keys "caller_id", "sip_uri", ..., so a LIKE on it would match "_" or "ip" everywhere.
    sql +=
        " AND (sender_display LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM json_each(sender) "
        "WHERE json_each.value LIKE ? ESCAPE '\\'))";
    std::string escaped;
    for (char c : *f.sender) {
      if (c == '%' || c == '_' || c == '\\') escaped += '\\';
      escaped += c;
    }
    texts.push_back("%" + escaped + "%");
    texts.push_back("%" + escaped + "%");
    binds += "tt";
  }
  if (f.received_after) {
    sql += " AND received_at >= ?";
    ints.push_back(millis(*f.received_after));
    binds += 'i';
  }
  if (f.received_before) {
    sql += " AND received_at < ?";
    ints.push_back(millis(*f.received_before));
    binds += 'i';
  }
  sql += f.oldest_first ? " ORDER BY received_at ASC, rowid ASC"
                        : " ORDER BY received_at DESC, rowid DESC";
  sql += " LIMIT " + std::to_string(sql_limit(f.limit));
  std::lock_guard lock(read_mutex_);
  Statement st(reader_.get(), sql.c_str());
  if (!st.ok()) return db_error("list jobs", st.error());
  std::size_t ti = 0, ii = 0;
  for (std::size_t i = 0; i < binds.size(); ++i) {
    if (binds[i] == 't') {
      st.bind(static_cast<int>(i + 1), texts[ti++]);
    } else {
      st.bind(static_cast<int>(i + 1), ints[ii++]);
    }
  }
  return query_jobs(st);
}

Result<std::vector<Transition>> SqliteStore::history(const JobId& id) {
  std::lock_guard lock(read_mutex_);
  Statement st(reader_.get(),
               "SELECT at, from_state, to_state, actor, reason FROM job_history WHERE job_id = ? "
               "ORDER BY id");
  st.bind(1, id.str());
  std::vector<Transition> out;
  while (st.step()) {
    Transition t;
    t.job = id;
    t.at = from_millis(st.integer(0));
    auto from = parse_job_state(st.text(1));
    auto to = parse_job_state(st.text(2));
    if (!from)
      return std::unexpected(
          corrupt(id.str(), "job_history.from_state", "a job state", st.text(1)));
    if (!to)
      return std::unexpected(corrupt(id.str(), "job_history.to_state", "a job state", st.text(2)));
    t.from = *from;
    t.to = *to;
    t.actor = st.text(3);
    t.reason = st.text(4);
    out.push_back(std::move(t));
  }
  if (st.failed()) return db_error("history", st.error());
  return out;
}

Result<std::vector<std::pair<JobState, std::int64_t>>> SqliteStore::count_by_state() {
  std::lock_guard lock(read_mutex_);
  Statement st(reader_.get(), "SELECT state, COUNT(*) FROM jobs GROUP BY state");
  std::vector<std::pair<JobState, std::int64_t>> out;
  while (st.step()) {
    auto s = parse_job_state(st.text(0));
    if (!s) return std::unexpected(corrupt("(count)", "state", "a job state", st.text(0)));
    out.emplace_back(*s, st.integer(1));
  }
  if (st.failed()) return db_error("count jobs", st.error());
  return out;
}

// ---------------------------------------------------------------------------------------------
// Queued notices

Result<std::int64_t> SqliteStore::queue_notice(const QueuedNotice& n) {
  std::lock_guard lock(mutex_);
  Statement st(db_.get(),
               "INSERT INTO queued_notices (job_id, state, recipient, text, with_preview, "
               "attempts, queued_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
  st.bind(1, n.job.str())
      .bind(2, to_string(n.state))
      .bind(3, n.to.key())
      .bind(4, n.text)
      .bind(5, n.with_preview ? 1 : 0)
      .bind(6, n.attempts)
      .bind(7, millis(n.queued_at));
  st.step();
  if (st.failed()) return db_error("queue notice", st.error());
  return sqlite3_last_insert_rowid(db_.get());
}

Result<std::vector<QueuedNotice>> SqliteStore::queued_notices(std::size_t limit) {
  std::lock_guard lock(read_mutex_);
  const std::string sql =
      "SELECT id, job_id, state, recipient, text, with_preview, attempts, queued_at FROM "
      "queued_notices ORDER BY id LIMIT " +
      std::to_string(sql_limit(limit));
  Statement st(reader_.get(), sql.c_str());
  std::vector<QueuedNotice> out;
  while (st.step()) {
    QueuedNotice n;
    n.id = st.integer(0);
    const auto job = st.text(1);
    auto id = JobId::parse(job);
    auto state = parse_job_state(st.text(2));
    auto to = Recipient::parse_key(st.text(3));
    if (!id) return std::unexpected(corrupt(job, "queued_notices.job_id", "a job id", job));
    if (!state) {
      return std::unexpected(corrupt(job, "queued_notices.state", "a job state", st.text(2)));
    }
    if (!to) {
      return std::unexpected(
          corrupt(job, "queued_notices.recipient", "a recipient key", st.text(3)));
    }
    n.job = *id;
    n.state = *state;
    n.to = std::move(*to);
    n.text = st.text(4);
    n.with_preview = st.integer(5) != 0;
    n.attempts = static_cast<int>(st.integer(6));
    n.queued_at = from_millis(st.integer(7));
    out.push_back(std::move(n));
  }
  if (st.failed()) return db_error("queued notices", st.error());
  return out;
}

Result<void> SqliteStore::note_notice_attempt(std::int64_t id) {
  std::lock_guard lock(mutex_);
  Statement st(db_.get(), "UPDATE queued_notices SET attempts = attempts + 1 WHERE id = ?");
  st.bind(1, id);
  st.step();
  if (st.failed()) return db_error("queued notice attempt", st.error());
  return {};
}

Result<void> SqliteStore::remove_notice(std::int64_t id) {
  std::lock_guard lock(mutex_);
  Statement st(db_.get(), "DELETE FROM queued_notices WHERE id = ?");
  st.bind(1, id);
  st.step();
  if (st.failed()) return db_error("remove queued notice", st.error());
  return {};
}

Result<std::int64_t> SqliteStore::count_notices() {
  std::lock_guard lock(read_mutex_);
  Statement st(reader_.get(), "SELECT COUNT(*) FROM queued_notices");
  if (!st.step()) return db_error("count queued notices", st.error());
  return st.integer(0);
}

// ---------------------------------------------------------------------------------------------
// Tables

Result<std::vector<RecipientRule>> SqliteStore::recipient_rules() {
  std::lock_guard lock(read_mutex_);
  Statement st(reader_.get(),
               "SELECT id, pattern, recipient, printer, note FROM recipient_rules ORDER BY "
               "position, id");
  std::vector<RecipientRule> out;
  while (st.step()) {
    RecipientRule r;
    r.id = st.integer(0);
    auto pattern = SenderPattern::parse(st.text(1), plan_);
    auto recipient = Recipient::parse_key(st.text(2));
    if (!pattern || !recipient) {
      return fail(Errc::corrupt,
                  "store: recipient rule " + std::to_string(r.id) + " cannot be read: " +
                      (!pattern ? pattern.error().message : recipient.error().message));
    }
    r.pattern = *pattern;
    r.recipient = *recipient;
    r.printer = st.text(3);
    r.note = st.text(4);
    out.push_back(std::move(r));
  }
  if (st.failed()) return db_error("recipient rules", st.error());
  return out;
}

Result<RecipientRule> SqliteStore::add_recipient_rule(const RecipientRule& rule) {
  std::lock_guard lock(mutex_);
  Statement st(db_.get(),
               "INSERT INTO recipient_rules (position, pattern, recipient, printer, note) VALUES "
               "((SELECT COALESCE(MAX(position), 0) + 1 FROM recipient_rules), ?, ?, ?, ?)");
  st.bind(1, rule.pattern.to_string())
      .bind(2, rule.recipient.key())
      .bind(3, rule.printer)
      .bind(4, rule.note);
  st.step();
  if (st.failed()) return db_error("add recipient rule", st.error());
  auto out = rule;
  out.id = sqlite3_last_insert_rowid(db_.get());
  return out;
}

Result<void> SqliteStore::update_recipient_rule(const RecipientRule& rule) {
  std::lock_guard lock(mutex_);
  Statement st(db_.get(),
               "UPDATE recipient_rules SET pattern = ?, recipient = ?, printer = ?, note = ? "
               "WHERE id = ?");
  st.bind(1, rule.pattern.to_string())
      .bind(2, rule.recipient.key())
      .bind(3, rule.printer)
      .bind(4, rule.note)
      .bind(5, rule.id);
  st.step();
  if (st.failed()) return db_error("update recipient rule", st.error());
  if (sqlite3_changes(db_.get()) == 0) {
    return fail(Errc::not_found, "recipient rule " + std::to_string(rule.id) + " not found");
  }
  return {};
}

Result<void> SqliteStore::remove_recipient_rule(std::int64_t id) {
  std::lock_guard lock(mutex_);
  Statement st(db_.get(), "DELETE FROM recipient_rules WHERE id = ?");
  st.bind(1, id);
  st.step();
  if (st.failed()) return db_error("delete recipient rule", st.error());
  if (sqlite3_changes(db_.get()) == 0) {
    return fail(Errc::not_found, "recipient rule " + std::to_string(id) + " not found");
  }
  return {};
}

Result<std::vector<RecipientRule>> SqliteStore::replace_recipient_rules(
    const std::vector<RecipientRule>& rules) {
  {
    std::lock_guard lock(mutex_);
    Transaction tx(db_.get());
    if (!tx.ok()) return db_error("replace recipient rules", sqlite3_errmsg(db_.get()));
    if (auto ok = exec("DELETE FROM recipient_rules"); !ok) return fail(ok.error());
    int position = 1;
    for (const auto& rule : rules) {
      Statement st(db_.get(),
                   "INSERT INTO recipient_rules (position, pattern, recipient, printer, note) "
                   "VALUES (?, ?, ?, ?, ?)");
      st.bind(1, position++)
          .bind(2, rule.pattern.to_string())
          .bind(3, rule.recipient.key())
          .bind(4, rule.printer)
          .bind(5, rule.note);
      st.step();
      if (st.failed()) return db_error("replace recipient rules", st.error());
    }
    if (auto ok = tx.commit(); !ok) return fail(ok.error());
  }
  return recipient_rules();
}

Result<std::vector<ModeTable>> SqliteStore::mode_tables() {
  std::lock_guard lock(read_mutex_);
  Statement st(reader_.get(), "SELECT name, cells FROM mode_tables ORDER BY name");
  std::vector<ModeTable> out;
  while (st.step()) {
    auto table = table_from(st.text(0), st.text(1));
    if (!table) return std::unexpected(table.error());
    out.push_back(std::move(*table));
  }
  if (st.failed()) return db_error("mode tables", st.error());
  return out;
}

Result<void> SqliteStore::put_mode_table(const ModeTable& table) {
  std::lock_guard lock(mutex_);
  Statement st(db_.get(),
               "INSERT INTO mode_tables (name, cells) VALUES (?, ?) ON CONFLICT(name) DO UPDATE "
               "SET cells = excluded.cells");
  st.bind(1, table.name()).bind(2, cells_json(table));
  st.step();
  if (st.failed()) return db_error("put mode table", st.error());
  return {};
}

Result<void> SqliteStore::remove_mode_table(const std::string& name) {
  std::lock_guard lock(mutex_);
  Statement st(db_.get(), "DELETE FROM mode_tables WHERE name = ?");
  st.bind(1, name);
  st.step();
  if (st.failed()) return db_error("delete mode table", st.error());
  if (sqlite3_changes(db_.get()) == 0) {
    return fail(Errc::not_found, "mode table '" + name + "' not found");
  }
  return {};
}

Result<std::optional<Schedule>> SqliteStore::schedule() {
  std::lock_guard lock(read_mutex_);
  Statement st(reader_.get(), "SELECT body FROM schedule WHERE id = 1");
  if (st.step()) {
    auto schedule = schedule_from(st.text(0));
    if (!schedule) return std::unexpected(schedule.error());
    return std::optional<Schedule>(std::move(*schedule));
  }
  if (st.failed()) return db_error("schedule", st.error());
  return std::optional<Schedule>{};
}

Result<void> SqliteStore::put_schedule(const Schedule& schedule) {
  std::lock_guard lock(mutex_);
  Statement st(db_.get(),
               "INSERT INTO schedule (id, body) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET body "
               "= excluded.body");
  st.bind(1, schedule_json(schedule));
  st.step();
  if (st.failed()) return db_error("put schedule", st.error());
  return {};
}

Result<void> SqliteStore::append_audit(const AuditEntry& e) {
  std::lock_guard lock(mutex_);
  Statement st(db_.get(),
               "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)");
  st.bind(1, millis(e.at)).bind(2, e.actor).bind(3, e.action).bind(4, e.subject).bind(5, e.detail);
  st.step();
  if (st.failed()) return db_error("audit", st.error());
  return {};
}

Result<std::vector<AuditEntry>> SqliteStore::audit(std::size_t limit, std::int64_t before_id) {
  std::lock_guard lock(read_mutex_);
  Statement st(reader_.get(),
               "SELECT id, at, actor, action, subject, detail FROM audit_log WHERE (?1 = 0 OR id "
               "< ?1) ORDER BY id DESC LIMIT ?2");
  st.bind(1, before_id).bind(2, sql_limit(limit));
  std::vector<AuditEntry> out;
  while (st.step()) {
    out.push_back({st.integer(0), from_millis(st.integer(1)), st.text(2), st.text(3), st.text(4),
                   st.text(5)});
  }
  if (st.failed()) return db_error("audit", st.error());
  return out;
}

Result<std::optional<std::string>> SqliteStore::get_setting(const std::string& ns,
                                                            const std::string& key) {
  std::lock_guard lock(read_mutex_);
  Statement st(reader_.get(), "SELECT value FROM settings WHERE ns = ? AND key = ?");
  st.bind(1, ns).bind(2, key);
  if (st.step()) return std::optional<std::string>(st.text(0));
  if (st.failed()) return db_error("settings", st.error());
  return std::optional<std::string>{};
}

Result<void> SqliteStore::put_setting(const std::string& ns, const std::string& key,
                                      const std::string& value) {
  std::lock_guard lock(mutex_);
  Statement st(db_.get(),
               "INSERT INTO settings (ns, key, value) VALUES (?, ?, ?) ON CONFLICT(ns, key) DO "
               "UPDATE SET value = excluded.value");
  st.bind(1, ns).bind(2, key).bind(3, value);
  st.step();
  if (st.failed()) return db_error("settings", st.error());
  return {};
}

Result<std::vector<std::pair<std::string, std::string>>> SqliteStore::settings(
    const std::string& ns) {
  std::lock_guard lock(read_mutex_);
  Statement st(reader_.get(), "SELECT key, value FROM settings WHERE ns = ? ORDER BY key");
  st.bind(1, ns);
  std::vector<std::pair<std::string, std::string>> out;
  while (st.step()) out.emplace_back(st.text(0), st.text(1));
  if (st.failed()) return db_error("settings", st.error());
  return out;
}

// ---------------------------------------------------------------------------------------------
// Leases: one process per file, so a job is this process's own when its last history row was
// written after open(); the rest in a working state were left by an earlier process.

Result<void> SqliteStore::note_lease_horizon() {
  std::lock_guard lock(mutex_);
  Statement st(db_.get(), "SELECT COALESCE(MAX(id), 0) FROM job_history");
  if (!st.step()) return db_error("read the history's last row", st.error());
  lease_horizon_ = st.integer(0);
  return {};
}

Result<std::vector<Job>> SqliteStore::claim_expired(std::size_t limit) {
  std::lock_guard lock(mutex_);
  const std::string sql = std::string("SELECT ") + kJobColumns +
                          " FROM jobs WHERE state IN ('stored', 'releasing', 'printing') AND "
                          "(SELECT MAX(h.id) FROM job_history h WHERE h.job_id = jobs.id) <= ? "
                          "ORDER BY received_at, rowid";
  Statement st(db_.get(), sql.c_str());
  st.bind(1, lease_horizon_);
  auto jobs = query_jobs(st);
  if (!jobs) return fail(jobs.error());
  std::vector<Job> out;
  for (auto& job : *jobs) {
    if (out.size() >= limit) break;
    if (claimed_.insert(job.id.str()).second) out.push_back(std::move(job));
  }
  return out;
}

Result<std::size_t> SqliteStore::renew_leases() {
  return std::size_t{0};  // a process's leases last as long as it does
}

Result<bool> SqliteStore::hold_lease(const std::string&, std::chrono::milliseconds) {
  return true;  // the only process on the file holds every lease
}

Result<void> SqliteStore::drop_lease(const std::string&) {
  return {};
}

}  // namespace atdesk::store
