// The BlobStore port: documents of jobs, encrypted at rest. put() returns only when the blob is
// durable (file fsync'd, renamed into place, folder fsync'd).
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "atdesk/core/error.hpp"
#include "atdesk/core/ids.hpp"

namespace atdesk::store {

enum class BlobKind { original, printable, preview };
std::string_view to_string(BlobKind k);  // "original" | "printable" | "preview"

using Bytes = std::vector<std::byte>;

class BlobStore {
 public:
  virtual ~BlobStore() = default;
  BlobStore() = default;
  BlobStore(const BlobStore&) = delete;
  BlobStore& operator=(const BlobStore&) = delete;

  [[nodiscard]] virtual Result<void> put(const JobId& job, BlobKind kind,
                                         std::span<const std::byte> data) = 0;
  // Errc::not_found when absent; Errc::corrupt (naming the job) when tampered or wrong key.
  [[nodiscard]] virtual Result<Bytes> get(const JobId& job, BlobKind kind) = 0;
  [[nodiscard]] virtual Result<bool> exists(const JobId& job, BlobKind kind) = 0;
  // Removes every blob of the job; absent blobs are not an error.
  [[nodiscard]] virtual Result<void> remove(const JobId& job) = 0;
};

}  // namespace atdesk::store
