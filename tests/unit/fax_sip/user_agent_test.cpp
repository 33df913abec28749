// The SIP socket's receive buffer: asked for through sofia-sip's TPTAG_UDP_RMEM and granted by
// the kernel (socket(7): SO_RCVBUF doubles the value and is capped at net.core.rmem_max;
// SO_RCVBUFFORCE, for CAP_NET_ADMIN, is not).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "loopback_udp.hpp"
#include "user_agent.hpp"

namespace atdesk::fax_sip {
namespace {

using udp_test::free_udp_port;

// SO_RCVBUF of this process's UDP socket bound to `port`, found among its descriptors.
std::optional<int> receive_buffer_of(int port) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    int fd = -1;
    try {
      fd = std::stoi(entry.path().filename().string());
    } catch (...) {
      continue;
    }
    int type = 0;
    socklen_t len = sizeof type;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_DGRAM) continue;
    sockaddr_storage a{};
    len = sizeof a;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0 || a.ss_family != AF_INET) {
      continue;
    }
    if (ntohs(reinterpret_cast<sockaddr_in*>(&a)->sin_port) != port) continue;
    int size = 0;
    len = sizeof size;
    if (::getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, &len) != 0) continue;
    return size;
  }
  return std::nullopt;
}

long long proc_number(const char* path) {
  std::ifstream f(path);
  long long n = 0;
  f >> n;
  return n;
}

TEST(UserAgentTest, TheSipSocketGetsTheReceiveBufferAskedForOrAllTheKernelGrants) {
  const int port = free_udp_port();
  UserAgent::Settings settings{"sip:127.0.0.1:" + std::to_string(port) + ";transport=udp"};
  settings.udp_receive_buffer = 4U << 20U;
  auto ua = UserAgent::start(settings, [](const NuaEvent&) {});
  ASSERT_TRUE(ua) << ua.error().message;
  const auto granted = receive_buffer_of(port);
  ASSERT_TRUE(granted) << "no UDP socket of this process on port " << port;
  const long long rmem_max = proc_number("/proc/sys/net/core/rmem_max");
  const long long rmem_default = proc_number("/proc/sys/net/core/rmem_default");
  // The kernel reports twice what it reserves for the data (socket(7)).
  if (::geteuid() == 0) {
    EXPECT_EQ(*granted, 2LL * (4 << 20)) << "forced past rmem_max (" << rmem_max << ")";
  } else {
    EXPECT_EQ(*granted, 2 * std::min<long long>(4 << 20, rmem_max));
  }
  if (::geteuid() == 0 || rmem_max > rmem_default / 2) {
    EXPECT_GT(*granted, rmem_default) << "the kernel's default buffer, not the one asked for";
  }
}

TEST(UserAgentTest, ZeroLeavesTheKernelsDefault) {
  const int port = free_udp_port();
  UserAgent::Settings settings{"sip:127.0.0.1:" + std::to_string(port) + ";transport=udp"};
  settings.udp_receive_buffer = 0;
  auto ua = UserAgent::start(settings, [](const NuaEvent&) {});
  ASSERT_TRUE(ua) << ua.error().message;
  const auto granted = receive_buffer_of(port);
  ASSERT_TRUE(granted);
  // Untouched, the buffer is rmem_default as it is (only a value set is reported doubled).
  EXPECT_EQ(*granted, proc_number("/proc/sys/net/core/rmem_default"));
}

}  // namespace
}  // namespace atdesk::fax_sip
