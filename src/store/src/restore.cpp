// `atdesk restore`: a backup back into a stopped node's state folder (atdesk/store/backup.hpp).
// Everything is first written next to its final place under a temporary name and checked (every
// file against the manifest's size and SHA-256, the key against the spool's key check, the
// database's integrity and schema version); only then renamed into place.
#include <archive_entry.h>
#include <fcntl.h>
#include <sqlite3.h>
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
#include "atdesk/store/sqlite_store.hpp"
#include "atdesk/store/state_lock.hpp"
#include "backup_archive.hpp"

namespace atdesk::store {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {
using namespace backup_detail;

struct Seen {
  std::uint64_t size = 0;
  std::string sha256;
};

fs::path with_suffix(fs::path p, std::string_view suffix) {
  p += suffix;
  return p;
}

// The temporary files of a restore, removed unless they were moved into place.
struct Staging {
  fs::path database, spool, key;
  bool committed = false;
  void clear() const {
    std::error_code ec;
    for (const auto& p :
         {database, with_suffix(database, "-wal"), with_suffix(database, "-shm"), spool, key}) {
      fs::remove_all(p, ec);
    }
  }
  ~Staging() {
    if (!committed) clear();
  }
};

bool has_documents(const fs::path& spool) {
  std::error_code ec;
  if (!fs::is_directory(spool, ec)) return false;
  for (auto it = fs::recursive_directory_iterator(spool, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file()) return true;
  }
  return false;
}

// "spool/ab/<job id>.<kind>" with a valid job id in its own folder; the path under spool/.
std::optional<std::string> spool_entry(std::string_view name) {
  if (!name.starts_with(kSpoolPrefix)) return std::nullopt;
  const auto rel = name.substr(kSpoolPrefix.size());
  const auto slash = rel.find('/');
  const auto dot = rel.rfind('.');
  if (slash != 2 || dot == std::string_view::npos || dot < slash) return std::nullopt;
  const auto id = rel.substr(slash + 1, dot - slash - 1);
  const auto kind = rel.substr(dot + 1);
  if (!JobId::parse(id) || id.substr(0, 2) != rel.substr(0, 2)) return std::nullopt;
  if (kind != "original" && kind != "printable" && kind != "preview") return std::nullopt;
  return std::string(rel);
}

class Reader {
 public:
  explicit Reader(fs::path file) : file_(std::move(file)) {
    a_.reset(archive_read_new());
    archive_read_support_format_tar(a_.get());
  }
  Result<void> open() {
    std::error_code ec;
    if (!fs::is_regular_file(file_, ec)) {
      return fail(Errc::not_found, file_.string() + ": no such backup file");
    }
    if (archive_read_open_filename(a_.get(), file_.c_str(), 64 * 1024) != ARCHIVE_OK) {
      return damaged("its start");
    }
    return {};
  }
  // The next entry's name; nullopt at the end of the archive.
  Result<std::optional<std::string>> next() {
    archive_entry* e = nullptr;
    const int rc = archive_read_next_header(a_.get(), &e);
    if (rc == ARCHIVE_EOF) return std::nullopt;
    if (rc != ARCHIVE_OK)
      return damaged("the entry after " + (last_.empty() ? "its start" : last_));
    if (archive_entry_filetype(e) != AE_IFREG) {
      return fail(Errc::corrupt, file_.string() + ": " + archive_entry_pathname(e) +
                                     ": expected a regular file in an atdesk backup");
    }
    last_ = archive_entry_pathname(e);
    size_ = static_cast<std::uint64_t>(archive_entry_size(e));
    return last_;
  }
  // The current entry's data, passed to `sink` in blocks; its size and digest.
  template <class Sink>
  Result<Seen> read(Sink&& sink) {
    Seen seen;
    Sha256 digest;
    std::vector<char> buf(64 * 1024);
    for (;;) {
      const auto n = archive_read_data(a_.get(), buf.data(), buf.size());
      if (n == 0) break;
      if (n < 0) return damaged(last_);
      digest.update(buf.data(), static_cast<std::size_t>(n));
      seen.size += static_cast<std::uint64_t>(n);
      if (auto ok = sink(std::string_view(buf.data(), static_cast<std::size_t>(n))); !ok) {
        return fail(ok.error());
      }
    }
    if (seen.size != size_) return damaged(last_);
    seen.sha256 = digest.hex();
    return seen;
  }
  Result<std::pair<std::string, Seen>> read_all(std::size_t limit) {
    std::string out;
    auto seen = read([&](std::string_view block) -> Result<void> {
      if (out.size() + block.size() > limit) {
        return fail(Errc::corrupt, file_.string() + ": " + last_ + ": larger than expected (" +
                                       std::to_string(limit) + " bytes at most)");
      }
      out.append(block);
      return {};
    });
    if (!seen) return fail(seen.error());
    return std::pair{std::move(out), *seen};
  }
  Result<Seen> extract(const fs::path& to) {
    const int fd = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return fail(Errc::io, to.string() + ": cannot create: " + errno_text());
    auto seen = read([&](std::string_view block) -> Result<void> {
      std::size_t done = 0;
      while (done < block.size()) {
        const auto w = ::write(fd, block.data() + done, block.size() - done);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return fail(Errc::io, to.string() + ": write failed: " + errno_text());
        done += static_cast<std::size_t>(w);
      }
      return {};
    });
    const bool synced = ::fsync(fd) == 0;
    ::close(fd);
    if (!seen) return seen;
    if (!synced) return fail(Errc::io, to.string() + ": fsync failed: " + errno_text());
    return seen;
  }
  const fs::path& file() const { return file_; }

 private:
  std::unexpected<Error> damaged(const std::string& where) {
    const char* why = archive_error_string(a_.get());
    return fail(Errc::corrupt, file_.string() + ": the archive is damaged or truncated at " +
                                   where + " (" + (why ? why : "unexpected end of data") + ")");
  }
  ArchiveReader a_;
  fs::path file_;
  std::string last_;
  std::uint64_t size_ = 0;
};

// The staged database opens, passes integrity_check, and is not newer than this build.
Result<int> check_database(const fs::path& file, const fs::path& archive) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(file.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
  std::unique_ptr<sqlite3, decltype(&sqlite3_close)> db(raw, &sqlite3_close);
  const std::string where = archive.string() + ": " + std::string(kDatabaseEntry);
  if (rc != SQLITE_OK) return fail(Errc::corrupt, where + ": not a database");
  auto scalar = [&](const char* sql) -> std::optional<std::string> {
    sqlite3_stmt* st = nullptr;
    std::optional<std::string> out;
    if (sqlite3_prepare_v2(db.get(), sql, -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      out = t ? t : "";
    }
    sqlite3_finalize(st);
    return out;
  };
  const auto integrity = scalar("PRAGMA integrity_check");
  if (integrity != "ok") {
    return fail(Errc::corrupt, where + ": integrity check failed: " + integrity.value_or("?"));
  }
  const auto version = scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!version) return fail(Errc::corrupt, where + ": not an atdesk database (no schema version)");
  const int v = std::stoi(*version);
  if (v > SqliteStore::highest_schema_version()) {
    return fail(Errc::unsupported, where + ": the store has schema version " + std::to_string(v) +
                                       ", newer than the highest this atdesk knows (" +
                                       std::to_string(SqliteStore::highest_schema_version()) +
                                       "); upgrade atdesk");
  }
  return v;
}

std::string stamp() {
  const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

Result<void> move(const fs::path& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return fail(Errc::io,
                "cannot move " + from.string() + " to " + to.string() + ": " + errno_text());
  }
  return {};
}

}  // namespace

Result<RestoreReport> restore_backup(const fs::path& archive_file, const StatePaths& to,
                                     bool replace, const PassphraseFn& passphrase) {
  if (sodium_init() < 0) return fail(Errc::internal, "libsodium failed to initialise");
  std::error_code ec;
  const bool state_existed = fs::exists(to.state_dir, ec);
  auto lock = StateLock::acquire(to.state_dir, "atdesk restore");
  if (!lock) return fail(lock.error());
  if (!state_existed) {
    fs::permissions(to.state_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  }
  const bool in_use = fs::exists(to.database, ec) || fs::exists(with_suffix(to.database, "-wal")) ||
                      has_documents(to.spool_dir);
  if (in_use && !replace) {
    return fail(Errc::conflict, to.state_dir.string() + ": already holds a store (" +
                                    to.database.string() + " or documents in " +
                                    to.spool_dir.string() +
                                    "); restore into an empty state folder, or use --force to "
                                    "move the current state aside first");
  }

  Reader reader(archive_file);
  if (auto ok = reader.open(); !ok) return fail(ok.error());
  const std::string where = archive_file.string();
  Staging staging{with_suffix(to.database, ".restore-tmp"),
                  with_suffix(to.spool_dir, ".restore-tmp"),
                  with_suffix(to.key_file, ".restore-tmp")};
  staging.clear();  // leftovers of an interrupted restore
  for (const auto& dir :
       {to.database.parent_path(), to.spool_dir.parent_path(), to.key_file.parent_path()}) {
    if (!dir.empty()) fs::create_directories(dir, ec);
  }
  fs::create_directory(staging.spool, ec);
  if (ec) return fail(Errc::io, staging.spool.string() + ": cannot create: " + ec.message());
  fs::permissions(staging.spool, fs::perms::owner_all, fs::perm_options::replace, ec);

  RestoreReport report;
  std::map<std::string, Seen> seen;
  std::optional<json> manifest;
  std::optional<SecretKey> key;
  bool key_differs = false;
  bool first = true;
  for (;;) {
    auto name = reader.next();
    if (!name) return fail(name.error());
    if (!*name) break;
    const std::string entry = **name;
    if (manifest) {
      return fail(Errc::corrupt, where + ": " + entry + ": unexpected entry after the manifest");
    }
    if (first != (entry == kHeaderEntry)) {
      return fail(Errc::corrupt, where + ": not an atdesk backup (expected " +
                                     std::string(kHeaderEntry) + " as the first entry, got " +
                                     entry + ")");
    }
    if (seen.contains(entry)) return fail(Errc::corrupt, where + ": " + entry + ": twice");
    Result<Seen> got = fail(Errc::internal, "");
    if (entry == kHeaderEntry) {
      first = false;
      auto text = reader.read_all(64 * 1024);
      if (!text) return fail(text.error());
      auto h = json::parse(text->first, nullptr, false);
      if (!h.is_object() || h.value("format", "") != kFormatName) {
        return fail(Errc::corrupt, where + ": " + entry + ": expected an atdesk backup header");
      }
      if (h.value("version", 0) != kFormatVersion) {
        return fail(Errc::unsupported,
                    where + ": backup format version " + std::to_string(h.value("version", 0)) +
                        ", this atdesk reads version " + std::to_string(kFormatVersion));
      }
      report.with_key = h.value("with_key", false);
      report.jobs = h.value("jobs", std::size_t{0});
      report.schema_version = h.value("schema_version", 0);
      if (report.schema_version > SqliteStore::highest_schema_version()) {
        return fail(Errc::unsupported, where + ": the backup's store has schema version " +
                                           std::to_string(report.schema_version) +
                                           ", newer than the highest this atdesk knows (" +
                                           std::to_string(SqliteStore::highest_schema_version()) +
                                           "); restore it with a newer atdesk");
      }
      if (!report.with_key && !fs::exists(to.key_file, ec)) {
        return fail(Errc::not_found,
                    where + ": the backup has no spool key (it was made without --with-key) and " +
                        to.key_file.string() +
                        " does not exist: copy the node's spool key there first, or restore a "
                        "backup made with --with-key");
      }
      got = text->second;
    } else if (entry == kDatabaseEntry) {
      got = reader.extract(staging.database);
    } else if (entry == kKeyEntry) {
      if (!report.with_key) return fail(Errc::corrupt, where + ": " + entry + ": not announced");
      auto sealed = reader.read_all(kSealedKeySize);
      if (!sealed) return fail(sealed.error());
      auto phrase = passphrase();
      if (!phrase) return fail(phrase.error());
      auto unsealed = unseal_key(sealed->first, *phrase, where + ": " + entry);
      sodium_memzero(phrase->data(), phrase->size());
      if (!unsealed) return fail(unsealed.error());
      key = *unsealed;
      sodium_memzero(unsealed->data(), unsealed->size());
      const std::string_view key_bytes(reinterpret_cast<const char*>(key->data()), key->size());
      auto written = write_private_file(staging.key, key_bytes);
      if (!written) return fail(written.error());
      if (fs::exists(to.key_file, ec)) {
        auto current = load_or_create_key(to.key_file);
        key_differs = !current || *current != *key;
        if (current) sodium_memzero(current->data(), current->size());
      }
      sodium_memzero(key->data(), key->size());
      got = sealed->second;
    } else if (entry == kManifestEntry) {
      auto text = reader.read_all(256 * 1024 * 1024);
      if (!text) return fail(text.error());
      manifest = json::parse(text->first, nullptr, false);
      if (!manifest->is_object() || !(*manifest)["files"].is_array()) {
        return fail(Errc::corrupt, where + ": " + entry + ": expected a JSON object with files");
      }
      continue;  // the manifest does not list itself
    } else if (auto rel = spool_entry(entry)) {
      const auto target = staging.spool / *rel;
      fs::create_directories(target.parent_path(), ec);
      if (ec) {
        return fail(Errc::io, target.parent_path().string() + ": cannot create: " + ec.message());
      }
      got = reader.extract(target);
      ++report.documents;
    } else {
      return fail(Errc::corrupt, where + ": " + entry + ": not an entry of an atdesk backup");
    }
    if (!got) return fail(got.error());
    seen.emplace(entry, *got);
  }
  if (first) return fail(Errc::corrupt, where + ": empty archive, not an atdesk backup");
  if (!manifest) {
    return fail(Errc::corrupt, where + ": the archive ends before its manifest (" +
                                   std::string(kManifestEntry) +
                                   "): the file is truncated or was not completely written");
  }

  // Every file against the manifest: present, same size, same SHA-256; nothing unlisted.
  std::map<std::string, Seen> listed;
  for (const auto& f : (*manifest)["files"]) {
    if (!f.is_object() || !f["name"].is_string() || !f["size"].is_number_unsigned() ||
        !f["sha256"].is_string()) {
      return fail(Errc::corrupt, where + ": manifest: expected entries with name, size, sha256");
    }
    listed[f["name"].get<std::string>()] =
        Seen{f["size"].get<std::uint64_t>(), f["sha256"].get<std::string>()};
  }
  for (const auto& [name, expected] : listed) {
    const auto it = seen.find(name);
    if (it == seen.end()) {
      return fail(Errc::corrupt,
                  where + ": " + name + ": missing from the archive (the manifest lists it with " +
                      std::to_string(expected.size) + " bytes, sha256 " + expected.sha256 + ")");
    }
    if (it->second.size != expected.size || it->second.sha256 != expected.sha256) {
      return fail(Errc::corrupt,
                  where + ": " + name + ": expected " + std::to_string(expected.size) +
                      " bytes with sha256 " + expected.sha256 + " (manifest), got " +
                      std::to_string(it->second.size) + " bytes with sha256 " + it->second.sha256);
    }
  }
  for (const auto& [name, got] : seen) {
    if (!listed.contains(name)) {
      return fail(Errc::corrupt, where + ": " + name + ": in the archive but not in its manifest");
    }
  }
  if (!seen.contains(std::string(kDatabaseEntry))) {
    return fail(Errc::corrupt, where + ": no " + std::string(kDatabaseEntry) + " in the archive");
  }
  if (report.with_key && !key) {
    return fail(Errc::corrupt, where + ": the header announces the spool key, but there is no " +
                                   std::string(kKeyEntry));
  }
  if (key_differs && !replace) {
    return fail(Errc::conflict, to.key_file.string() +
                                    ": holds another spool key than the backup's; use --force to "
                                    "move it aside");
  }

  auto version = check_database(staging.database, archive_file);
  if (!version) return fail(version.error());
  report.schema_version = *version;
  // The key opens the restored spool: its key check decrypts.
  {
    auto spool = EncryptedSpool::open(staging.spool, report.with_key ? staging.key : to.key_file);
    if (!spool) {
      return fail(spool.error().code,
                  where + ": the restored spool does not open: " + spool.error().message);
    }
  }

  // Into place. With --force, what was there goes to <state>/pre-restore-<time>/ first.
  std::vector<std::pair<fs::path, std::string>> current = {
      {to.database, "atdesk.db"},
      {with_suffix(to.database, "-wal"), "atdesk.db-wal"},
      {with_suffix(to.database, "-shm"), "atdesk.db-shm"},
      {to.spool_dir, "spool"}};
  if (report.with_key) current.emplace_back(to.key_file, "spool.key");
  bool any = false;
  for (const auto& [path, name] : current) any = any || fs::exists(path, ec);
  if (any) {
    const auto previous = to.state_dir / ("pre-restore-" + stamp());
    fs::create_directory(previous, ec);
    if (ec) return fail(Errc::io, previous.string() + ": cannot create: " + ec.message());
    fs::permissions(previous, fs::perms::owner_all, fs::perm_options::replace, ec);
    for (const auto& [path, name] : current) {
      if (!fs::exists(path, ec)) continue;
      if (auto ok = move(path, previous / name); !ok) return fail(ok.error());
    }
    report.previous = previous;
  }
  if (auto ok = move(staging.database, to.database); !ok) return fail(ok.error());
  if (auto ok = move(staging.spool, to.spool_dir); !ok) return fail(ok.error());
  if (report.with_key) {
    if (auto ok = move(staging.key, to.key_file); !ok) return fail(ok.error());
  }
  staging.committed = true;
  staging.clear();  // the database's -wal/-shm of the check, if SQLite left them
  for (const auto& dir : {to.database.parent_path(), to.spool_dir.parent_path(),
                          to.key_file.parent_path(), to.state_dir}) {
    if (dir.empty()) continue;
    if (auto ok = fsync_folder(dir); !ok) return fail(ok.error());
  }
  return report;
}

}  // namespace atdesk::store
