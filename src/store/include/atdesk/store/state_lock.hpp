// The lock of a state folder: atdeskd holds it while it runs, `atdesk restore` while it replaces
// the store, so neither runs under the other. An advisory flock(2) on `<state>/atdeskd.lock`,
// released by the kernel when the holder exits, even by SIGKILL; the file names the holder.
#pragma once

#include <filesystem>
#include <string_view>

#include "atdesk/core/error.hpp"

namespace atdesk::store {

class StateLock {
 public:
  // Takes the lock of `state_dir` for `holder` ("atdeskd", "atdesk restore"). When another process
  // holds it: Errc::conflict naming the lock file, the holder and its pid.
  [[nodiscard]] static Result<StateLock> acquire(const std::filesystem::path& state_dir,
                                                 std::string_view holder);
  static std::filesystem::path file_of(const std::filesystem::path& state_dir);

  StateLock(StateLock&& other) noexcept;
  StateLock& operator=(StateLock&& other) noexcept;
  StateLock(const StateLock&) = delete;
  StateLock& operator=(const StateLock&) = delete;
  ~StateLock();

 private:
  explicit StateLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace atdesk::store
