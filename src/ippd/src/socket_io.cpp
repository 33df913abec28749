#include "socket_io.hpp"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace atdesk::ippd::detail {

Fd::~Fd() {
  if (fd >= 0) ::close(fd);
}

Result<void> set_timeouts(int fd, int timeout_ms) {
  timeval tv{};
  tv.tv_sec = timeout_ms / 1000;
  tv.tv_usec = (timeout_ms % 1000) * 1000;
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
    return fail(Errc::io,
                std::string("hand-off socket: cannot set timeouts: ") + std::strerror(errno));
  }
  return {};
}

Result<void> read_exact(int fd, void* buf, std::size_t n, const std::string& what) {
  auto* p = static_cast<char*>(buf);
  std::size_t got = 0;
  while (got < n) {
    const auto r = ::recv(fd, p + got, n - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return fail(Errc::timeout, "hand-off socket: timed out reading " + what);
    }
    if (r < 0) {
      return fail(Errc::io, "hand-off socket: reading " + what + ": " + std::strerror(errno));
    }
    if (r == 0) {
      return fail(Errc::io, "hand-off socket: the peer closed the connection in " + what + " (" +
                                std::to_string(got) + " of " + std::to_string(n) + " bytes)");
    }
    got += static_cast<std::size_t>(r);
  }
  return {};
}

Result<void> write_all(int fd, const void* buf, std::size_t n, const std::string& what) {
  const auto* p = static_cast<const char*>(buf);
  std::size_t sent = 0;
  while (sent < n) {
    const auto r = ::send(fd, p + sent, n - sent, MSG_NOSIGNAL);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return fail(Errc::timeout, "hand-off socket: timed out writing " + what);
    }
    if (r < 0) {
      return fail(Errc::io, "hand-off socket: writing " + what + ": " + std::strerror(errno));
    }
    sent += static_cast<std::size_t>(r);
  }
  return {};
}

}  // namespace atdesk::ippd::detail
