// What backup.cpp and restore.cpp share: the archive's entry names, RAII for libarchive handles,
// SHA-256 of streams, the sealed key's format, and small file helpers.
#pragma once

#include <archive.h>
#include <sodium.h>

#include <array>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "atdesk/core/error.hpp"
#include "atdesk/store/spool.hpp"

namespace atdesk::store::backup_detail {

// Entry names, in the order they are written: the header, the database, the sealed key (only
// with --with-key), the documents (spool/<2>/<job id>.<kind>, as in the spool), the manifest.
inline constexpr std::string_view kHeaderEntry = "atdesk-backup.json";
inline constexpr std::string_view kDatabaseEntry = "atdesk.db";
inline constexpr std::string_view kKeyEntry = "spool.key.sealed";
inline constexpr std::string_view kSpoolPrefix = "spool/";
inline constexpr std::string_view kManifestEntry = "manifest.json";
inline constexpr std::string_view kFormatName = "atdesk-backup";
inline constexpr int kFormatVersion = 1;

struct ArchiveReadCloser {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct ArchiveWriteCloser {
  void operator()(archive* a) const { archive_write_free(a); }
};
using ArchiveReader = std::unique_ptr<archive, ArchiveReadCloser>;
using ArchiveWriter = std::unique_ptr<archive, ArchiveWriteCloser>;

// SHA-256 of a stream of bytes, as lower-case hex.
class Sha256 {
 public:
  Sha256() { crypto_hash_sha256_init(&state_); }
  void update(const void* data, std::size_t n) {
    crypto_hash_sha256_update(&state_, static_cast<const unsigned char*>(data), n);
  }
  std::string hex() {
    unsigned char out[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&state_, out);
    char text[crypto_hash_sha256_BYTES * 2 + 1];
    sodium_bin2hex(text, sizeof text, out, sizeof out);
    return text;
  }

 private:
  crypto_hash_sha256_state state_{};
};

// The spool key sealed with a passphrase: "ATDKEY01", salt, opslimit and memlimit (u64 LE) of
// crypto_pwhash (Argon2id), the secretbox nonce, then the key sealed by crypto_secretbox_easy.
// The cost parameters travel with the file, so a later atdesk with other defaults still opens it.
inline constexpr std::string_view kSealedKeyMagic = "ATDKEY01";
inline constexpr std::size_t kSealedKeySize = kSealedKeyMagic.size() + crypto_pwhash_SALTBYTES + 8 +
                                              8 + crypto_secretbox_NONCEBYTES +
                                              crypto_secretbox_MACBYTES + sizeof(SecretKey);

std::string seal_key(const SecretKey& key, std::string_view passphrase);
// Errc::permission_denied for a wrong passphrase; Errc::corrupt for a malformed entry.
Result<SecretKey> unseal_key(std::string_view sealed, std::string_view passphrase,
                             const std::string& where);

// Writes `data` to `file` (0600, exclusive), fsync'd.
Result<void> write_private_file(const std::filesystem::path& file, std::string_view data);
Result<void> fsync_folder(const std::filesystem::path& dir);
std::string errno_text();

}  // namespace atdesk::store::backup_detail
