// The upgrade fixtures of tests/data/upgrade/v<N> (a store, spool and key written by the atdesk of
// schema N; scripts/make-upgrade-fixture) opened by this build's SqliteStore and EncryptedSpool:
// migrations bring them to this build's schema, and every job, history, table and document is
// as the fixture's expected.json says. A store newer than this build is refused before any
// migration runs, naming the file, its version and the highest this build knows.
#include <gtest/gtest.h>
#include <sodium.h>
#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include "atdesk/store/spool.hpp"
#include "atdesk/store/sqlite_store.hpp"
#include "store_test_support.hpp"

namespace atdesk::store {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::read_file;
using testing::TempDir;

const NumberPlan kJapan{"81", "0", "010"};

std::string sha256_hex(const Bytes& data) {
  unsigned char out[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(out, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  char hex[sizeof out * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, out, sizeof out);
  return hex;
}

std::vector<fs::path> fixtures() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(fs::path(ATDESK_UPGRADE_FIXTURES))) {
    if (e.is_directory() && e.path().filename().string().starts_with("v")) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A copy of the fixture in a temporary state folder (the fixture itself is never written).
fs::path copy_of(const fs::path& fixture, const TempDir& dir) {
  const auto state = dir / fixture.filename().string();
  fs::create_directories(state);
  fs::copy_file(fixture / "atdesk.db", state / "atdesk.db");
  fs::copy(fixture / "spool", state / "spool", fs::copy_options::recursive);
  fs::copy_file(fixture / "spool.key", state / "spool.key");
  fs::permissions(state / "spool.key", fs::perms::owner_read | fs::perms::owner_write,
                  fs::perm_options::replace);
  return state;
}

TEST(UpgradeTest, EveryFixtureOpensWithThisBuildWithEveryJobHistoryAndDocument) {
  ASSERT_EQ(sodium_init() >= 0, true);
  const auto all = fixtures();
  ASSERT_FALSE(all.empty()) << "no fixture under " << ATDESK_UPGRADE_FIXTURES;
  for (const auto& fixture : all) {
    SCOPED_TRACE(fixture.string());
    TempDir dir;
    const auto state = copy_of(fixture, dir);
    const auto expected = json::parse(read_file(fixture / "expected.json"));
    auto db = SqliteStore::open(state / "atdesk.db", kJapan);
    ASSERT_TRUE(db) << db.error().message;
    EXPECT_EQ((*db)->schema_version(), SqliteStore::highest_schema_version());
    EXPECT_LE(expected["schema_version"].get<int>(), SqliteStore::highest_schema_version());
    auto spool = EncryptedSpool::open(state / "spool", state / "spool.key");
    ASSERT_TRUE(spool) << spool.error().message;

    JobFilter all_jobs;
    all_jobs.limit = 100000;
    auto jobs = (*db)->list(all_jobs);
    ASSERT_TRUE(jobs) << jobs.error().message;
    ASSERT_EQ(jobs->size(), expected["jobs"].size());
    for (const auto& want : expected["jobs"]) {
      const auto id = want["id"].get<std::string>();
      SCOPED_TRACE(id);
      auto job = (*db)->find(id);
      ASSERT_TRUE(job) << job.error().message;
      EXPECT_EQ(to_string(job->state), want["state"].get<std::string>());
      EXPECT_EQ(job->document_name, want["document_name"].get<std::string>());
      EXPECT_EQ(job->pages, want["pages"].get<int>());
      EXPECT_EQ(job->print_attempts, want["print_attempts"].get<int>());
      EXPECT_EQ(job->mode_table, want["mode_table"].get<std::string>());
      std::vector<std::string> recipients;
      for (const auto& r : job->recipients) recipients.push_back(r.key());
      EXPECT_EQ(json(recipients), want["recipients"]);
      auto history = (*db)->history(job->id);
      ASSERT_TRUE(history);
      const auto& want_history = expected["history"][id];
      ASSERT_EQ(history->size(), want_history.size());
      for (std::size_t i = 0; i < history->size(); ++i) {
        EXPECT_EQ(to_string((*history)[i].to), want_history[i]["to"].get<std::string>());
        EXPECT_EQ((*history)[i].actor, want_history[i]["actor"].get<std::string>());
        EXPECT_EQ((*history)[i].reason, want_history[i]["reason"].get<std::string>());
      }
      const auto& docs = expected["documents"][id];
      for (auto [kind, name] :
           {std::pair{BlobKind::original, "original"}, std::pair{BlobKind::printable, "printable"},
            std::pair{BlobKind::preview, "preview"}}) {
        auto blob = (*spool)->get(job->id, kind);
        if (!docs.contains(name)) {
          EXPECT_FALSE(blob) << name << " is in the spool but not in expected.json";
          continue;
        }
        ASSERT_TRUE(blob) << name << ": " << blob.error().message;
        EXPECT_EQ(sha256_hex(*blob), docs[name].get<std::string>()) << name;
      }
    }
    auto rules = (*db)->recipient_rules();
    ASSERT_TRUE(rules);
    ASSERT_EQ(rules->size(), expected["recipient_rules"].size());
    for (std::size_t i = 0; i < rules->size(); ++i) {
      EXPECT_EQ((*rules)[i].recipient.key(),
                expected["recipient_rules"][i]["recipient"].get<std::string>());
      EXPECT_EQ((*rules)[i].note, expected["recipient_rules"][i]["note"].get<std::string>());
    }
    auto tables = (*db)->mode_tables();
    ASSERT_TRUE(tables);
    EXPECT_EQ(tables->size(), expected["mode_tables"].size());
    auto schedule = (*db)->schedule();
    ASSERT_TRUE(schedule);
    EXPECT_EQ(schedule->has_value(), !expected["schedule"].empty());
    auto audit = (*db)->audit(100000, 0);
    ASSERT_TRUE(audit);
    EXPECT_EQ(audit->size(), expected["audit_log"].size());
  }
}

TEST(UpgradeTest, AStoreNewerThanThisBuildIsRefusedBeforeAnyMigration) {
  const auto all = fixtures();
  ASSERT_FALSE(all.empty());
  TempDir dir;
  const auto state = copy_of(all.front(), dir);
  const auto file = state / "atdesk.db";
  const int newer = SqliteStore::highest_schema_version() + 1;
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &raw), SQLITE_OK);
  const auto sql = "INSERT INTO schema_migrations (version, applied_at) VALUES (" +
                   std::to_string(newer) + ", 0)";
  ASSERT_EQ(sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  const auto before = read_file(file);

  auto opened = SqliteStore::open(file, kJapan);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, Errc::unsupported);
  const auto& m = opened.error().message;
  EXPECT_NE(m.find(file.string() + ": the database has schema version " + std::to_string(newer)),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("newer than the highest this atdesk knows (" +
                   std::to_string(SqliteStore::highest_schema_version()) + ")"),
            std::string::npos)
      << m;
  EXPECT_EQ(read_file(file), before) << "the refused store was changed";
}

}  // namespace
}  // namespace atdesk::store
