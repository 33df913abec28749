#include "pq.hpp"

#include <poll.h>

#include <charconv>
#include <cstring>

namespace atdesk::store::pg {
namespace {

// SQLSTATEs (PostgreSQL manual, Appendix A "PostgreSQL Error Codes").
bool connection_lost(std::string_view state) {
  return state.starts_with("08")  // connection_exception
         || state == "57P01"      // admin_shutdown
         || state == "57P02"      // crash_shutdown
         || state == "57P03"      // cannot_connect_now
         || state == "25006";     // read_only_sql_transaction: we are on a standby now
}

std::string trimmed(const char* message) {
  std::string m = message ? message : "";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  const auto nl = m.find('\n');
  return nl == std::string::npos ? m : m.substr(0, nl);
}

}  // namespace

Params& Params::text(std::string_view v) {
  Item item;
  item.owned.assign(v);
  items_.push_back(std::move(item));
  return *this;
}

Params& Params::bytes(std::span<const unsigned char> v) {
  Item item;
  item.data = reinterpret_cast<const char*>(v.data());
  item.length = static_cast<int>(v.size());
  item.binary = true;
  items_.push_back(std::move(item));
  return *this;
}

Params& Params::text_array(const std::vector<std::string>& v) {
  std::string out = "{";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : v[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return text(out);
}

std::string Rows::text(int row, int col) const {
  const char* v = PQgetvalue(r_.get(), row, col);
  return std::string(v, static_cast<std::size_t>(PQgetlength(r_.get(), row, col)));
}

std::int64_t Rows::integer(int row, int col) const {
  const char* v = PQgetvalue(r_.get(), row, col);
  std::int64_t out = 0;
  std::from_chars(v, v + PQgetlength(r_.get(), row, col), out);
  return out;
}

std::span<const unsigned char> Rows::bytes(int row, int col) const {
  return {reinterpret_cast<const unsigned char*>(PQgetvalue(r_.get(), row, col)),
          static_cast<std::size_t>(PQgetlength(r_.get(), row, col))};
}

std::int64_t Rows::affected() const {
  const char* v = PQcmdTuples(r_.get());
  std::int64_t out = 0;
  if (v) std::from_chars(v, v + std::strlen(v), out);
  return out;
}

Connection::Connection(ConnPtr conn) : conn_(std::move(conn)) {
  peer_ = std::string(PQhost(conn_.get()) ? PQhost(conn_.get()) : "?") + ":" +
          (PQport(conn_.get()) ? PQport(conn_.get()) : "?") + "/" +
          (PQdb(conn_.get()) ? PQdb(conn_.get()) : "?");
}

Result<std::unique_ptr<Connection>> Connection::open(const std::string& conninfo) {
  // With expand_dbname, values of the string override the keywords before it: these are
  // defaults the operator can change in the URL.
  const char* keys[] = {
      "target_session_attrs", "connect_timeout",  "keepalives_idle", "keepalives_interval",
      "keepalives_count",     "application_name", "dbname",          nullptr};
  const char* values[] = {"read-write", "5", "30", "10", "3", "atdesk", conninfo.c_str(), nullptr};
  ConnPtr conn(PQconnectdbParams(keys, values, 1));
  if (!conn) return fail(Errc::unavailable, "postgresql: out of memory");
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    // The message names the host(s) tried; libpq never puts the password in it.
    return fail(Errc::unavailable,
                "postgresql: cannot connect: " + trimmed(PQerrorMessage(conn.get())));
  }
  return std::unique_ptr<Connection>(new Connection(std::move(conn)));
}

Result<Rows> Connection::check(PGresult* raw, std::string_view what) {
  ResultPtr r(raw);
  const auto status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return Rows(std::move(r));
  const char* state_raw = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
  const std::string state = state_raw ? state_raw : "";
  const std::string message =
      trimmed(r ? PQresultErrorMessage(r.get()) : PQerrorMessage(conn_.get()));
  const std::string text = "postgresql " + peer_ + ": " + std::string(what) + ": " + message;
  if (PQstatus(conn_.get()) != CONNECTION_OK || connection_lost(state)) {
    broken_ = true;
    return fail(Errc::unavailable, text);
  }
  if (state == "23505") return fail(Errc::conflict, text);  // unique_violation
  if (state == "53100") return fail(Errc::no_space, text);  // disk_full
  return fail(Errc::io, text);
}

Result<Rows> Connection::run(const Statement& st, const Params& params, bool binary_result) {
  if (!prepared_.contains(st.name)) {
    auto ok = check(PQprepare(conn_.get(), st.name, st.sql, 0, nullptr),
                    std::string("prepare ") + st.name);
    if (!ok) return ok;
    prepared_.insert(st.name);
  }
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
  for (const auto& item : params.items()) {
    values.push_back(item.binary ? item.data : item.owned.c_str());
    lengths.push_back(item.binary ? item.length : 0);
    formats.push_back(item.binary ? 1 : 0);
  }
  return check(PQexecPrepared(conn_.get(), st.name, static_cast<int>(values.size()), values.data(),
                              lengths.data(), formats.data(), binary_result ? 1 : 0),
               st.name);
}

Result<Rows> Connection::exec_params(const std::string& sql, const Params& params) {
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
  for (const auto& item : params.items()) {
    values.push_back(item.binary ? item.data : item.owned.c_str());
    lengths.push_back(item.binary ? item.length : 0);
    formats.push_back(item.binary ? 1 : 0);
  }
  return check(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                            values.data(), lengths.data(), formats.data(), 0),
               "query");
}

Result<Rows> Connection::exec(const std::string& sql) {
  return check(PQexec(conn_.get(), sql.c_str()), sql.substr(0, sql.find_first_of(" \n")));
}

bool Connection::still_usable() {
  if (broken_ || PQstatus(conn_.get()) != CONNECTION_OK) return false;
  if (PQtransactionStatus(conn_.get()) != PQTRANS_IDLE) return false;
  // An idle connection receives nothing we asked for (atdesk does not LISTEN): anything
  // readable is a server that shuts down (57P01, then the end of the stream) or a dropped
  // connection, and the connection is not used again.
  pollfd p{PQsocket(conn_.get()), POLLIN, 0};
  if (::poll(&p, 1, 0) != 0) return false;
  return true;
}

}  // namespace atdesk::store::pg

namespace atdesk::store {

PgConnections::PgConnections(std::string conninfo, std::size_t size, std::chrono::milliseconds wait)
    : conninfo_(std::move(conninfo)), size_(size == 0 ? 1 : size), wait_(wait) {}

PgConnections::~PgConnections() = default;

PgConnections::Lease::~Lease() {
  if (conn_) pool_->give_back(std::move(conn_));
}

void PgConnections::give_back(std::unique_ptr<pg::Connection> c) {
  {
    std::lock_guard lock(mutex_);
    if (c->still_usable()) {
      idle_.push_back(std::move(c));
    } else {
      --open_;
    }
  }
  freed_.notify_one();
}

Result<PgConnections::Lease> PgConnections::acquire() {
  std::unique_ptr<pg::Connection> stale;
  {
    std::unique_lock lock(mutex_);
    if (!freed_.wait_for(lock, wait_, [&] { return !idle_.empty() || open_ < size_; })) {
      return fail(Errc::unavailable, "postgresql: no free connection after " +
                                         std::to_string(wait_.count()) + " ms (" +
                                         std::to_string(size_) + " in use)");
    }
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      if (c->still_usable()) return Lease(this, std::move(c));
      stale = std::move(c);  // closed outside the lock; its slot is reused below
    } else {
      ++open_;
    }
  }
  stale.reset();
  auto c = pg::Connection::open(conninfo_);
  if (!c) {
    {
      std::lock_guard lock(mutex_);
      --open_;
    }
    freed_.notify_one();
    return fail(c.error());
  }
  return Lease(this, std::move(*c));
}

std::size_t PgConnections::open_connections() {
  std::lock_guard lock(mutex_);
  return open_;
}

}  // namespace atdesk::store
