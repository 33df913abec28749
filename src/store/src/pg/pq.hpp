// A small RAII layer over libpq for the PostgreSQL store: owned connections and results,
// statements prepared once per connection, parameters in text or binary form, and a pool that
// hands one connection to one caller at a time and replaces a connection the server dropped
// (a restart, a failover: libpq's multi-host connection string then finds the new primary).
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "atdesk/core/error.hpp"
#include "atdesk/store/blob_store.hpp"
#include "atdesk/store/pg_store.hpp"

namespace atdesk::store::pg {

struct ConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultClearer {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ConnPtr = std::unique_ptr<PGconn, ConnCloser>;
using ResultPtr = std::unique_ptr<PGresult, ResultClearer>;

// Parameters of one statement, $1 first. Text values are copied; bytes() keeps a view, so the
// bytes must outlive the call that runs the statement.
class Params {
 public:
  Params& text(std::string_view v);
  Params& integer(std::int64_t v) { return text(std::to_string(v)); }
  Params& bytes(std::span<const unsigned char> v);
  // A text[] value ('{"a","b"}'), for unnest() and = ANY().
  Params& text_array(const std::vector<std::string>& v);
  std::size_t size() const { return items_.size(); }

  struct Item {
    std::string owned;
    const char* data = nullptr;  // set for binary items only
    int length = 0;
    bool binary = false;
  };
  const std::vector<Item>& items() const { return items_; }

 private:
  std::vector<Item> items_;
};

// The rows of a result; text format unless the statement asked for binary results.
class Rows {
 public:
  explicit Rows(ResultPtr r) : r_(std::move(r)) {}
  int size() const { return PQntuples(r_.get()); }
  bool empty() const { return size() == 0; }
  std::string text(int row, int col) const;
  std::int64_t integer(int row, int col) const;
  std::span<const unsigned char> bytes(int row, int col) const;  // a binary-format column
  std::int64_t affected() const;                                 // rows an UPDATE/DELETE changed

 private:
  ResultPtr r_;
};

// A named statement, prepared on each connection the first time it runs there.
struct Statement {
  const char* name;
  const char* sql;
};

class Connection {
 public:
  // `conninfo`: a URI or key=value string. Defaults that the string may override:
  // target_session_attrs=read-write, connect_timeout=5, TCP keepalives.
  static Result<std::unique_ptr<Connection>> open(const std::string& conninfo);

  Result<Rows> run(const Statement& st, const Params& params = {}, bool binary_result = false);
  Result<Rows> exec_params(const std::string& sql, const Params& params = {});
  // Statements without parameters, several separated by ';' (migrations, BEGIN, COMMIT).
  Result<Rows> exec(const std::string& sql);

  // True once the server went away, the session became read-only (a failover), or a
  // transaction was left open: the pool then drops the connection instead of reusing it.
  bool broken() const { return broken_; }
  // Reads what the server sent while the connection was idle (a shutdown notice) without
  // blocking; false when the connection is no longer usable.
  bool still_usable();
  // "host:port/database" for error messages (never the password).
  const std::string& peer() const { return peer_; }

 private:
  explicit Connection(ConnPtr conn);
  Result<Rows> check(PGresult* raw, std::string_view what);
  ConnPtr conn_;
  std::unordered_set<std::string> prepared_;
  std::string peer_;
  bool broken_ = false;
};

}  // namespace atdesk::store::pg

namespace atdesk::store {

// At most `size` connections, each used by one caller at a time. acquire() waits for a free
// one (up to `wait`), opens one when fewer than `size` are open, and replaces a connection
// that was found broken or that the server closed while it was idle.
class PgConnections {
 public:
  PgConnections(std::string conninfo, std::size_t size,
                std::chrono::milliseconds wait = std::chrono::seconds(10));
  ~PgConnections();
  PgConnections(const PgConnections&) = delete;
  PgConnections& operator=(const PgConnections&) = delete;

  class Lease {
   public:
    Lease(PgConnections* pool, std::unique_ptr<pg::Connection> c)
        : pool_(pool), conn_(std::move(c)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();
    pg::Connection* operator->() const { return conn_.get(); }
    pg::Connection& operator*() const { return *conn_; }

   private:
    PgConnections* pool_;
    std::unique_ptr<pg::Connection> conn_;
  };

  [[nodiscard]] Result<Lease> acquire();
  std::size_t open_connections();

 private:
  void give_back(std::unique_ptr<pg::Connection> c);

  std::string conninfo_;
  std::size_t size_;
  std::chrono::milliseconds wait_;
  std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<pg::Connection>> idle_;
  std::size_t open_ = 0;  // idle + leased + being opened
};

}  // namespace atdesk::store
