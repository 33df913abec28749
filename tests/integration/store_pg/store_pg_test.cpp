// PostgreSQL store on a real PostgreSQL 15 (scripts/test-postgres: a cluster in a temporary
// folder, Unix socket only): the store contract, then what only this adapter does: migrations
// once under a lock and refused when newer, a connection replaced after the server restarted,
// documents as sealed rows of 1 MiB stored EXTERNAL, and the key check.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <thread>

#include "atdesk/store/migrate.hpp"
#include "atdesk/store/pg_store.hpp"
#include "atdesk/store/spool.hpp"
#include "atdesk/store/sqlite_store.hpp"
#include "store_contract.hpp"

namespace atdesk::store::contract {
namespace {

std::string run(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  ::pclose(p);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// The one server of this test process, started before the first test and stopped at exit.
class Server : public ::testing::Environment {
 public:
  static Server* instance;
  void SetUp() override {
    dir_ = std::make_unique<testing::TempDir>();
    start();
    ASSERT_FALSE(admin_url_.empty()) << "PostgreSQL did not start (scripts/test-postgres)";
  }
  void TearDown() override {
    stop();
    dir_.reset();
  }
  void start() {
    admin_url_ = run(std::string("bash ") + ATDESK_TEST_POSTGRES + " start " +
                     (dir_->path() / "pg").string());
  }
  void stop() {
    (void)std::system(
        (std::string("bash ") + ATDESK_TEST_POSTGRES + " stop " + (dir_->path() / "pg").string())
            .c_str());
  }
  std::string url(const std::string& db) const {
    return "host=" + (dir_->path() / "pg").string() + " user=atdesk dbname=" + db;
  }
  // A new empty database; its connection string.
  std::string fresh_database() {
    const auto name = "t" + std::to_string(++databases_);
    sql("postgres", "CREATE DATABASE " + name);
    return url(name);
  }
  // Raw SQL, for what the port does not offer; the error message or "".
  std::string sql(const std::string& db, const std::string& statement) {
    PGconn* c = PQconnectdb(url(db).c_str());
    std::string error;
    if (PQstatus(c) != CONNECTION_OK) {
      error = PQerrorMessage(c);
    } else {
      PGresult* r = PQexec(c, statement.c_str());
      const auto st = PQresultStatus(r);
      if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) error = PQresultErrorMessage(r);
      PQclear(r);
    }
    PQfinish(c);
    return error;
  }
  std::string value(const std::string& db, const std::string& query) {
    PGconn* c = PQconnectdb(url(db).c_str());
    std::string out;
    PGresult* r = PQexec(c, query.c_str());
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0) out = PQgetvalue(r, 0, 0);
    PQclear(r);
    PQfinish(c);
    return out;
  }

 private:
  std::unique_ptr<testing::TempDir> dir_;
  std::string admin_url_;
  int databases_ = 0;
};
Server* Server::instance = nullptr;

std::string database_of(const std::string& url) {
  return url.substr(url.rfind('=') + 1);
}

class PgBackend {
 public:
  static constexpr bool kSeveralNodes = true;  // each PgStore is a node with its own id
  void open() {
    url_ = Server::instance->fresh_database();
    reopen();
  }
  void reopen() {
    writers_.clear();
    blobs_.reset();
    db_.reset();
    auto db = PgStore::open({.url = url_, .connections = 2}, kJapan);
    ASSERT_TRUE(db) << db.error().describe();
    db_ = std::move(*db);
    auto blobs = PgBlobStore::open(db_->connections(), dir_ / "spool.key");
    ASSERT_TRUE(blobs) << blobs.error().describe();
    blobs_ = std::move(*blobs);
  }
  JobStore& jobs() { return *db_; }
  TableStore& tables() { return *db_; }
  BlobStore& blobs() { return *blobs_; }
  JobStore& writer(int i) {  // another node: its own pool
    auto& w = writers_[i];
    if (!w) w = PgStore::open({.url = url_, .connections = 1}, kJapan).value();
    return *w;
  }
  PgStore& store() { return *db_; }
  const std::string& url() const { return url_; }
  // Every lease ends now by the database's clock, as if their nodes had stopped renewing.
  void expire_leases() {
    const auto db = database_of(url_);
    for (const char* sql :
         {"UPDATE jobs SET lease_expires = now() - interval '1 second' WHERE lease_owner IS NOT "
          "NULL",
          "UPDATE leases SET expires = now() - interval '1 second'"}) {
      EXPECT_EQ(Server::instance->sql(db, sql), "") << sql;
    }
  }
  const std::filesystem::path key_file() const { return dir_ / "spool.key"; }

 private:
  testing::TempDir dir_;
  std::string url_;
  std::unique_ptr<PgStore> db_;
  std::unique_ptr<PgBlobStore> blobs_;
  std::map<int, std::unique_ptr<PgStore>> writers_;
};

using Backends = ::testing::Types<PgBackend>;
INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, StoreContract, Backends);

// ---------------------------------------------------------------------------------------------
// What only the PostgreSQL adapter does

class PgStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { backend_.open(); }
  Server& server() { return *Server::instance; }
  std::string db() { return database_of(backend_.url()); }
  PgBackend backend_;
};

TEST_F(PgStoreTest, ANewDatabaseIsMigratedAndSeededOnce) {
  EXPECT_EQ(backend_.store().schema_version().value(), PgStore::highest_schema_version());
  EXPECT_EQ(server().value(db(), "SELECT count(*) FROM mode_tables"), "2");
  backend_.reopen();
  EXPECT_EQ(server().value(db(), "SELECT count(*) FROM schema_migrations"),
            std::to_string(PgStore::highest_schema_version()));
  EXPECT_EQ(server().value(db(), "SELECT count(*) FROM mode_tables"), "2");
}

TEST_F(PgStoreTest, NodesStartingTogetherMigrateOnce) {
  const auto url = server().fresh_database();
  constexpr int kNodes = 6;
  std::atomic<int> opened{0};
  std::vector<std::thread> nodes;
  for (int i = 0; i < kNodes; ++i) {
    nodes.emplace_back([&] {
      auto s = PgStore::open({.url = url, .connections = 1}, kJapan);
      if (s)
        ++opened;
      else
        ADD_FAILURE() << s.error().describe();
    });
  }
  for (auto& t : nodes) t.join();
  EXPECT_EQ(opened.load(), kNodes);
  EXPECT_EQ(server().value(database_of(url), "SELECT count(*) FROM mode_tables"), "2");
}

TEST_F(PgStoreTest, ADatabaseFromANewerAtdeskIsRefused) {
  ASSERT_EQ(server().sql(db(), "INSERT INTO schema_migrations (version) VALUES (99)"), "");
  auto s = PgStore::open({.url = backend_.url()}, kJapan);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, Errc::unsupported);
  EXPECT_NE(s.error().message.find("schema version 99"), std::string::npos) << s.error().message;
}

TEST_F(PgStoreTest, AnUnreachableServerIsUnavailableNamingIt) {
  auto s = PgStore::open({.url = "host=/nonexistent-atdesk user=atdesk dbname=x"}, kJapan);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, Errc::unavailable);
  EXPECT_NE(s.error().message.find("nonexistent-atdesk"), std::string::npos) << s.error().message;
}

TEST_F(PgStoreTest, DocumentsAreSealedRowsOfOneMebibyteStoredExternal) {
  const auto data = testing::document_bytes(2 * 1024 * 1024 + 5, 3);
  ASSERT_TRUE(backend_.blobs().put(testing::job_id(1), BlobKind::original, data));
  EXPECT_EQ(server().value(db(), "SELECT count(*) FROM documents WHERE job_id = '" +
                                     testing::job_id(1).str() + "'"),
            "3");
  EXPECT_EQ(server().value(db(),
                           "SELECT attstorage FROM pg_attribute WHERE attrelid = "
                           "'documents'::regclass AND attname = 'data'"),
            "e");
  // Sealed: the plaintext is nowhere in the rows (a sample from the middle of the document).
  EXPECT_EQ(server().value(
                db(), "SELECT count(*) FROM documents WHERE position('\\x" +
                          [&] {
                            std::string hex;
                            char b[3];
                            for (std::size_t i = 100000; i < 100016; ++i) {
                              std::snprintf(b, sizeof b, "%02x", static_cast<unsigned>(data[i]));
                              hex += b;
                            }
                            return hex;
                          }() +
                          "'::bytea in data) > 0"),
            "0");
  // A chunk moved to another job does not open there.
  ASSERT_EQ(server().sql(db(), "UPDATE documents SET job_id = '" + testing::job_id(2).str() +
                                   "' WHERE job_id = '" + testing::job_id(1).str() + "'"),
            "");
  auto moved = backend_.blobs().get(testing::job_id(2), BlobKind::original);
  ASSERT_FALSE(moved);
  EXPECT_EQ(moved.error().code, Errc::corrupt);
  EXPECT_NE(moved.error().message.find(testing::job_id(2).str()), std::string::npos);
}

TEST_F(PgStoreTest, ANodeWithAnotherKeyIsRefused) {
  testing::TempDir other;
  auto blobs = PgBlobStore::open(backend_.store().connections(), other / "spool.key");
  ASSERT_FALSE(blobs);
  EXPECT_EQ(blobs.error().code, Errc::corrupt);
  EXPECT_NE(blobs.error().message.find("key"), std::string::npos) << blobs.error().message;
}

// The server restarts (an upgrade, a failover): calls while it is down fail with
// Errc::unavailable (atdeskd answers 503), and the same store works again once it is back,
// without being reopened.
TEST_F(PgStoreTest, TheStoreReconnectsAfterTheServerRestarts) {
  auto& jobs = backend_.jobs();
  const auto a = make_job(testing::job_id(1), 1000);
  ASSERT_TRUE(jobs.insert(a, first_transition(a)));
  server().stop();
  const auto b = make_job(testing::job_id(2), 2000);
  auto down = jobs.insert(b, first_transition(b));
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, Errc::unavailable) << down.error().describe();
  auto read = jobs.get(a.id);
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code, Errc::unavailable);
  auto blob = backend_.blobs().put(b.id, BlobKind::original, testing::document_bytes(10, 1));
  ASSERT_FALSE(blob);
  EXPECT_EQ(blob.error().code, Errc::unavailable);
  server().start();
  auto again = jobs.insert(b, first_transition(b));
  ASSERT_TRUE(again) << again.error().describe();
  EXPECT_EQ(jobs.list({}).value().size(), 2u);
  ASSERT_TRUE(backend_.blobs().put(b.id, BlobKind::original, testing::document_bytes(10, 1)));
}

// Connections idle in the pool while the server restarts are replaced at their next use: the
// first call after the restart succeeds (it is not the one that finds the connection dead).
TEST_F(PgStoreTest, IdleConnectionsClosedByARestartAreReplacedBeforeUse) {
  auto& jobs = backend_.jobs();
  const auto a = make_job(testing::job_id(1), 1000);
  ASSERT_TRUE(jobs.insert(a, first_transition(a)));
  server().stop();
  server().start();
  const auto b = make_job(testing::job_id(2), 2000);
  auto ok = jobs.insert(b, first_transition(b));
  ASSERT_TRUE(ok) << ok.error().describe();
  EXPECT_TRUE(jobs.get(a.id));
}

// `atdesk migrate`'s function: a SQLite store and spool with jobs in several states, tables,
// audit, settings and documents, moved into a new database; every port reads back the same.
TEST(PgMigrate, MovesEveryTableAndDocumentAndRefusesATargetWithJobs) {
  testing::TempDir state;
  const auto paths = StatePaths::under(state.path());
  std::vector<Job> jobs;
  std::vector<Bytes> originals;
  {
    auto db = SqliteStore::open(paths.database, kJapan).value();
    auto spool = EncryptedSpool::open(paths.spool_dir, paths.key_file).value();
    for (int i = 0; i < 5; ++i) {
      auto j = make_job(testing::job_id(static_cast<std::uint64_t>(i + 1)), 1000 * (5 - i));
      ASSERT_TRUE(db->insert(j, first_transition(j)));
      if (i % 2 == 0) {
        auto held = j;
        held.state = JobState::held;
        held.reason = "held " + std::to_string(i);
        ASSERT_TRUE(db->update(
            held, JobState::received,
            {j.id, at_ms(9000), JobState::received, JobState::held, "engine", held.reason}));
        j = held;
      }
      jobs.push_back(j);
      originals.push_back(testing::document_bytes(70000 * static_cast<std::size_t>(i) + 3,
                                                  static_cast<std::uint64_t>(i)));
      ASSERT_TRUE(spool->put(j.id, BlobKind::original, originals.back()));
      if (i == 1) {
        ASSERT_TRUE(spool->put(j.id, BlobKind::preview, testing::document_bytes(99, 9)));
      }
    }
    QueuedNotice n;
    n.job = jobs[0].id;
    n.to = user("alice");
    n.text = "queued";
    ASSERT_TRUE(db->queue_notice(n));
    ASSERT_TRUE(db->add_recipient_rule(rule("prefix:03", "tokyo", "first")));
    ASSERT_TRUE(db->add_recipient_rule(rule("others", "desk", "last")));
    ModeTable night("night");
    night.set(Availability::offline, WorkLocation::unknown, Action::print);
    ASSERT_TRUE(db->put_mode_table(night));
    ASSERT_TRUE(db->append_audit({0, at_ms(5), "api:admin", "recipient.add", "rule 1", "x"}));
    ASSERT_TRUE(db->put_setting("presence.local", "alice", "{\"a\":1}"));
  }
  const auto url = Server::instance->fresh_database();
  std::vector<std::string> lines;
  auto report =
      migrate_sqlite_to_postgres(paths, url, [&](const std::string& l) { lines.push_back(l); });
  ASSERT_TRUE(report) << report.error().describe();
  EXPECT_EQ(report->documents, 6u);
  EXPECT_TRUE(report->missing.empty());
  EXPECT_FALSE(lines.empty());

  auto pg = PgStore::open({.url = url}, kJapan).value();
  auto docs = PgBlobStore::open(pg->connections(), paths.key_file).value();
  auto sqlite = SqliteStore::open(paths.database, kJapan).value();
  EXPECT_EQ(ids_of(pg->list({}).value()), ids_of(sqlite->list({}).value()));
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    expect_same_job(pg->get(jobs[i].id).value(), jobs[i]);
    EXPECT_EQ(pg->history(jobs[i].id).value(), sqlite->history(jobs[i].id).value());
    EXPECT_EQ(testing::content_hash(docs->get(jobs[i].id, BlobKind::original).value()),
              testing::content_hash(originals[i]));
  }
  EXPECT_EQ(pg->recipient_rules().value(), sqlite->recipient_rules().value());
  EXPECT_EQ(pg->mode_tables().value(), sqlite->mode_tables().value());
  EXPECT_EQ(pg->audit(10, 0).value().size(), 1u);
  EXPECT_EQ(pg->get_setting("presence.local", "alice").value(),
            std::optional<std::string>("{\"a\":1}"));
  EXPECT_EQ(pg->queued_notices(10).value().size(), 1u);
  // Ids go on after the copied ones.
  auto added = pg->add_recipient_rule(rule("all", "copy", "")).value();
  EXPECT_GT(added.id, sqlite->recipient_rules().value().back().id);

  auto again = migrate_sqlite_to_postgres(paths, url, {});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::conflict);
  EXPECT_NE(again.error().message.find("5 job(s)"), std::string::npos) << again.error().message;
}

}  // namespace
}  // namespace atdesk::store::contract

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  atdesk::store::contract::Server::instance = new atdesk::store::contract::Server;
  ::testing::AddGlobalTestEnvironment(atdesk::store::contract::Server::instance);
  return RUN_ALL_TESTS();
}
