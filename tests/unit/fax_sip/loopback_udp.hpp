// A UDP socket bound to a free port on 127.0.0.1, for the tests that play a SIP peer or need a
// port that was free a moment ago.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace atdesk::fax_sip::udp_test {

struct LoopbackUdp {
  int fd = -1;
  int port = 0;
};

inline LoopbackUdp bind_loopback_udp() {
  LoopbackUdp out;
  out.fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(out.fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(out.fd, reinterpret_cast<sockaddr*>(&a), &len);
  out.port = ntohs(a.sin_port);
  return out;
}

// A port that was free a moment ago (its socket is closed again).
inline int free_udp_port() {
  const auto s = bind_loopback_udp();
  ::close(s.fd);
  return s.port;
}

}  // namespace atdesk::fax_sip::udp_test
