// `atdesk backup`: a consistent online backup of a node's state (atdesk/store/backup.hpp).
//
// Consistency while atdeskd runs: the database is copied by sqlite3_backup_step(-1), which reads
// every page inside one read transaction, so the copy is one committed state of the store (WAL
// lets atdeskd keep writing meanwhile). The documents are copied after that snapshot: a job's
// original is on disk before its row is committed (Engine::submit), and a spool file is replaced
// only by rename, so every row of the snapshot finds its document unless the job was deleted or
// expired in between; then a new snapshot is taken (its row says so and needs no document).
#include <archive_entry.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "atdesk/core/ids.hpp"
#include "atdesk/store/backup.hpp"
#include "atdesk/store/blob_store.hpp"
#include "backup_archive.hpp"

namespace atdesk::store {
namespace fs = std::filesystem;
using json = nlohmann::json;

StatePaths StatePaths::under(const fs::path& state_dir) {
  return StatePaths{state_dir, state_dir / "atdesk.db", state_dir / "spool",
                    state_dir / "spool.key"};
}

namespace backup_detail {

std::string errno_text() {
  return std::strerror(errno);
}

Result<void> fsync_folder(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const auto why = errno_text();
    if (fd >= 0) ::close(fd);
    return fail(Errc::io, dir.string() + ": cannot fsync the folder: " + why);
  }
  ::close(fd);
  return {};
}

Result<void> write_private_file(const fs::path& file, std::string_view data) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return fail(Errc::io, file.string() + ": cannot create: " + errno_text());
  std::size_t done = 0;
  while (done < data.size()) {
    const auto w = ::write(fd, data.data() + done, data.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      const auto why = errno_text();
      ::close(fd);
      return fail(Errc::io, file.string() + ": write failed: " + why);
    }
    done += static_cast<std::size_t>(w);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) return fail(Errc::io, file.string() + ": fsync failed: " + errno_text());
  return {};
}

namespace {
void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
std::uint64_t get_u64(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
}  // namespace

std::string seal_key(const SecretKey& key, std::string_view passphrase) {
  unsigned char salt[crypto_pwhash_SALTBYTES];
  unsigned char nonce[crypto_secretbox_NONCEBYTES];
  randombytes_buf(salt, sizeof salt);
  randombytes_buf(nonce, sizeof nonce);
  // MODERATE: about a second and 256 MiB once per backup or restore, for a file kept off-site.
  const std::uint64_t ops = crypto_pwhash_OPSLIMIT_MODERATE;
  const std::uint64_t mem = crypto_pwhash_MEMLIMIT_MODERATE;
  unsigned char box_key[crypto_secretbox_KEYBYTES];
  if (crypto_pwhash(box_key, sizeof box_key, passphrase.data(), passphrase.size(), salt, ops, mem,
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return {};  // out of memory; the caller reports it
  }
  unsigned char boxed[crypto_secretbox_MACBYTES + sizeof(SecretKey)];
  crypto_secretbox_easy(boxed, key.data(), key.size(), nonce, box_key);
  sodium_memzero(box_key, sizeof box_key);
  std::string out(kSealedKeyMagic);
  out.append(reinterpret_cast<const char*>(salt), sizeof salt);
  put_u64(out, ops);
  put_u64(out, mem);
  out.append(reinterpret_cast<const char*>(nonce), sizeof nonce);
  out.append(reinterpret_cast<const char*>(boxed), sizeof boxed);
  return out;
}

Result<SecretKey> unseal_key(std::string_view sealed, std::string_view passphrase,
                             const std::string& where) {
  if (sealed.size() != kSealedKeySize || !sealed.starts_with(kSealedKeyMagic)) {
    return fail(Errc::corrupt, where + ": expected a sealed spool key of " +
                                   std::to_string(kSealedKeySize) + " bytes starting with " +
                                   std::string(kSealedKeyMagic) + ", got " +
                                   std::to_string(sealed.size()) + " bytes");
  }
  const auto* p = reinterpret_cast<const unsigned char*>(sealed.data()) + kSealedKeyMagic.size();
  const unsigned char* salt = p;
  p += crypto_pwhash_SALTBYTES;
  const std::uint64_t ops = get_u64(p);
  const std::uint64_t mem = get_u64(p + 8);
  p += 16;
  const unsigned char* nonce = p;
  p += crypto_secretbox_NONCEBYTES;
  if (ops < crypto_pwhash_OPSLIMIT_MIN || ops > crypto_pwhash_OPSLIMIT_SENSITIVE ||
      mem < crypto_pwhash_MEMLIMIT_MIN || mem > crypto_pwhash_MEMLIMIT_SENSITIVE) {
    return fail(Errc::corrupt, where + ": the key's passphrase hash parameters are out of range");
  }
  unsigned char box_key[crypto_secretbox_KEYBYTES];
  if (crypto_pwhash(box_key, sizeof box_key, passphrase.data(), passphrase.size(), salt, ops,
                    static_cast<std::size_t>(mem), crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return fail(Errc::internal,
                where + ": not enough memory to derive the key from the passphrase");
  }
  SecretKey key{};
  const int opened = crypto_secretbox_open_easy(
      key.data(), p, crypto_secretbox_MACBYTES + sizeof(SecretKey), nonce, box_key);
  sodium_memzero(box_key, sizeof box_key);
  if (opened != 0) {
    return fail(Errc::permission_denied,
                where +
                    ": the passphrase does not open the sealed spool key (wrong passphrase, "
                    "or the entry is damaged)");
  }
  return key;
}

}  // namespace backup_detail

namespace {
using namespace backup_detail;

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Db = std::unique_ptr<sqlite3, SqliteCloser>;

std::string now_utc() {
  const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

struct Snapshot {
  std::string bytes;  // the database file
  int schema_version = 0;
  std::vector<std::pair<std::string, std::string>> jobs;  // id, state
};

// The store as of one committed transaction, as the bytes of a database file.
Result<Snapshot> snapshot(const fs::path& database) {
  std::error_code ec;
  if (!fs::exists(database, ec)) {
    return fail(Errc::not_found, database.string() +
                                     ": no atdesk database here (expected the "
                                     "store of a node: check --state-dir)");
  }
  sqlite3* raw = nullptr;
  // Read-write without CREATE: WAL needs the -shm file, and a missing database is not created.
  int rc = sqlite3_open_v2(database.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
  Db source(raw);
  if (rc != SQLITE_OK) {
    return fail(Errc::io, database.string() + ": cannot open the database: " +
                              (raw ? sqlite3_errmsg(raw) : "out of memory"));
  }
  sqlite3_busy_timeout(raw, 10000);
  raw = nullptr;
  rc = sqlite3_open_v2(":memory:", &raw, SQLITE_OPEN_READWRITE, nullptr);
  Db copy(raw);
  if (rc != SQLITE_OK) return fail(Errc::internal, "cannot open an in-memory database");
  // An in-memory destination must have the source's page size, or the backup is refused.
  {
    sqlite3_stmt* st = nullptr;
    int page_size = 4096;
    if (sqlite3_prepare_v2(source.get(), "PRAGMA page_size", -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      page_size = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    const auto pragma = "PRAGMA page_size=" + std::to_string(page_size);
    sqlite3_exec(copy.get(), pragma.c_str(), nullptr, nullptr, nullptr);
  }
  // One step of -1 pages: the whole database inside one read transaction.
  for (int attempt = 0;; ++attempt) {
    sqlite3_backup* b = sqlite3_backup_init(copy.get(), "main", source.get(), "main");
    if (b == nullptr) {
      return fail(Errc::io,
                  database.string() + ": cannot start the backup: " + sqlite3_errmsg(copy.get()));
    }
    rc = sqlite3_backup_step(b, -1);
    sqlite3_backup_finish(b);
    if (rc == SQLITE_DONE) break;
    if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && attempt < 50) {
      ::usleep(100'000);  // a writer holds a lock SQLite's busy handler does not wait for
      continue;
    }
    const int primary = rc & 0xff;
    return fail(primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT ? Errc::corrupt : Errc::io,
                database.string() + ": the backup failed: " + sqlite3_errstr(rc));
  }
  Snapshot s;
  {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(copy.get(), "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                           -1, &st, nullptr) != SQLITE_OK) {
      sqlite3_finalize(st);
      return fail(Errc::corrupt,
                  database.string() + ": not an atdesk database (no schema_migrations table)");
    }
    if (sqlite3_step(st) == SQLITE_ROW) s.schema_version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(copy.get(), "SELECT id, state FROM jobs ORDER BY id", -1, &st,
                           nullptr) != SQLITE_OK) {
      sqlite3_finalize(st);
      return fail(Errc::corrupt, database.string() + ": not an atdesk database (no jobs table)");
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
      const auto* id = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      const auto* state = reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
      s.jobs.emplace_back(id ? id : "", state ? state : "");
    }
    sqlite3_finalize(st);
  }
  sqlite3_int64 size = 0;
  unsigned char* bytes = sqlite3_serialize(copy.get(), "main", &size, 0);
  if (bytes == nullptr) return fail(Errc::internal, "cannot serialise the database snapshot");
  s.bytes.assign(reinterpret_cast<const char*>(bytes), static_cast<std::size_t>(size));
  sqlite3_free(bytes);
  return s;
}

// One archive being written, with the manifest of what went in.
class Writer {
 public:
  Writer(int fd, fs::path file) : file_(std::move(file)) {
    a_.reset(archive_write_new());
    archive_write_set_format_pax_restricted(a_.get());
    archive_write_set_bytes_per_block(a_.get(), 10240);
    ok_ = archive_write_open_fd(a_.get(), fd) == ARCHIVE_OK;
  }
  bool ok() const { return ok_; }

  Result<void> add(std::string_view name, std::string_view data) {
    Sha256 digest;
    digest.update(data.data(), data.size());
    if (auto ok = header(name, data.size()); !ok) return ok;
    if (!data.empty() && archive_write_data(a_.get(), data.data(), data.size()) !=
                             static_cast<la_ssize_t>(data.size())) {
      return error(name);
    }
    files_.push_back({{"name", name}, {"size", data.size()}, {"sha256", digest.hex()}});
    return {};
  }

  // A spool file, copied from an open descriptor (the inode stays the same if it is replaced).
  Result<void> add_file(std::string_view name, int fd, const fs::path& source) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return fail(Errc::io, source.string() + ": cannot stat");
    const auto size = static_cast<std::size_t>(st.st_size);
    if (auto ok = header(name, size); !ok) return ok;
    Sha256 digest;
    std::vector<char> buf(64 * 1024);
    std::size_t done = 0;
    while (done < size) {
      const auto r = ::read(fd, buf.data(), std::min(buf.size(), size - done));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return fail(Errc::io, source.string() + ": read failed: " + errno_text());
      digest.update(buf.data(), static_cast<std::size_t>(r));
      if (archive_write_data(a_.get(), buf.data(), static_cast<std::size_t>(r)) != r) {
        return error(name);
      }
      done += static_cast<std::size_t>(r);
    }
    files_.push_back({{"name", name}, {"size", size}, {"sha256", digest.hex()}});
    return {};
  }

  Result<void> close() {
    if (archive_write_close(a_.get()) != ARCHIVE_OK) return error("the end of the archive");
    return {};
  }
  const json& files() const { return files_; }

 private:
  Result<void> header(std::string_view name, std::size_t size) {
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(),
                                                                    &archive_entry_free);
    archive_entry_set_pathname(e.get(), std::string(name).c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0600);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(size));
    archive_entry_set_mtime(e.get(), std::time(nullptr), 0);
    if (archive_write_header(a_.get(), e.get()) != ARCHIVE_OK) return error(name);
    return {};
  }
  std::unexpected<Error> error(std::string_view what) {
    const char* why = archive_error_string(a_.get());
    return fail(Errc::io, file_.string() + ": cannot write " + std::string(what) + ": " +
                              (why ? why : "unknown error"));
  }

  ArchiveWriter a_;
  fs::path file_;
  bool ok_ = false;
  json files_ = json::array();
};

bool keeps_documents(std::string_view state) {
  return state != "deleted" && state != "expired";
}

// One attempt: snapshot, documents, manifest into `fd`. `retry` is set when a document the
// snapshot needs was gone (deleted after the snapshot).
Result<BackupReport> write_once(const StatePaths& from, int fd, const fs::path& archive_file,
                                const std::string* sealed_key, bool last_attempt, bool& retry) {
  auto snap = snapshot(from.database);
  if (!snap) return fail(snap.error());
  Writer w(fd, archive_file);
  if (!w.ok()) return fail(Errc::io, archive_file.string() + ": cannot start the archive");
  BackupReport report;
  report.schema_version = snap->schema_version;
  report.jobs = snap->jobs.size();
  report.with_key = sealed_key != nullptr;
  const json header = {{"format", kFormatName},     {"version", kFormatVersion},
                       {"created_at", now_utc()},   {"schema_version", snap->schema_version},
                       {"jobs", snap->jobs.size()}, {"with_key", sealed_key != nullptr}};
  if (auto ok = w.add(kHeaderEntry, header.dump(2) + "\n"); !ok) return fail(ok.error());
  if (auto ok = w.add(kDatabaseEntry, snap->bytes); !ok) return fail(ok.error());
  snap->bytes.clear();
  snap->bytes.shrink_to_fit();
  if (sealed_key) {
    if (auto ok = w.add(kKeyEntry, *sealed_key); !ok) return fail(ok.error());
  }
  // The spool's key check (job 000...0) first: restore uses it to prove the key opens the spool.
  std::vector<std::pair<std::string, std::string>> jobs;
  jobs.emplace_back(std::string(JobId::kLength, '0'), "check");
  jobs.insert(jobs.end(), snap->jobs.begin(), snap->jobs.end());
  for (const auto& [id, state] : jobs) {
    if (id.size() < 2) continue;
    for (auto kind : {BlobKind::original, BlobKind::printable, BlobKind::preview}) {
      const std::string rel = id.substr(0, 2) + "/" + id + "." + std::string(to_string(kind));
      const auto file = from.spool_dir / rel;
      const int doc = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      if (doc < 0) {
        if (errno != ENOENT)
          return fail(Errc::io, file.string() + ": cannot open: " + errno_text());
        if (kind == BlobKind::original && state != "check" && keeps_documents(state)) {
          if (!last_attempt) {
            retry = true;
            return report;
          }
          report.missing.push_back(file.string() + " (job " + id + ", " + state + ")");
        }
        continue;
      }
      auto added = w.add_file(std::string(kSpoolPrefix) + rel, doc, file);
      ::close(doc);
      if (!added) return fail(added.error());
      ++report.documents;
    }
  }
  json missing = json::array();
  for (const auto& m : report.missing) missing.push_back(m);
  const json manifest = {{"format", kFormatName},
                         {"version", kFormatVersion},
                         {"schema_version", snap->schema_version},
                         {"jobs", snap->jobs.size()},
                         {"files", w.files()},
                         {"missing_in_spool", missing}};
  if (auto ok = w.add(kManifestEntry, manifest.dump(2) + "\n"); !ok) return fail(ok.error());
  if (auto ok = w.close(); !ok) return fail(ok.error());
  return report;
}

}  // namespace

Result<BackupReport> write_backup(const StatePaths& from, const fs::path& archive_file,
                                  bool with_key, const PassphraseFn& passphrase) {
  if (sodium_init() < 0) return fail(Errc::internal, "libsodium failed to initialise");
  std::optional<std::string> sealed;
  if (with_key) {
    std::error_code ec;
    if (!fs::exists(from.key_file, ec)) {
      return fail(Errc::not_found, from.key_file.string() + ": no spool key to back up");
    }
    auto key = load_or_create_key(from.key_file);
    if (!key) return fail(key.error());
    auto phrase = passphrase();
    if (!phrase) {
      sodium_memzero(key->data(), key->size());
      return fail(phrase.error());
    }
    if (phrase->size() < kMinPassphraseLength) {
      sodium_memzero(key->data(), key->size());
      return fail(Errc::invalid_argument, "the passphrase must have at least " +
                                              std::to_string(kMinPassphraseLength) + " characters");
    }
    sealed = seal_key(*key, *phrase);
    sodium_memzero(key->data(), key->size());
    sodium_memzero(phrase->data(), phrase->size());
    if (sealed->empty()) {
      return fail(Errc::internal, "not enough memory to derive a key from the passphrase");
    }
  }

  const auto dir = archive_file.has_parent_path() ? archive_file.parent_path() : fs::path(".");
  auto temp = archive_file;
  temp += ".tmp-" + std::to_string(::getpid());
  ::unlink(temp.c_str());
  constexpr int kAttempts = 5;
  for (int attempt = 1; attempt <= kAttempts; ++attempt) {
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return fail(Errc::io, temp.string() + ": cannot create: " + errno_text());
    bool retry = false;
    auto report = write_once(from, fd, archive_file, sealed ? &*sealed : nullptr,
                             attempt == kAttempts, retry);
    const bool synced = report && !retry && ::fsync(fd) == 0;
    const auto sync_error = errno_text();
    ::close(fd);
    if (!report || retry || !synced) ::unlink(temp.c_str());
    if (!report) return fail(report.error());
    if (retry) continue;
    if (!synced) return fail(Errc::io, temp.string() + ": fsync failed: " + sync_error);
    if (::rename(temp.c_str(), archive_file.c_str()) != 0) {
      const auto why = errno_text();
      ::unlink(temp.c_str());
      return fail(Errc::io, archive_file.string() + ": rename failed: " + why);
    }
    if (auto ok = fsync_folder(dir); !ok) return fail(ok.error());
    report->snapshots = attempt;
    return report;
  }
  return fail(Errc::internal, "unreachable");
}

}  // namespace atdesk::store
