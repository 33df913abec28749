#include "atdesk/store/state_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace atdesk::store {

std::filesystem::path StateLock::file_of(const std::filesystem::path& state_dir) {
  return state_dir / "atdeskd.lock";
}

Result<StateLock> StateLock::acquire(const std::filesystem::path& state_dir,
                                     std::string_view holder) {
  const auto file = file_of(state_dir);
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return fail(Errc::io, file.string() + ": cannot open the lock file: " + std::strerror(errno));
  }
  StateLock lock(fd);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) {
      return fail(Errc::io, file.string() + ": cannot lock: " + std::strerror(errno));
    }
    // The holder wrote "<pid> <holder>" once it had the lock.
    char buf[128] = {};
    const auto n = ::pread(fd, buf, sizeof buf - 1, 0);
    std::string who = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "another process";
    while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
    return fail(Errc::conflict, file.string() + ": the state folder " + state_dir.string() +
                                    " is in use (held by pid " + who +
                                    "); stop atdeskd on it first");
  }
  const std::string text = std::to_string(::getpid()) + " " + std::string(holder) + "\n";
  // The text is informational only (the lock is the flock): a failed write is not an error.
  if (::ftruncate(fd, 0) == 0) {
    (void)!::pwrite(fd, text.data(), text.size(), 0);
  }
  return lock;
}

StateLock::StateLock(StateLock&& other) noexcept : fd_(other.fd_) {
  other.fd_ = -1;
}

StateLock& StateLock::operator=(StateLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

StateLock::~StateLock() {
  // Closing the descriptor releases the flock. The file stays: unlinking it would let a second
  // process lock a new inode while a third still holds the old one.
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace atdesk::store
