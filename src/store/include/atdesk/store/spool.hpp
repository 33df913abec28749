// The encrypted spool: documents of jobs in a local folder, each file encrypted with libsodium's
// XChaCha20-Poly1305 secretstream under one key. put() is durable on return: temporary file,
// fsync, rename, fsync of the folder. The job id and blob kind are authenticated with the data,
// so a file renamed to another job's name fails to decrypt.
#pragma once

#include <array>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "atdesk/store/blob_store.hpp"

namespace atdesk::store {

using SecretKey = std::array<unsigned char, 32>;

// Loads a 32-byte key file, or creates one (mode 0600, fsync'd) when absent. A key file of the
// wrong size, or readable by group or others, is an error.
Result<SecretKey> load_or_create_key(const std::filesystem::path& file);

// A document sealed under `key` as the spool keeps it (magic, secretstream header, 64 KiB
// chunks; the job id and kind authenticated with every chunk). Other blob stores keep the same
// bytes, so a document moves between them without being opened.
std::vector<unsigned char> seal(const SecretKey& key, const JobId& job, BlobKind kind,
                                std::span<const std::byte> data);
// Opens what seal() made; Errc::corrupt naming the job and `where` (a file, a database row)
// when it is damaged, belongs to another job or kind, or was sealed with another key.
Result<Bytes> unseal(const SecretKey& key, const JobId& job, BlobKind kind,
                     std::span<const unsigned char> cipher, const std::string& where);

class EncryptedSpool final : public BlobStore {
 public:
  static Result<std::unique_ptr<EncryptedSpool>> open(const std::filesystem::path& dir,
                                                      const std::filesystem::path& key_file);
  EncryptedSpool(std::filesystem::path dir, const SecretKey& key);
  ~EncryptedSpool() override;

  Result<void> put(const JobId& job, BlobKind kind, std::span<const std::byte> data) override;
  Result<Bytes> get(const JobId& job, BlobKind kind) override;
  Result<bool> exists(const JobId& job, BlobKind kind) override;
  Result<void> remove(const JobId& job) override;

  // Removes temporary files a crash left behind; called by open(). Returns how many.
  std::size_t sweep_temporaries();
  std::filesystem::path path_of(const JobId& job, BlobKind kind) const;

 private:
  std::filesystem::path dir_;
  SecretKey key_{};
};

}  // namespace atdesk::store
