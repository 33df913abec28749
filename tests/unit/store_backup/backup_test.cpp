// atdesk backup / restore (atdesk::store_backup) on real stores and spools in temporary folders:
// a round trip keeps every table row and every document; a damaged archive (truncated, a document
// missing or altered, a wrong passphrase) is refused with an error naming the archive, the entry
// and what was expected, and nothing of it is put in place; a state folder in use is refused.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <functional>
#include <map>
#include <optional>

#include "atdesk/store/backup.hpp"
#include "atdesk/store/spool.hpp"
#include "atdesk/store/sqlite_store.hpp"
#include "atdesk/store/state_lock.hpp"
#include "store_test_support.hpp"

namespace atdesk::store {
namespace {

using testing::at_ms;
using testing::document_bytes;
using testing::job_id;
using testing::read_file;
using testing::TempDir;
using testing::write_file;
namespace fs = std::filesystem;

const NumberPlan kJapan{"81", "0", "010"};
constexpr const char* kPassphrase = "correct horse battery";

Recipient user(const std::string& address) {
  return Recipient{RecipientKind::user, "local", address};
}

// Every row of every table of a database file, as text: equal dumps, equal stores.
std::string dump(const fs::path& file) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr);
  std::string out;
  std::vector<std::string> tables;
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name", -1, &st,
                     nullptr);
  while (sqlite3_step(st) == SQLITE_ROW) {
    tables.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  }
  sqlite3_finalize(st);
  for (const auto& t : tables) {
    out += "[" + t + "]\n";
    sqlite3_prepare_v2(db, ("SELECT * FROM \"" + t + "\" ORDER BY 1").c_str(), -1, &st, nullptr);
    while (sqlite3_step(st) == SQLITE_ROW) {
      for (int c = 0; c < sqlite3_column_count(st); ++c) {
        const auto* v = sqlite3_column_text(st, c);
        out += (v ? reinterpret_cast<const char*>(v) : "NULL") + std::string("|");
      }
      out += "\n";
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return out;
}

// Rewrites a tar archive entry by entry: `edit` returns the new data, or nullopt to drop it.
void rewrite(
    const fs::path& file,
    const std::function<std::optional<std::string>(const std::string&, std::string)>& edit) {
  std::vector<std::pair<std::string, std::string>> entries;
  {
    archive* in = archive_read_new();
    archive_read_support_format_tar(in);
    ASSERT_EQ(archive_read_open_filename(in, file.c_str(), 10240), ARCHIVE_OK);
    archive_entry* e = nullptr;
    while (archive_read_next_header(in, &e) == ARCHIVE_OK) {
      std::string data(static_cast<std::size_t>(archive_entry_size(e)), '\0');
      archive_read_data(in, data.data(), data.size());
      entries.emplace_back(archive_entry_pathname(e), std::move(data));
    }
    archive_read_free(in);
  }
  archive* out = archive_write_new();
  archive_write_set_format_pax_restricted(out);
  ASSERT_EQ(archive_write_open_filename(out, file.c_str()), ARCHIVE_OK);
  for (auto& [name, data] : entries) {
    auto changed = edit(name, data);
    if (!changed) continue;
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0600);
    archive_entry_set_size(e, static_cast<la_int64_t>(changed->size()));
    archive_write_header(out, e);
    archive_write_data(out, changed->data(), changed->size());
    archive_entry_free(e);
  }
  archive_write_close(out);
  archive_write_free(out);
}

PassphraseFn phrase(std::string text, int* asked = nullptr) {
  return [text, asked]() -> Result<std::string> {
    if (asked) ++*asked;
    return text;
  };
}

class BackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    from_ = StatePaths::under(dir_ / "node");
    to_ = StatePaths::under(dir_ / "restored");
    archive_ = dir_ / "node.backup";
    auto db = SqliteStore::open(from_.database, kJapan);
    ASSERT_TRUE(db) << db.error().message;
    auto spool = EncryptedSpool::open(from_.spool_dir, from_.key_file);
    ASSERT_TRUE(spool) << spool.error().message;
    for (std::uint64_t n = 1; n <= 6; ++n) {
      Job j;
      j.id = job_id(n, n << 56);  // ids in different spool folders
      j.state = JobState::received;
      j.source = JobSource::inbox;
      j.sender.fax = *FaxNumber::parse("03-1234-567" + std::to_string(n), kJapan);
      j.document_name = "fax-" + std::to_string(n) + ".tif";
      j.format = DocumentFormat::tiff;
      j.pages = 1;
      j.received_at = j.updated_at = at_ms(1000 * static_cast<std::int64_t>(n));
      j.recipients = {user("alice")};
      j.mode_table = "weekday";
      ASSERT_TRUE((*db)->insert(j, Transition{j.id, j.received_at, JobState::received,
                                              JobState::received, "engine", "received"}));
      const auto doc = document_bytes(20'000 + n * 1000, n);
      ASSERT_TRUE((*spool)->put(j.id, BlobKind::original, doc));
      if (n % 2 == 0) {
        ASSERT_TRUE((*spool)->put(j.id, BlobKind::preview, document_bytes(500, n + 100)));
      }
      documents_[j.id.str()] = doc;
      ids_.push_back(j.id);
    }
    ASSERT_TRUE((*db)->add_recipient_rule(
        {0, *SenderPattern::parse("prefix:03", kJapan), user("bob"), "", "Tokyo"}));
    ASSERT_TRUE((*db)->append_audit({0, at_ms(5), "api:admin", "recipient.add", "rule 1", "x"}));
  }

  std::string sealed_file(const StatePaths& p, const JobId& id, BlobKind kind) {
    return read_file(p.spool_dir / id.str().substr(0, 2) /
                     (id.str() + "." + std::string(to_string(kind))));
  }

  TempDir dir_;
  StatePaths from_, to_;
  fs::path archive_;
  std::vector<JobId> ids_;
  std::map<std::string, Bytes> documents_;
};

TEST_F(BackupTest, ARoundTripKeepsEveryRowEveryDocumentAndTheKey) {
  int asked = 0;
  auto made = write_backup(from_, archive_, true, phrase(kPassphrase, &asked));
  ASSERT_TRUE(made) << made.error().message;
  EXPECT_EQ(asked, 1);
  EXPECT_EQ(made->jobs, 6u);
  EXPECT_EQ(made->documents, 6u + 3u + 1u);  // originals, previews, the key check
  EXPECT_EQ(made->schema_version, SqliteStore::highest_schema_version());
  EXPECT_TRUE(made->missing.empty());
  EXPECT_FALSE(fs::exists(archive_.string() + ".tmp-" + std::to_string(::getpid())));

  asked = 0;
  auto restored = restore_backup(archive_, to_, false, phrase(kPassphrase, &asked));
  ASSERT_TRUE(restored) << restored.error().message;
  EXPECT_EQ(asked, 1);
  EXPECT_TRUE(restored->with_key);
  EXPECT_EQ(restored->documents, 10u);
  EXPECT_EQ(dump(to_.database), dump(from_.database));
  EXPECT_EQ(read_file(to_.key_file), read_file(from_.key_file));
  EXPECT_EQ(fs::status(to_.key_file).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  // Sealed files are copied as they are, and the restored key opens them.
  auto spool = EncryptedSpool::open(to_.spool_dir, to_.key_file);
  ASSERT_TRUE(spool) << spool.error().message;
  for (const auto& id : ids_) {
    EXPECT_EQ(sealed_file(to_, id, BlobKind::original), sealed_file(from_, id, BlobKind::original));
    auto doc = (*spool)->get(id, BlobKind::original);
    ASSERT_TRUE(doc) << doc.error().message;
    EXPECT_EQ(*doc, documents_[id.str()]);
  }
  auto db = SqliteStore::open(to_.database, kJapan);
  ASSERT_TRUE(db) << db.error().message;
  auto jobs = (*db)->list({});
  ASSERT_TRUE(jobs);
  EXPECT_EQ(jobs->size(), 6u);
}

TEST_F(BackupTest, WithoutTheKeyNoPassphraseIsAskedAndRestoreNeedsTheNodesKey) {
  int asked = 0;
  auto made = write_backup(from_, archive_, false, phrase("unused", &asked));
  ASSERT_TRUE(made) << made.error().message;
  EXPECT_EQ(asked, 0);
  auto refused = restore_backup(archive_, to_, false, phrase("unused", &asked));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::not_found);
  EXPECT_NE(refused.error().message.find(to_.key_file.string()), std::string::npos)
      << refused.error().message;
  EXPECT_NE(refused.error().message.find("--with-key"), std::string::npos);
  EXPECT_FALSE(fs::exists(to_.database));

  fs::create_directories(to_.state_dir);
  fs::copy_file(from_.key_file, to_.key_file);
  auto restored = restore_backup(archive_, to_, false, phrase("unused", &asked));
  ASSERT_TRUE(restored) << restored.error().message;
  EXPECT_EQ(asked, 0);
  EXPECT_EQ(dump(to_.database), dump(from_.database));
}

TEST_F(BackupTest, AnotherKeyThanTheSpoolsIsRefusedByTheKeyCheck) {
  ASSERT_TRUE(write_backup(from_, archive_, false, phrase("")));
  fs::create_directories(to_.state_dir);
  ASSERT_TRUE(load_or_create_key(to_.key_file));  // a new, different key
  auto refused = restore_backup(archive_, to_, false, phrase(""));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::corrupt);
  EXPECT_NE(refused.error().message.find("does not open the spool"), std::string::npos)
      << refused.error().message;
  EXPECT_FALSE(fs::exists(to_.database));
}

TEST_F(BackupTest, AShortPassphraseIsRefusedAtBackup) {
  auto refused = write_backup(from_, archive_, true, phrase("short"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::invalid_argument);
  EXPECT_NE(refused.error().message.find("at least 8"), std::string::npos);
  EXPECT_FALSE(fs::exists(archive_));
}

TEST_F(BackupTest, AWrongPassphraseIsRefusedNamingTheArchiveAndTheKey) {
  ASSERT_TRUE(write_backup(from_, archive_, true, phrase(kPassphrase)));
  auto refused = restore_backup(archive_, to_, false, phrase("not the passphrase"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::permission_denied);
  EXPECT_NE(refused.error().message.find(archive_.string()), std::string::npos)
      << refused.error().message;
  EXPECT_NE(refused.error().message.find("spool.key.sealed"), std::string::npos);
  EXPECT_NE(refused.error().message.find("wrong passphrase"), std::string::npos);
  EXPECT_FALSE(fs::exists(to_.database));
  EXPECT_FALSE(fs::exists(to_.key_file));
  EXPECT_FALSE(fs::exists(to_.key_file.string() + ".restore-tmp"));
}

TEST_F(BackupTest, ATruncatedArchiveIsRefusedNamingWhereItEnds) {
  ASSERT_TRUE(write_backup(from_, archive_, false, phrase("")));
  fs::create_directories(to_.state_dir);
  fs::copy_file(from_.key_file, to_.key_file);
  const auto whole = read_file(archive_);
  // Inside the database entry, inside a document, and just before the manifest.
  const auto manifest_at = whole.rfind("manifest.json");
  ASSERT_NE(manifest_at, std::string::npos);
  for (const std::size_t cut :
       {std::size_t{3000}, whole.size() / 2, manifest_at - manifest_at % 512}) {
    SCOPED_TRACE(cut);
    write_file(archive_, whole.substr(0, cut));
    auto refused = restore_backup(archive_, to_, false, phrase(""));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, Errc::corrupt);
    EXPECT_NE(refused.error().message.find(archive_.string()), std::string::npos)
        << refused.error().message;
    EXPECT_TRUE(refused.error().message.find("truncated") != std::string::npos)
        << refused.error().message;
    EXPECT_FALSE(fs::exists(to_.database));
    EXPECT_FALSE(fs::exists(to_.spool_dir));
  }
}

TEST_F(BackupTest, AMissingDocumentIsRefusedNamingItAndItsDigest) {
  ASSERT_TRUE(write_backup(from_, archive_, false, phrase("")));
  fs::create_directories(to_.state_dir);
  fs::copy_file(from_.key_file, to_.key_file);
  const std::string gone =
      "spool/" + ids_[2].str().substr(0, 2) + "/" + ids_[2].str() + ".original";
  rewrite(archive_, [&](const std::string& name, std::string data) -> std::optional<std::string> {
    if (name == gone) return std::nullopt;
    return data;
  });
  auto refused = restore_backup(archive_, to_, false, phrase(""));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::corrupt);
  const auto& m = refused.error().message;
  EXPECT_NE(m.find(archive_.string() + ": " + gone + ": missing from the archive"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("sha256 "), std::string::npos) << m;
  EXPECT_FALSE(fs::exists(to_.database));
}

TEST_F(BackupTest, AnAlteredDocumentIsRefusedWithTheExpectedAndActualDigests) {
  ASSERT_TRUE(write_backup(from_, archive_, false, phrase("")));
  fs::create_directories(to_.state_dir);
  fs::copy_file(from_.key_file, to_.key_file);
  const std::string altered =
      "spool/" + ids_[4].str().substr(0, 2) + "/" + ids_[4].str() + ".original";
  rewrite(archive_, [&](const std::string& name, std::string data) -> std::optional<std::string> {
    if (name == altered) data[100] ^= 1;
    return data;
  });
  auto refused = restore_backup(archive_, to_, false, phrase(""));
  ASSERT_FALSE(refused);
  const auto& m = refused.error().message;
  EXPECT_NE(m.find(altered + ": expected "), std::string::npos) << m;
  EXPECT_NE(m.find("(manifest), got "), std::string::npos) << m;
  EXPECT_FALSE(fs::exists(to_.database));
}

// A document the spool lost before the backup (not one deleted with its job meanwhile: its row
// still says held) is not hidden: the backup says which, names it in the manifest, and the
// archive still restores everything else.
TEST_F(BackupTest, ADocumentTheSpoolLostIsReportedAndTheRestStillRestores) {
  const auto lost = from_.spool_dir / ids_[1].str().substr(0, 2) / (ids_[1].str() + ".original");
  ASSERT_TRUE(fs::remove(lost));
  auto made = write_backup(from_, archive_, false, phrase(""));
  ASSERT_TRUE(made) << made.error().message;
  ASSERT_EQ(made->missing.size(), 1u);
  EXPECT_NE(made->missing[0].find(lost.string()), std::string::npos) << made->missing[0];
  EXPECT_NE(made->missing[0].find("received"), std::string::npos) << made->missing[0];
  EXPECT_GT(made->snapshots, 1);  // it was looked for again in a new snapshot first
  EXPECT_EQ(made->documents, 5u + 3u + 1u);
  fs::create_directories(to_.state_dir);
  fs::copy_file(from_.key_file, to_.key_file);
  auto restored = restore_backup(archive_, to_, false, phrase(""));
  ASSERT_TRUE(restored) << restored.error().message;
  EXPECT_EQ(restored->documents, 9u);
}

TEST_F(BackupTest, AnArchiveThatIsNotABackupIsRefused) {
  write_file(archive_, "just some text, not a tar file at all");
  auto refused = restore_backup(archive_, to_, false, phrase(""));
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find(archive_.string()), std::string::npos);
  auto absent = restore_backup(dir_ / "nothing.backup", to_, false, phrase(""));
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.error().code, Errc::not_found);
}

TEST_F(BackupTest, ABackupOfANewerStoreIsRefusedWithBothVersions) {
  ASSERT_TRUE(write_backup(from_, archive_, false, phrase("")));
  const int newer = SqliteStore::highest_schema_version() + 1;
  rewrite(archive_, [&](const std::string& name, std::string data) -> std::optional<std::string> {
    if (name == "atdesk-backup.json") {
      const auto at = data.find("\"schema_version\": ");
      data.replace(at, data.find(',', at) - at, "\"schema_version\": " + std::to_string(newer));
    }
    return data;
  });
  auto refused = restore_backup(archive_, to_, false, phrase(""));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::unsupported);
  EXPECT_NE(refused.error().message.find("schema version " + std::to_string(newer)),
            std::string::npos)
      << refused.error().message;
  EXPECT_NE(refused.error().message.find(
                "(" + std::to_string(SqliteStore::highest_schema_version()) + ")"),
            std::string::npos)
      << refused.error().message;
}

TEST_F(BackupTest, RestoreRefusesAStateFolderInUseByAtdeskd) {
  ASSERT_TRUE(write_backup(from_, archive_, false, phrase("")));
  auto daemon = StateLock::acquire(to_.state_dir, "atdeskd");
  ASSERT_TRUE(daemon) << daemon.error().message;
  auto refused = restore_backup(archive_, to_, false, phrase(""));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::conflict);
  EXPECT_NE(refused.error().message.find(std::to_string(::getpid()) + " atdeskd"),
            std::string::npos)
      << refused.error().message;
  EXPECT_NE(refused.error().message.find("stop atdeskd"), std::string::npos);
}

TEST_F(BackupTest, RestoreRefusesAnExistingStoreUnlessForcedAndThenKeepsItAside) {
  ASSERT_TRUE(write_backup(from_, archive_, true, phrase(kPassphrase)));
  // The node's own state folder, changed after the backup.
  {
    auto db = SqliteStore::open(from_.database, kJapan);
    ASSERT_TRUE(db);
    ASSERT_TRUE((*db)->append_audit({0, at_ms(9), "api:admin", "later", "x", "after"}));
  }
  const auto later = dump(from_.database);
  auto refused = restore_backup(archive_, from_, false, phrase(kPassphrase));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::conflict);
  EXPECT_NE(refused.error().message.find("--force"), std::string::npos);
  EXPECT_EQ(dump(from_.database), later);

  auto restored = restore_backup(archive_, from_, true, phrase(kPassphrase));
  ASSERT_TRUE(restored) << restored.error().message;
  ASSERT_TRUE(restored->previous);
  EXPECT_EQ(dump(*restored->previous / "atdesk.db"), later);
  EXPECT_NE(dump(from_.database), later);
  EXPECT_TRUE(EncryptedSpool::open(from_.spool_dir, from_.key_file));
}

TEST(StateLockTest, OneHolderAtATimeAndReleasedWithTheHolder) {
  TempDir dir;
  {
    auto first = StateLock::acquire(dir.path(), "atdeskd");
    ASSERT_TRUE(first) << first.error().message;
    auto second = StateLock::acquire(dir.path(), "atdesk restore");
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, Errc::conflict);
    EXPECT_NE(second.error().message.find(StateLock::file_of(dir.path()).string()),
              std::string::npos);
  }
  EXPECT_TRUE(StateLock::acquire(dir.path(), "atdesk restore"));
}

}  // namespace
}  // namespace atdesk::store
