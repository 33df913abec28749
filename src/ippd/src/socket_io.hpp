// Blocking reads and writes of whole buffers on a socket whose SO_RCVTIMEO/SO_SNDTIMEO bound
// each call; errors name the peer and what was being read.
#pragma once

#include <cstddef>
#include <string>
#include <utility>

#include "atdesk/core/error.hpp"

namespace atdesk::ippd::detail {

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd();
  Fd(Fd&& other) noexcept : fd(std::exchange(other.fd, -1)) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd& operator=(Fd&&) = delete;
};

Result<void> set_timeouts(int fd, int timeout_ms);
// Fails with Errc::io on end of stream before n bytes, Errc::timeout when the peer is silent.
Result<void> read_exact(int fd, void* buf, std::size_t n, const std::string& what);
Result<void> write_all(int fd, const void* buf, std::size_t n, const std::string& what);

}  // namespace atdesk::ippd::detail
