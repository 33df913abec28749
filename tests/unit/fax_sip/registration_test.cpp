// SipFaxReceiver::set_registering (several nodes, one account: only the lease holder registers)
// against a registrar scripted by RFC 3261 §10.3: a REGISTER is answered 200 with the binding in
// Contact and its expiry; an un-REGISTER is a REGISTER whose Contact has expires=0 or whose
// Expires header is 0 (§10.2.2). The registrar does not challenge (digest is in sip_trunk).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "atdesk/fax_sip/receiver.hpp"
#include "atdesk/testing/process_harness.hpp"
#include "loopback_udp.hpp"

namespace atdesk::fax_sip {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The value of header `name` in a SIP message ("" when absent); compact forms are not used by
// sofia-sip for these headers.
std::string header(const std::string& msg, const std::string& name) {
  const std::regex re("\r\n" + name + ":[ \t]*([^\r]*)\r\n", std::regex::icase);
  std::smatch m;
  return std::regex_search(msg, m, re) ? m[1].str() : std::string();
}

class Registrar {
 public:
  Registrar() {
    const auto bound = udp_test::bind_loopback_udp();
    fd_ = bound.fd;
    port_ = bound.port;
    thread_ = std::thread([this] { run(); });
  }
  ~Registrar() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  // "register" or "unregister", in the order they came.
  std::vector<std::string> events() {
    std::lock_guard lock(mutex_);
    return events_;
  }
  bool wait_for(std::size_t count) {
    const auto deadline = Clock::now() + 20s;
    while (Clock::now() < deadline) {
      if (events().size() >= count) return true;
      std::this_thread::sleep_for(20ms);  // waiting for a condition, with a deadline
    }
    return false;
  }

 private:
  void run() {
    char buf[8192];
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      sockaddr_in from{};
      socklen_t len = sizeof from;
      const auto n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n <= 0) continue;
      const std::string msg(buf, static_cast<std::size_t>(n));
      if (!msg.starts_with("REGISTER ") && !msg.starts_with("OPTIONS ")) continue;
      std::string r = "SIP/2.0 200 OK\r\n";
      // Every Via, in order (§8.2.6.2).
      const std::regex via("\r\nVia:[ \t]*([^\r]*)", std::regex::icase);
      for (auto it = std::sregex_iterator(msg.begin(), msg.end(), via);
           it != std::sregex_iterator(); ++it) {
        r += "Via: " + (*it)[1].str() + "\r\n";
      }
      r += "From: " + header(msg, "From") + "\r\nTo: " + header(msg, "To") + ";tag=reg\r\n";
      r += "Call-ID: " + header(msg, "Call-ID") + "\r\nCSeq: " + header(msg, "CSeq") + "\r\n";
      if (msg.starts_with("REGISTER ")) {
        const std::string contact = header(msg, "Contact");
        const bool removal = header(msg, "Expires") == "0" ||
                             contact.find("expires=0") != std::string::npos || contact == "*";
        {
          std::lock_guard lock(mutex_);
          events_.push_back(removal ? "unregister" : "register");
        }
        if (!removal) r += "Contact: " + contact + ";expires=300\r\n";
      }
      r += "Content-Length: 0\r\n\r\n";
      ::sendto(fd_, r.data(), r.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<std::string> events_;
  std::thread thread_;
};

TEST(SipRegistration, SetRegisteringUnregistersAndRegistersAgain) {
  Registrar registrar;
  const auto dir =
      std::filesystem::temp_directory_path() / ("atdesk-sipreg-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  SipFaxReceiver::Settings s;
  s.listen_address = "127.0.0.1";
  s.allowed_peers = {"127.0.0.1"};
  s.spool_dir = dir / "spool";
  s.registrar = "sip:127.0.0.1:" + std::to_string(registrar.port());
  s.user = "4930123456";
  s.password = "not-used";
  s.register_keepalive = 25000ms;
  std::unique_ptr<SipFaxReceiver> receiver;
  for (int attempt = 0; attempt < 5 && !receiver; ++attempt) {
    s.port = atdesk::testing::free_sip_port();
    auto r =
        std::make_unique<SipFaxReceiver>(s, [](IncomingDocument) -> Result<void> { return {}; });
    r->set_registering(false);  // a standby at start: it does not register
    if (r->start()) receiver = std::move(r);
  }
  ASSERT_TRUE(receiver);
  receiver->set_registering(true);  // the lease came
  ASSERT_TRUE(registrar.wait_for(1));
  receiver->set_registering(false);  // the lease went: this node's binding is removed
  ASSERT_TRUE(registrar.wait_for(2));
  receiver->set_registering(true);  // and came back
  ASSERT_TRUE(registrar.wait_for(3));
  receiver->set_registering(true);  // no change: nothing sent
  receiver.reset();                 // stop: un-REGISTER
  ASSERT_TRUE(registrar.wait_for(4));
  EXPECT_EQ(registrar.events(),
            (std::vector<std::string>{"register", "unregister", "register", "unregister"}));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace atdesk::fax_sip
