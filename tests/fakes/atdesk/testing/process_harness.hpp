// Helpers for the suites that drive real processes (atdeskd, ippeveprinter, Prosody, the Graph
// stand-in): a free loopback port, a shell command, a condition waited for with a deadline, and
// libcurl's write callback into a std::string.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

namespace atdesk::testing {

// A TCP port on 127.0.0.1 that nothing listens on right now (the kernel's choice).
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A port on 127.0.0.1 free for both UDP and TCP right now (a SIP user agent takes both); 0 when
// none was found in 50 tries.
inline int free_sip_port() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    const int u = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(u, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::getsockname(u, reinterpret_cast<sockaddr*>(&a), &len);
    const int t = ::socket(AF_INET, SOCK_STREAM, 0);
    const bool tcp_ok = ::bind(t, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(t);
    ::close(u);
    if (tcp_ok) return ntohs(a.sin_port);
  }
  return 0;
}

// Runs a shell command; its exit status (0 = success).
inline int run(const std::string& cmd) {
  return std::system(cmd.c_str());
}

// Waits until `pred` holds or `timeout` passes, looking every `step`; whether it held.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(20),
                std::chrono::milliseconds step = std::chrono::milliseconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(step);
  }
  return pred();
}

// CURLOPT_WRITEFUNCTION appending to the std::string given as CURLOPT_WRITEDATA.
inline std::size_t curl_collect(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

}  // namespace atdesk::testing
