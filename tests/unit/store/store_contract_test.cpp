// The store contract (store_contract.hpp) on the in-memory fakes the engine's tests use and on
// SQLite with the encrypted spool, atdeskd's default. PostgreSQL runs the same suite in
// tests/integration/store_pg.
#include "store_contract.hpp"

#include <map>
#include <memory>

#include "atdesk/store/spool.hpp"
#include "atdesk/store/sqlite_store.hpp"
#include "atdesk/testing/memory_store.hpp"

namespace atdesk::store::contract {
namespace {

class MemoryBackend {
 public:
  static constexpr bool kSeveralNodes = false;
  void open() {}
  void reopen() {}  // the same objects: what a restart keeps is not the fake's concern
  void expire_leases() { jobs_.new_life(); }
  JobStore& jobs() { return jobs_; }
  TableStore& tables() { return tables_; }
  BlobStore& blobs() { return blobs_; }
  JobStore& writer(int) { return jobs_; }

 private:
  atdesk::testing::MemoryJobStore jobs_;
  atdesk::testing::MemoryTableStore tables_;
  atdesk::testing::MemoryBlobStore blobs_;
};

class SqliteBackend {
 public:
  static constexpr bool kSeveralNodes = false;
  void open() { reopen(); }
  void expire_leases() {}  // a process's leases end with it: reopen() is a new process
  void reopen() {
    writers_.clear();
    db_.reset();
    spool_.reset();
    auto db = SqliteStore::open(dir_ / "atdesk.db", kJapan);
    ASSERT_TRUE(db) << db.error().describe();
    db_ = std::move(*db);
    auto spool = EncryptedSpool::open(dir_ / "spool", dir_ / "spool.key");
    ASSERT_TRUE(spool) << spool.error().describe();
    spool_ = std::move(*spool);
  }
  JobStore& jobs() { return *db_; }
  TableStore& tables() { return *db_; }
  BlobStore& blobs() { return *spool_; }
  JobStore& writer(int i) {
    auto& w = writers_[i];
    if (!w) w = SqliteStore::open(dir_ / "atdesk.db", kJapan).value();
    return *w;
  }

 private:
  testing::TempDir dir_;
  std::unique_ptr<SqliteStore> db_;
  std::unique_ptr<EncryptedSpool> spool_;
  std::map<int, std::unique_ptr<SqliteStore>> writers_;
};

using Backends = ::testing::Types<MemoryBackend, SqliteBackend>;
INSTANTIATE_TYPED_TEST_SUITE_P(Store, StoreContract, Backends);

}  // namespace
}  // namespace atdesk::store::contract
