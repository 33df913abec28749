// A loopback TCP proxy whose connections the test can cut at once, as a network outage does:
// both sides see the connection end without an XMPP goodbye, and the server keeps the session
// for resumption (XEP-0198) when it offers that. Listens on 127.0.0.1 only.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace atdesk::chat::xmpp::test {

class CutProxy {
 public:
  explicit CutProxy(int target_port) : target_port_(target_port) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(listener_, 8);
    socklen_t len = sizeof addr;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~CutProxy() {
    stop_ = true;
    thread_.join();
    cut();
    ::close(listener_);
  }
  CutProxy(const CutProxy&) = delete;
  CutProxy& operator=(const CutProxy&) = delete;

  int port() const { return port_; }

  // Closes every proxied connection on both sides (with a reset, like a dead link).
  void cut() {
    std::lock_guard lock(mutex_);
    for (auto [a, b] : pairs_) {
      linger hard{1, 0};
      ::setsockopt(a, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
      ::setsockopt(b, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
      ::close(a);
      ::close(b);
    }
    pairs_.clear();
  }

 private:
  void run() {
    char buf[16384];
    while (!stop_) {
      std::vector<pollfd> fds{{listener_, POLLIN, 0}};
      {
        std::lock_guard lock(mutex_);
        for (auto [a, b] : pairs_) {
          fds.push_back({a, POLLIN, 0});
          fds.push_back({b, POLLIN, 0});
        }
      }
      if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
      std::lock_guard lock(mutex_);
      if (fds[0].revents & POLLIN) {
        const int client = ::accept(listener_, nullptr, nullptr);
        const int server = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(static_cast<std::uint16_t>(target_port_));
        if (client >= 0 &&
            ::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
          pairs_.emplace_back(client, server);
        } else {
          if (client >= 0) ::close(client);
          ::close(server);
        }
      }
      for (std::size_t i = 1; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        const int from = fds[i].fd;
        const auto it = std::find_if(pairs_.begin(), pairs_.end(), [&](const auto& p) {
          return p.first == from || p.second == from;
        });
        if (it == pairs_.end()) continue;  // cut meanwhile
        const int to = it->first == from ? it->second : it->first;
        const auto n = ::read(from, buf, sizeof buf);
        if (n <= 0 || ::write(to, buf, static_cast<std::size_t>(n)) != n) {
          ::close(it->first);
          ::close(it->second);
          pairs_.erase(it);
        }
      }
    }
  }

  int target_port_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<std::pair<int, int>> pairs_;
  std::thread thread_;
};

}  // namespace atdesk::chat::xmpp::test
