// Backup and restore of a node's state: the SQLite store (a snapshot by SQLite's online backup
// API, consistent while atdeskd writes), the spool documents of the backed-up jobs (copied after
// the snapshot, still sealed as they are on disk) and, only when asked, the spool key sealed with
// a passphrase (Argon2id + XSalsa20-Poly1305). One tar file (pax) with a manifest of every file's
// size and SHA-256, checked on restore. docs/architecture.md "Backup and restore".
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "atdesk/core/error.hpp"

namespace atdesk::store {

// Where a node keeps its state; `under(dir)` is atdeskd's layout for `[storage] state_dir`.
struct StatePaths {
  std::filesystem::path state_dir;
  std::filesystem::path database;
  std::filesystem::path spool_dir;
  std::filesystem::path key_file;
  static StatePaths under(const std::filesystem::path& state_dir);
};

// Asked for the passphrase only when it is needed (a backup with the key, a restore of one).
using PassphraseFn = std::function<Result<std::string>()>;

inline constexpr std::size_t kMinPassphraseLength = 8;

struct BackupReport {
  int schema_version = 0;
  std::size_t jobs = 0;
  std::size_t documents = 0;  // spool files in the archive, the key check included
  bool with_key = false;
  int snapshots = 0;  // > 1 when a job was deleted between a snapshot and its documents' copy
  // Documents the snapshot's rows refer to that the spool did not have (a damaged spool).
  std::vector<std::string> missing;
};

// Writes the archive to `archive` (a temporary name, fsync'd, renamed). With `with_key`, asks
// `passphrase` once and seals the spool key with it.
[[nodiscard]] Result<BackupReport> write_backup(const StatePaths& from,
                                                const std::filesystem::path& archive, bool with_key,
                                                const PassphraseFn& passphrase);

struct RestoreReport {
  int schema_version = 0;
  std::size_t jobs = 0;
  std::size_t documents = 0;
  bool with_key = false;
  std::optional<std::filesystem::path> previous;  // where --force moved the state it replaced
};

// Restores `archive` into `to`, which must not be in use (StateLock) and must hold no store or
// spool unless `replace` (then they are moved to `<state>/pre-restore-<time>/`). Every file is
// checked against the manifest before anything is moved into place. `passphrase` is asked only
// when the archive holds the key; without one, `to.key_file` must be the spool's key.
[[nodiscard]] Result<RestoreReport> restore_backup(const std::filesystem::path& archive,
                                                   const StatePaths& to, bool replace,
                                                   const PassphraseFn& passphrase);

}  // namespace atdesk::store
