#include <algorithm>
#include <cstdint>
#include <random>

#include "../rows.hpp"
#include "atdesk/store/pg_store.hpp"
#include "pq.hpp"

namespace atdesk::store {
namespace {

using pg::Params;
using pg::Rows;
using pg::Statement;
using rows::millis;

// Versioned schema: migration N brings the schema from version N-1 to N. Never edit a shipped
// migration; add a new one. The same tables as SQLite's schema 3, plus `seq` (the arrival order
// SQLite keeps as rowid) and the documents.
const char* const kMigrations[] = {
    // 1: jobs, history, tables, audit, settings, queued notices, documents.
    R"sql(
CREATE TABLE jobs (
  seq BIGSERIAL UNIQUE,
  id TEXT COLLATE "C" PRIMARY KEY,
  state TEXT NOT NULL,
  source TEXT NOT NULL,
  sender TEXT NOT NULL,
  sender_display TEXT NOT NULL,
  document_name TEXT NOT NULL,
  format TEXT NOT NULL,
  pages INTEGER NOT NULL,
  incomplete INTEGER NOT NULL,
  size_bytes BIGINT NOT NULL,
  received_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  recipients TEXT NOT NULL,
  mode_table TEXT NOT NULL,
  printer TEXT NOT NULL,
  reason TEXT NOT NULL,
  print_attempts INTEGER NOT NULL,
  printer_job TEXT NOT NULL,
  print_problem TEXT NOT NULL DEFAULT 'none',
  print_failures INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_by_state ON jobs(state, received_at);
CREATE INDEX jobs_by_received ON jobs(received_at, seq);
CREATE TABLE job_recipients (
  job_id TEXT COLLATE "C" NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  recipient TEXT NOT NULL,
  PRIMARY KEY (job_id, recipient)
);
CREATE INDEX job_recipients_by_recipient ON job_recipients(recipient);
CREATE TABLE job_history (
  id BIGSERIAL PRIMARY KEY,
  job_id TEXT COLLATE "C" NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  at BIGINT NOT NULL,
  from_state TEXT NOT NULL,
  to_state TEXT NOT NULL,
  actor TEXT NOT NULL,
  reason TEXT NOT NULL
);
CREATE INDEX job_history_by_job ON job_history(job_id, id);
CREATE TABLE recipient_rules (
  id BIGSERIAL PRIMARY KEY,
  position BIGINT NOT NULL,
  pattern TEXT NOT NULL,
  recipient TEXT NOT NULL,
  printer TEXT NOT NULL,
  note TEXT NOT NULL
);
CREATE TABLE mode_tables (name TEXT PRIMARY KEY, cells TEXT NOT NULL);
CREATE TABLE schedule (id INTEGER PRIMARY KEY CHECK (id = 1), body TEXT NOT NULL);
CREATE TABLE audit_log (
  id BIGSERIAL PRIMARY KEY,
  at BIGINT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  subject TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE TABLE settings (ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
                       PRIMARY KEY (ns, key));
CREATE TABLE queued_notices (
  id BIGSERIAL PRIMARY KEY,
  job_id TEXT COLLATE "C" NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  state TEXT NOT NULL,
  recipient TEXT NOT NULL,
  text TEXT NOT NULL,
  with_preview INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  queued_at BIGINT NOT NULL
);
CREATE TABLE documents (
  job_id TEXT COLLATE "C" NOT NULL,
  kind TEXT NOT NULL,
  seq INTEGER NOT NULL,
  data BYTEA NOT NULL,
  PRIMARY KEY (job_id, kind, seq)
);
ALTER TABLE documents ALTER COLUMN data SET STORAGE EXTERNAL;
)sql",
    // 2: leases. A job in a working state (stored, releasing, printing) names the node working on
    // it and until when (the database's clock); named leases for periodic work and singletons.
    R"sql(
ALTER TABLE jobs ADD COLUMN lease_owner TEXT, ADD COLUMN lease_expires TIMESTAMPTZ;
CREATE INDEX jobs_working ON jobs(seq) WHERE state IN ('stored', 'releasing', 'printing');
CREATE INDEX jobs_by_lease_owner ON jobs(lease_owner) WHERE lease_owner IS NOT NULL;
CREATE TABLE leases (
  name TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  expires TIMESTAMPTZ NOT NULL
);
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

// Taken by open() while it migrates, so that nodes starting together migrate once ("atdesk" in
// ASCII; any constant other applications on the database do not use).
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(107152528470891)";

std::int64_t sql_limit(std::size_t limit) {
  return static_cast<std::int64_t>(
      std::min<std::size_t>(limit, static_cast<std::size_t>(INT64_MAX)));
}

std::vector<std::string> recipient_keys(const Job& j) {
  std::vector<std::string> out;
  for (const auto& r : j.recipients) out.push_back(r.key());
  return out;
}

// The mutable columns, $1..$14, in the order of the UPDATE statements below.
void add_mutable(Params& p, const Job& j) {
  p.text(to_string(j.state))
      .text(rows::sender_text(j.sender))
      .text(j.sender.display())
      .integer(millis(j.updated_at))
      .text(rows::recipients_json(j.recipients))
      .text(j.mode_table)
      .text(j.printer)
      .text(j.reason)
      .integer(j.print_attempts)
      .text(j.printer_job)
      .integer(j.pages)
      .integer(j.incomplete ? 1 : 0)
      .text(to_string(j.print_problem))
      .integer(j.print_failures);
}

void add_transition(Params& p, const Transition& t) {
  p.integer(millis(t.at))
      .text(to_string(t.from))
      .text(to_string(t.to))
      .text(t.actor)
      .text(t.reason);
}

// One statement each: PostgreSQL runs the data-modifying parts of a WITH as one atomic
// statement, so a job, its recipients and its history row are written in one round trip.
constexpr Statement kInsertJob{
    "insert_job",
    "WITH j AS (INSERT INTO jobs (id, state, source, sender, sender_display, document_name, "
    "format, pages, incomplete, size_bytes, received_at, updated_at, recipients, mode_table, "
    "printer, reason, print_attempts, printer_job, print_problem, print_failures, lease_owner, "
    "lease_expires) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, "
    "$16, $17, $18, $19, $20, NULLIF($27::text, ''), CASE WHEN $27::text <> '' THEN now() + "
    "$28::bigint * interval '1 millisecond' END) RETURNING id), "
    "r AS (INSERT INTO job_recipients (job_id, recipient) SELECT DISTINCT j.id, x FROM j, "
    "unnest($21::text[]) AS x), "
    "h AS (INSERT INTO job_history (job_id, at, from_state, to_state, actor, reason) SELECT "
    "j.id, $22, $23, $24, $25, $26 FROM j) "
    "SELECT id FROM j"};

// The compare-and-set: the UPDATE matches only while the state is still $16 and no other node
// holds a live lease on the job (a write of a node whose lease was taken over is fenced off); a
// concurrent writer's UPDATE waits for this row lock and then finds the state changed. Into a
// working state the job becomes this node's ($23, else '': no lease).
constexpr Statement kUpdateJob{
    "update_job",
    "WITH u AS (UPDATE jobs SET state = $1, sender = $2, sender_display = $3, updated_at = $4, "
    "recipients = $5, mode_table = $6, printer = $7, reason = $8, print_attempts = $9, "
    "printer_job = $10, pages = $11, incomplete = $12, print_problem = $13, print_failures = "
    "$14, lease_owner = NULLIF($23::text, ''), lease_expires = CASE WHEN $23::text <> '' THEN "
    "now() + $24::bigint * interval '1 millisecond' END WHERE id = $15 AND state = $16 AND "
    "(lease_owner IS NULL OR lease_owner = $25::text OR lease_expires < now()) RETURNING id), "
    "d AS (DELETE FROM job_recipients WHERE job_id IN (SELECT id FROM u) AND recipient <> "
    "ALL($17::text[])), "
    "r AS (INSERT INTO job_recipients (job_id, recipient) SELECT DISTINCT u.id, x FROM u, "
    "unnest($17::text[]) AS x ON CONFLICT DO NOTHING), "
    "h AS (INSERT INTO job_history (job_id, at, from_state, to_state, actor, reason) SELECT "
    "u.id, $18, $19, $20, $21, $22 FROM u) "
    "SELECT id FROM u"};

// Everything but the state, which only update() changes ($1, the state, is not used); fenced by
// the lease as update() is.
constexpr Statement kSaveJob{
    "save_job",
    "WITH u AS (UPDATE jobs SET sender = $2, sender_display = $3, updated_at = $4, "
    "recipients = $5, mode_table = $6, printer = $7, reason = $8, print_attempts = $9, "
    "printer_job = $10, pages = $11, incomplete = $12, print_problem = $13, print_failures = "
    "$14 WHERE id = $15 AND $1::text IS NOT NULL AND (lease_owner IS NULL OR lease_owner = "
    "$17::text OR lease_expires < now()) RETURNING id), "
    "d AS (DELETE FROM job_recipients WHERE job_id IN (SELECT id FROM u) AND recipient <> "
    "ALL($16::text[])), "
    "r AS (INSERT INTO job_recipients (job_id, recipient) SELECT DISTINCT u.id, x FROM u, "
    "unnest($16::text[]) AS x ON CONFLICT DO NOTHING) "
    "SELECT id FROM u"};

constexpr Statement kJobState{
    "job_state",
    "SELECT state, COALESCE(lease_owner, ''), lease_owner IS NOT NULL AND lease_expires >= now() "
    "FROM jobs WHERE id = $1"};

// The leases of jobs (docs/architecture.md "Several nodes"). A claim takes expired leases of
// other nodes (and working jobs no node holds: rows from before leases, `atdesk migrate`);
// SKIP LOCKED lets nodes claiming at once each take different jobs, never the same one.
constexpr Statement kClaimExpired{
    "claim_expired",
    "WITH c AS (SELECT id FROM jobs WHERE state IN ('stored', 'releasing', 'printing') AND "
    "(lease_owner IS NULL OR (lease_expires < now() AND lease_owner <> $1)) ORDER BY seq LIMIT "
    "$3 FOR UPDATE SKIP LOCKED), "
    "u AS (UPDATE jobs SET lease_owner = $1, lease_expires = now() + $2::bigint * interval '1 "
    "millisecond' FROM c WHERE jobs.id = c.id RETURNING jobs.id) "
    "SELECT id, state, source, sender, document_name, format, pages, incomplete, size_bytes, "
    "received_at, updated_at, recipients, mode_table, printer, reason, print_attempts, "
    "printer_job, print_problem, print_failures FROM jobs WHERE id IN (SELECT id FROM u) ORDER BY "
    "seq"};
constexpr Statement kRenewLeases{
    "renew_leases",
    "UPDATE jobs SET lease_expires = now() + $2::bigint * interval '1 millisecond' WHERE "
    "lease_owner = $1 AND state IN ('stored', 'releasing', 'printing')"};
// Taken when free or expired, extended when this node holds it; no row back: another holds it.
constexpr Statement kHoldLease{
    "hold_lease",
    "INSERT INTO leases (name, owner, expires) VALUES ($1, $2, now() + $3::bigint * interval '1 "
    "millisecond') ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires = "
    "excluded.expires WHERE leases.owner = excluded.owner OR leases.expires < now() RETURNING "
    "owner"};
constexpr Statement kDropLease{"drop_lease", "DELETE FROM leases WHERE name = $1 AND owner = $2"};

std::string random_node_id() {
  std::random_device rd;  // /dev/urandom on Linux
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 3; ++i) {
    auto v = rd();
    for (int k = 0; k < 4; ++k, v >>= 4) out += kHex[v & 0xf];
  }
  return out;
}

Result<std::vector<Job>> jobs_of(const Rows& r) {
  std::vector<Job> out;
  out.reserve(static_cast<std::size_t>(r.size()));
  for (int i = 0; i < r.size(); ++i) {
    rows::JobRow row{r.text(i, 0),    r.text(i, 1),    r.text(i, 2),     r.text(i, 3),
                     r.text(i, 4),    r.text(i, 5),    r.integer(i, 6),  r.integer(i, 7),
                     r.integer(i, 8), r.integer(i, 9), r.integer(i, 10), r.text(i, 11),
                     r.text(i, 12),   r.text(i, 13),   r.text(i, 14),    r.integer(i, 15),
                     r.text(i, 16),   r.text(i, 17),   r.integer(i, 18)};
    auto job = rows::job_from(row);
    if (!job) return fail(job.error());
    out.push_back(std::move(*job));
  }
  return out;
}

const std::string kSelectJobs = std::string("SELECT ") + rows::kJobColumns + " FROM jobs ";
const std::string kGetJobSql = kSelectJobs + "WHERE id = $1";
const std::string kFindJobSql = kSelectJobs + "WHERE id >= $1 AND id < $2 ORDER BY id LIMIT 2";
constexpr Statement kGetJob{"get_job", nullptr};
constexpr Statement kFindJob{"find_job", nullptr};

// Runs `fn` with a pooled connection. A read that failed because the connection was lost is
// tried once more on a new connection; a write is not (it may have been committed), its
// Errc::unavailable goes to the caller.
template <class Fn>
auto with_connection(PgConnections& pool, bool idempotent, Fn&& fn)
    -> decltype(fn(std::declval<pg::Connection&>())) {
  for (int attempt = 0;; ++attempt) {
    auto lease = pool.acquire();
    if (!lease) return std::unexpected(lease.error());
    auto out = fn(**lease);
    if (out || !idempotent || attempt > 0 || !(*lease)->broken()) return out;
  }
}

}  // namespace

PgStore::PgStore(std::shared_ptr<PgConnections> pool, NumberPlan plan, std::string node_id,
                 std::chrono::milliseconds lease)
    : pool_(std::move(pool)), plan_(std::move(plan)), node_id_(std::move(node_id)), lease_(lease) {}

PgStore::~PgStore() = default;

Result<std::unique_ptr<PgStore>> PgStore::open(const Settings& settings, NumberPlan plan) {
  auto pool = std::make_shared<PgConnections>(settings.url, settings.connections,
                                              settings.wait_for_connection);
  if (settings.lease < std::chrono::milliseconds(100)) {
    return fail(Errc::invalid_argument, "store: lease: expected at least 100 ms, got " +
                                            std::to_string(settings.lease.count()) + " ms");
  }
  std::unique_ptr<PgStore> store(
      new PgStore(std::move(pool), std::move(plan),
                  settings.node_id.empty() ? random_node_id() : settings.node_id, settings.lease));
  if (auto ok = store->migrate(); !ok) return fail(ok.error());
  return store;
}

int PgStore::highest_schema_version() {
  return kSchemaVersion;
}

Result<int> PgStore::schema_version() {
  return with_connection(*pool_, true, [&](pg::Connection& c) -> Result<int> {
    auto r = c.exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    if (!r) return fail(r.error());
    return static_cast<int>(r->integer(0, 0));
  });
}

Result<void> PgStore::migrate() {
  auto lease = pool_->acquire();
  if (!lease) return fail(lease.error());
  auto& c = **lease;
  // Everything in one transaction (PostgreSQL's DDL is transactional): a migration that fails
  // leaves the schema as it was.
  auto run = [&]() -> Result<void> {
    if (auto ok = c.exec("BEGIN"); !ok) return fail(ok.error());
    if (auto ok = c.exec(kMigrationLock); !ok) return fail(ok.error());
    if (auto ok =
            c.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                   "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
        !ok) {
      return fail(ok.error());
    }
    auto current_rows = c.exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    if (!current_rows) return fail(current_rows.error());
    const int current = static_cast<int>(current_rows->integer(0, 0));
    if (current > kSchemaVersion) {
      return fail(Errc::unsupported,
                  "postgresql " + c.peer() + ": the database has schema version " +
                      std::to_string(current) + ", newer than the highest this atdesk knows (" +
                      std::to_string(kSchemaVersion) +
                      "); it was written by a newer atdesk: run that version (no migration was "
                      "run)");
    }
    for (int v = current + 1; v <= kSchemaVersion; ++v) {
      if (auto ok = c.exec(kMigrations[v - 1]); !ok) {
        return fail(ok.error().code, "postgresql " + c.peer() + ": migration " + std::to_string(v) +
                                         " failed: " + ok.error().message);
      }
      Params p;
      p.integer(v);
      if (auto ok = c.exec_params("INSERT INTO schema_migrations (version) VALUES ($1)", p); !ok) {
        return fail(ok.error());
      }
      if (v == 1) {
        for (const auto& t : {ModeTable::seed_default("weekday"), ModeTable("holiday")}) {
          Params seed;
          seed.text(t.name()).text(rows::cells_json(t));
          if (auto ok =
                  c.exec_params("INSERT INTO mode_tables (name, cells) VALUES ($1, $2)", seed);
              !ok) {
            return fail(ok.error());
          }
        }
      }
    }
    if (auto ok = c.exec("COMMIT"); !ok) return fail(ok.error());
    return {};
  };
  auto ok = run();
  if (!ok && !c.broken()) (void)c.exec("ROLLBACK");  // the error above is what is reported
  return ok;
}

// ---------------------------------------------------------------------------------------------
// Jobs

Result<void> PgStore::insert(const Job& job, const Transition& first) {
  Params p;
  p.text(job.id.str())
      .text(to_string(job.state))
      .text(to_string(job.source))
      .text(rows::sender_text(job.sender))
      .text(job.sender.display())
      .text(job.document_name)
      .text(to_string(job.format))
      .integer(job.pages)
      .integer(job.incomplete ? 1 : 0)
      .integer(static_cast<std::int64_t>(job.size_bytes))
      .integer(millis(job.received_at))
      .integer(millis(job.updated_at))
      .text(rows::recipients_json(job.recipients))
      .text(job.mode_table)
      .text(job.printer)
      .text(job.reason)
      .integer(job.print_attempts)
      .text(job.printer_job)
      .text(to_string(job.print_problem))
      .integer(job.print_failures)
      .text_array(recipient_keys(job));
  add_transition(p, first);
  p.text(is_working(job.state) ? node_id_ : std::string()).integer(lease_.count());
  return with_connection(*pool_, false, [&](pg::Connection& c) -> Result<void> {
    auto r = c.run(kInsertJob, p);
    if (!r) {
      if (r.error().code == Errc::conflict) {
        return fail(Errc::conflict, "job " + job.id.str() + " exists already");
      }
      return fail(r.error());
    }
    return {};
  });
}

Result<void> PgStore::update(const Job& job, JobState expected, const Transition& t) {
  Params p;
  add_mutable(p, job);
  p.text(job.id.str()).text(to_string(expected)).text_array(recipient_keys(job));
  add_transition(p, t);
  p.text(is_working(job.state) ? node_id_ : std::string()).integer(lease_.count()).text(node_id_);
  return with_connection(*pool_, false, [&](pg::Connection& c) -> Result<void> {
    auto r = c.run(kUpdateJob, p);
    if (!r) return fail(r.error());
    if (!r->empty()) return {};
    return std::unexpected(lease_conflict(c, job, expected));
  });
}

// Why a fenced write matched no row: the job is gone, its state moved on, or another node holds
// its lease.
Error PgStore::lease_conflict(pg::Connection& c, const Job& job, std::optional<JobState> expected) {
  Params q;
  q.text(job.id.str());
  auto now = c.run(kJobState, q);
  if (!now) return now.error();
  if (now->empty()) return Error{Errc::not_found, "job " + job.id.str() + " not found"};
  const auto state = now->text(0, 0);
  if (expected && state != to_string(*expected)) {
    return Error{Errc::conflict, "job " + std::string(job.id.short_id()) + " is " + state +
                                     ", no longer " + std::string(to_string(*expected))};
  }
  return Error{Errc::conflict, "job " + std::string(job.id.short_id()) + " is worked on by node " +
                                   now->text(0, 1) + " (its lease has not expired), not by " +
                                   node_id_};
}

Result<void> PgStore::save(const Job& job) {
  Params p;
  add_mutable(p, job);
  p.text(job.id.str()).text_array(recipient_keys(job)).text(node_id_);
  return with_connection(*pool_, false, [&](pg::Connection& c) -> Result<void> {
    auto r = c.run(kSaveJob, p);
    if (!r) return fail(r.error());
    if (r->empty()) return std::unexpected(lease_conflict(c, job, std::nullopt));
    return {};
  });
}

Result<Job> PgStore::get(const JobId& id) {
  Params p;
  p.text(id.str());
  return with_connection(*pool_, true, [&](pg::Connection& c) -> Result<Job> {
    auto r = c.run({kGetJob.name, kGetJobSql.c_str()}, p);
    if (!r) return fail(r.error());
    auto jobs = jobs_of(*r);
    if (!jobs) return fail(jobs.error());
    if (jobs->empty()) return fail(Errc::not_found, "job " + id.str() + " not found");
    return std::move(jobs->front());
  });
}

Result<Job> PgStore::find(std::string_view id_or_prefix) {
  auto parsed = JobId::parse_prefix(id_or_prefix);
  if (!parsed) return fail(parsed.error());
  const std::string& prefix = *parsed;
  Params p;
  p.text(prefix).text(prefix + "g");  // 'g' sorts after every hex digit (the column is "C")
  return with_connection(*pool_, true, [&](pg::Connection& c) -> Result<Job> {
    auto r = c.run({kFindJob.name, kFindJobSql.c_str()}, p);
    if (!r) return fail(r.error());
    auto jobs = jobs_of(*r);
    if (!jobs) return fail(jobs.error());
    return rows::the_job_with_prefix(prefix, std::move(*jobs));
  });
}

Result<std::vector<Job>> PgStore::list(const JobFilter& f) {
  std::string sql = kSelectJobs + "WHERE TRUE";
  Params p;
  auto next = [&] { return "$" + std::to_string(p.size()); };
  if (!f.states.empty()) {
    std::vector<std::string> states;
    for (auto s : f.states) states.emplace_back(to_string(s));
    p.text_array(states);
    sql += " AND state = ANY(" + next() + "::text[])";
  }
  if (f.recipient) {
    p.text(*f.recipient);
    sql += " AND id IN (SELECT job_id FROM job_recipients WHERE recipient = " + next() + ")";
  }
  if (f.sender) {
    // The display and the identifiers' values, not the JSON text (its keys would match "ip");
    // ILIKE as SQLite's LIKE, which ignores case.
    std::string escaped;
    for (char ch : *f.sender) {
      if (ch == '%' || ch == '_' || ch == '\\') escaped += '\\';
      escaped += ch;
    }
    p.text("%" + escaped + "%");
    const auto n = next();
    sql += " AND (sender_display ILIKE " + n +
           " ESCAPE '\\' OR EXISTS (SELECT 1 FROM json_each_text(sender::json) AS e WHERE "
           "e.value ILIKE " +
           n + " ESCAPE '\\'))";
  }
  if (f.received_after) {
    p.integer(millis(*f.received_after));
    sql += " AND received_at >= " + next();
  }
  if (f.received_before) {
    p.integer(millis(*f.received_before));
    sql += " AND received_at < " + next();
  }
  sql += f.oldest_first ? " ORDER BY received_at ASC, seq ASC"
                        : " ORDER BY received_at DESC, seq DESC";
  sql += " LIMIT " + std::to_string(sql_limit(f.limit));
  return with_connection(*pool_, true, [&](pg::Connection& c) -> Result<std::vector<Job>> {
    auto r = c.exec_params(sql, p);
    if (!r) return fail(r.error());
    return jobs_of(*r);
  });
}

Result<std::vector<Transition>> PgStore::history(const JobId& id) {
  Params p;
  p.text(id.str());
  return with_connection(*pool_, true, [&](pg::Connection& c) -> Result<std::vector<Transition>> {
    auto r = c.run({"history",
                    "SELECT at, from_state, to_state, actor, reason FROM job_history WHERE job_id "
                    "= $1 ORDER BY id"},
                   p);
    if (!r) return fail(r.error());
    std::vector<Transition> out;
    for (int i = 0; i < r->size(); ++i) {
      auto t = rows::transition_from(id, r->integer(i, 0), r->text(i, 1), r->text(i, 2),
                                     r->text(i, 3), r->text(i, 4));
      if (!t) return fail(t.error());
      out.push_back(std::move(*t));
    }
    return out;
  });
}

Result<std::vector<std::pair<JobState, std::int64_t>>> PgStore::count_by_state() {
  using Counts = std::vector<std::pair<JobState, std::int64_t>>;
  return with_connection(*pool_, true, [&](pg::Connection& c) -> Result<Counts> {
    auto r = c.run({"count_by_state", "SELECT state, COUNT(*) FROM jobs GROUP BY state"});
    if (!r) return fail(r.error());
    Counts out;
    for (int i = 0; i < r->size(); ++i) {
      auto s = parse_job_state(r->text(i, 0));
      if (!s) {
        return std::unexpected(rows::corrupt("(count)", "state", "a job state", r->text(i, 0)));
      }
      out.emplace_back(*s, r->integer(i, 1));
    }
    return out;
  });
}

// ---------------------------------------------------------------------------------------------
// Queued notices

Result<std::int64_t> PgStore::queue_notice(const QueuedNotice& n) {
  Params p;
  p.text(n.job.str())
      .text(to_string(n.state))
      .text(n.to.key())
      .text(n.text)
      .integer(n.with_preview ? 1 : 0)
      .integer(n.attempts)
      .integer(millis(n.queued_at));
  return with_connection(*pool_, false, [&](pg::Connection& c) -> Result<std::int64_t> {
    auto r = c.run({"queue_notice",
                    "INSERT INTO queued_notices (job_id, state, recipient, text, with_preview, "
                    "attempts, queued_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"},
                   p);
    if (!r) return fail(r.error());
    return r->integer(0, 0);
  });
}

Result<std::vector<QueuedNotice>> PgStore::queued_notices(std::size_t limit) {
  Params p;
  p.integer(sql_limit(limit));
  return with_connection(*pool_, true, [&](pg::Connection& c) -> Result<std::vector<QueuedNotice>> {
    auto r = c.run({"queued_notices",
                    "SELECT id, job_id, state, recipient, text, with_preview, attempts, "
                    "queued_at FROM queued_notices ORDER BY id LIMIT $1"},
                   p);
    if (!r) return fail(r.error());
    std::vector<QueuedNotice> out;
    for (int i = 0; i < r->size(); ++i) {
      QueuedNotice n;
      n.id = r->integer(i, 0);
      const auto job = r->text(i, 1);
      auto id = JobId::parse(job);
      auto state = parse_job_state(r->text(i, 2));
      auto to = Recipient::parse_key(r->text(i, 3));
      if (!id) return std::unexpected(rows::corrupt(job, "queued_notices.job_id", "a job id", job));
      if (!state) {
        return std::unexpected(
            rows::corrupt(job, "queued_notices.state", "a job state", r->text(i, 2)));
      }
      if (!to) {
        return std::unexpected(
            rows::corrupt(job, "queued_notices.recipient", "a recipient key", r->text(i, 3)));
      }
      n.job = *id;
      n.state = *state;
      n.to = std::move(*to);
      n.text = r->text(i, 4);
      n.with_preview = r->integer(i, 5) != 0;
      n.attempts = static_cast<int>(r->integer(i, 6));
      n.queued_at = rows::from_millis(r->integer(i, 7));
      out.push_back(std::move(n));
    }
    return out;
  });
}

Result<void> PgStore::note_notice_attempt(std::int64_t id) {
  Params p;
  p.integer(id);
  return with_connection(*pool_, false, [&](pg::Connection& c) -> Result<void> {
    auto r = c.run(
        {"note_notice_attempt", "UPDATE queued_notices SET attempts = attempts + 1 WHERE id = $1"},
        p);
    if (!r) return fail(r.error());
    return {};
  });
}

Result<void> PgStore::remove_notice(std::int64_t id) {
  Params p;
  p.integer(id);
  return with_connection(*pool_, true, [&](pg::Connection& c) -> Result<void> {
    auto r = c.run({"remove_notice", "DELETE FROM queued_notices WHERE id = $1"}, p);
    if (!r) return fail(r.error());
    return {};
  });
}

Result<std::int64_t> PgStore::count_notices() {
  return with_connection(*pool_, true, [&](pg::Connection& c) -> Result<std::int64_t> {
    auto r = c.run({"count_notices", "SELECT COUNT(*) FROM queued_notices"});
    if (!r) return fail(r.error());
    return r->integer(0, 0);
  });
}

// ---------------------------------------------------------------------------------------------
// Leases

Result<std::vector<Job>> PgStore::claim_expired(std::size_t limit) {
  Params p;
  p.text(node_id_).integer(lease_.count()).integer(sql_limit(limit));
  return with_connection(*pool_, false, [&](pg::Connection& c) -> Result<std::vector<Job>> {
    auto r = c.run(kClaimExpired, p);
    if (!r) return fail(r.error());
    return jobs_of(*r);
  });
}

Result<std::size_t> PgStore::renew_leases() {
  Params p;
  p.text(node_id_).integer(lease_.count());
  return with_connection(*pool_, true, [&](pg::Connection& c) -> Result<std::size_t> {
    auto r = c.run(kRenewLeases, p);
    if (!r) return fail(r.error());
    return static_cast<std::size_t>(r->affected());
  });
}

Result<bool> PgStore::hold_lease(const std::string& name, std::chrono::milliseconds ttl) {
  Params p;
  p.text(name).text(node_id_).integer(ttl.count());
  return with_connection(*pool_, true, [&](pg::Connection& c) -> Result<bool> {
    auto r = c.run(kHoldLease, p);
    if (!r) return fail(r.error());
    return !r->empty();
  });
}

Result<void> PgStore::drop_lease(const std::string& name) {
  Params p;
  p.text(name).text(node_id_);
  return with_connection(*pool_, true, [&](pg::Connection& c) -> Result<void> {
    auto r = c.run(kDropLease, p);
    if (!r) return fail(r.error());
    return {};
  });
}

// ---------------------------------------------------------------------------------------------
// Tables

Result<std::vector<RecipientRule>> PgStore::recipient_rules() {
  return with_connection(
      *pool_, true, [&](pg::Connection& c) -> Result<std::vector<RecipientRule>> {
        auto r =
            c.run({"recipient_rules",
                   "SELECT id, pattern, recipient, printer, note FROM recipient_rules ORDER BY "
                   "position, id"});
        if (!r) return fail(r.error());
        std::vector<RecipientRule> out;
        for (int i = 0; i < r->size(); ++i) {
          RecipientRule rule;
          rule.id = r->integer(i, 0);
          auto pattern = SenderPattern::parse(r->text(i, 1), plan_);
          auto recipient = Recipient::parse_key(r->text(i, 2));
          if (!pattern || !recipient) {
            return fail(Errc::corrupt,
                        "store: recipient rule " + std::to_string(rule.id) + " cannot be read: " +
                            (!pattern ? pattern.error().message : recipient.error().message));
          }
          rule.pattern = *pattern;
          rule.recipient = *recipient;
          rule.printer = r->text(i, 3);
          rule.note = r->text(i, 4);
          out.push_back(std::move(rule));
        }
        return out;
      });
}

Result<RecipientRule> PgStore::add_recipient_rule(const RecipientRule& rule) {
  Params p;
  p.text(rule.pattern.to_string()).text(rule.recipient.key()).text(rule.printer).text(rule.note);
  return with_connection(*pool_, false, [&](pg::Connection& c) -> Result<RecipientRule> {
    auto r = c.run({"add_recipient_rule",
                    "INSERT INTO recipient_rules (position, pattern, recipient, printer, note) "
                    "VALUES ((SELECT COALESCE(MAX(position), 0) + 1 FROM recipient_rules), $1, "
                    "$2, $3, $4) RETURNING id"},
                   p);
    if (!r) return fail(r.error());
    auto out = rule;
    out.id = r->integer(0, 0);
    return out;
  });
}

Result<void> PgStore::update_recipient_rule(const RecipientRule& rule) {
  Params p;
  p.text(rule.pattern.to_string())
      .text(rule.recipient.key())
      .text(rule.printer)
      .text(rule.note)
      .integer(rule.id);
  return with_connection(*pool_, false, [&](pg::Connection& c) -> Result<void> {
    auto r = c.run({"update_recipient_rule",
                    "UPDATE recipient_rules SET pattern = $1, recipient = $2, printer = $3, note "
                    "= $4 WHERE id = $5"},
                   p);
    if (!r) return fail(r.error());
    if (r->affected() == 0) {
      return fail(Errc::not_found, "recipient rule " + std::to_string(rule.id) + " not found");
    }
    return {};
  });
}

Result<void> PgStore::remove_recipient_rule(std::int64_t id) {
  Params p;
  p.integer(id);
  return with_connection(*pool_, false, [&](pg::Connection& c) -> Result<void> {
    auto r = c.run({"remove_recipient_rule", "DELETE FROM recipient_rules WHERE id = $1"}, p);
    if (!r) return fail(r.error());
    if (r->affected() == 0) {
      return fail(Errc::not_found, "recipient rule " + std::to_string(id) + " not found");
    }
    return {};
  });
}

Result<std::vector<RecipientRule>> PgStore::replace_recipient_rules(
    const std::vector<RecipientRule>& rules) {
  std::vector<std::string> patterns, recipients, printers, notes;
  for (const auto& rule : rules) {
    patterns.push_back(rule.pattern.to_string());
    recipients.push_back(rule.recipient.key());
    printers.push_back(rule.printer);
    notes.push_back(rule.note);
  }
  Params p;
  p.text_array(patterns).text_array(recipients).text_array(printers).text_array(notes);
  auto replaced = with_connection(*pool_, false, [&](pg::Connection& c) -> Result<void> {
    // One statement: the old table is gone and the new one in place, or neither.
    auto r = c.run({"replace_recipient_rules",
                    "WITH d AS (DELETE FROM recipient_rules) INSERT INTO recipient_rules "
                    "(position, pattern, recipient, printer, note) SELECT o, pa, re, pr, no FROM "
                    "unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS "
                    "t(pa, re, pr, no, o) ORDER BY o"},
                   p);
    if (!r) return fail(r.error());
    return {};
  });
  if (!replaced) return fail(replaced.error());
  return recipient_rules();
}

Result<std::vector<ModeTable>> PgStore::mode_tables() {
  return with_connection(*pool_, true, [&](pg::Connection& c) -> Result<std::vector<ModeTable>> {
    auto r =
        c.run({"mode_tables", "SELECT name, cells FROM mode_tables ORDER BY name COLLATE \"C\""});
    if (!r) return fail(r.error());
    std::vector<ModeTable> out;
    for (int i = 0; i < r->size(); ++i) {
      auto table = rows::table_from(r->text(i, 0), r->text(i, 1));
      if (!table) return fail(table.error());
      out.push_back(std::move(*table));
    }
    return out;
  });
}

Result<void> PgStore::put_mode_table(const ModeTable& table) {
  Params p;
  p.text(table.name()).text(rows::cells_json(table));
  return with_connection(*pool_, true, [&](pg::Connection& c) -> Result<void> {
    auto r = c.run({"put_mode_table",
                    "INSERT INTO mode_tables (name, cells) VALUES ($1, $2) ON CONFLICT (name) DO "
                    "UPDATE SET cells = excluded.cells"},
                   p);
    if (!r) return fail(r.error());
    return {};
  });
}

Result<void> PgStore::remove_mode_table(const std::string& name) {
  Params p;
  p.text(name);
  return with_connection(*pool_, false, [&](pg::Connection& c) -> Result<void> {
    auto r = c.run({"remove_mode_table", "DELETE FROM mode_tables WHERE name = $1"}, p);
    if (!r) return fail(r.error());
    if (r->affected() == 0) return fail(Errc::not_found, "mode table '" + name + "' not found");
    return {};
  });
}

Result<std::optional<Schedule>> PgStore::schedule() {
  return with_connection(*pool_, true, [&](pg::Connection& c) -> Result<std::optional<Schedule>> {
    auto r = c.run({"schedule", "SELECT body FROM schedule WHERE id = 1"});
    if (!r) return fail(r.error());
    if (r->empty()) return std::optional<Schedule>{};
    auto s = rows::schedule_from(r->text(0, 0));
    if (!s) return fail(s.error());
    return std::optional<Schedule>(std::move(*s));
  });
}

Result<void> PgStore::put_schedule(const Schedule& schedule) {
  Params p;
  p.text(rows::schedule_json(schedule));
  return with_connection(*pool_, true, [&](pg::Connection& c) -> Result<void> {
    auto r = c.run({"put_schedule",
                    "INSERT INTO schedule (id, body) VALUES (1, $1) ON CONFLICT (id) DO UPDATE "
                    "SET body = excluded.body"},
                   p);
    if (!r) return fail(r.error());
    return {};
  });
}

Result<void> PgStore::append_audit(const AuditEntry& e) {
  Params p;
  p.integer(millis(e.at)).text(e.actor).text(e.action).text(e.subject).text(e.detail);
  return with_connection(*pool_, false, [&](pg::Connection& c) -> Result<void> {
    auto r = c.run({"append_audit",
                    "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES ($1, $2, "
                    "$3, $4, $5)"},
                   p);
    if (!r) return fail(r.error());
    return {};
  });
}

Result<std::vector<AuditEntry>> PgStore::audit(std::size_t limit, std::int64_t before_id) {
  Params p;
  p.integer(before_id).integer(sql_limit(limit));
  return with_connection(*pool_, true, [&](pg::Connection& c) -> Result<std::vector<AuditEntry>> {
    auto r = c.run({"audit",
                    "SELECT id, at, actor, action, subject, detail FROM audit_log WHERE ($1 = 0 "
                    "OR id < $1) ORDER BY id DESC LIMIT $2"},
                   p);
    if (!r) return fail(r.error());
    std::vector<AuditEntry> out;
    for (int i = 0; i < r->size(); ++i) {
      out.push_back({r->integer(i, 0), rows::from_millis(r->integer(i, 1)), r->text(i, 2),
                     r->text(i, 3), r->text(i, 4), r->text(i, 5)});
    }
    return out;
  });
}

Result<std::optional<std::string>> PgStore::get_setting(const std::string& ns,
                                                        const std::string& key) {
  Params p;
  p.text(ns).text(key);
  return with_connection(
      *pool_, true, [&](pg::Connection& c) -> Result<std::optional<std::string>> {
        auto r = c.run({"get_setting", "SELECT value FROM settings WHERE ns = $1 AND key = $2"}, p);
        if (!r) return fail(r.error());
        if (r->empty()) return std::optional<std::string>{};
        return std::optional<std::string>(r->text(0, 0));
      });
}

Result<void> PgStore::put_setting(const std::string& ns, const std::string& key,
                                  const std::string& value) {
  Params p;
  p.text(ns).text(key).text(value);
  return with_connection(*pool_, true, [&](pg::Connection& c) -> Result<void> {
    auto r = c.run({"put_setting",
                    "INSERT INTO settings (ns, key, value) VALUES ($1, $2, $3) ON CONFLICT (ns, "
                    "key) DO UPDATE SET value = excluded.value"},
                   p);
    if (!r) return fail(r.error());
    return {};
  });
}

Result<std::vector<std::pair<std::string, std::string>>> PgStore::settings(const std::string& ns) {
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  Params p;
  p.text(ns);
  return with_connection(*pool_, true, [&](pg::Connection& c) -> Result<Pairs> {
    auto r = c.run(
        {"settings", "SELECT key, value FROM settings WHERE ns = $1 ORDER BY key COLLATE \"C\""},
        p);
    if (!r) return fail(r.error());
    Pairs out;
    for (int i = 0; i < r->size(); ++i) out.emplace_back(r->text(i, 0), r->text(i, 1));
    return out;
  });
}

}  // namespace atdesk::store
