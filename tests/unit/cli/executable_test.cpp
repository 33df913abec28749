// The real `atdesk` executable against a one-shot HTTP server on 127.0.0.1 written here with
// POSIX sockets: what goes over the wire (request line, headers, body) and what the user sees.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <thread>

#include "cli_test_support.hpp"

namespace atdesk::cli {
namespace {

using nlohmann::json;
using testing::Process;
using testing::run_atdesk;
using testing::TempDir;

// Closes a file descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

constexpr int kPollMs = 20000;  // a bound so a broken client cannot hang the test

// Accepts one connection on 127.0.0.1:<ephemeral>, reads one request (headers and a
// Content-Length body), answers with `response` and closes.
class OneShotServer {
 public:
  explicit OneShotServer(std::string response) : response_(std::move(response)) {
    listener_ = std::make_unique<Fd>(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (listener_->get() < 0 ||
        ::bind(listener_->get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener_->get(), 1) != 0 ||
        ::getsockname(listener_->get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~OneShotServer() {
    if (thread_.joinable()) thread_.join();
  }
  OneShotServer(const OneShotServer&) = delete;
  OneShotServer& operator=(const OneShotServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // What the client sent; waits for the server to finish.
  const std::string& request() {
    if (thread_.joinable()) thread_.join();
    return request_;
  }

 private:
  void serve() {
    pollfd p{listener_->get(), POLLIN, 0};
    if (::poll(&p, 1, kPollMs) != 1) return;
    Fd conn(::accept4(listener_->get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (conn.get() < 0) return;
    std::size_t wanted = std::string::npos;
    char buffer[4096];
    while (wanted == std::string::npos || request_.size() < wanted) {
      pollfd c{conn.get(), POLLIN, 0};
      if (::poll(&c, 1, kPollMs) != 1) return;
      const ssize_t n = ::recv(conn.get(), buffer, sizeof buffer, 0);
      if (n <= 0) break;
      request_.append(buffer, static_cast<std::size_t>(n));
      const auto end = request_.find("\r\n\r\n");
      if (wanted == std::string::npos && end != std::string::npos) {
        wanted = end + 4 + content_length(request_.substr(0, end));
      }
    }
    std::size_t sent = 0;
    while (sent < response_.size()) {
      const ssize_t n =
          ::send(conn.get(), response_.data() + sent, response_.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    ::shutdown(conn.get(), SHUT_RDWR);
  }

  static std::size_t content_length(std::string headers) {
    std::ranges::transform(headers, headers.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const auto at = headers.find("\r\ncontent-length:");
    if (at == std::string::npos) return 0;
    return std::stoul(headers.substr(at + 17));
  }

  std::string response_;
  std::unique_ptr<Fd> listener_;
  int port_ = 0;
  std::string request_;
  std::thread thread_;
};

std::string http_response(int status, const std::string& reason, const std::string& type,
                          const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
         body;
}

std::string body_of(const std::string& request) {
  const auto end = request.find("\r\n\r\n");
  return end == std::string::npos ? "" : request.substr(end + 4);
}

bool has_header(const std::string& request, const std::string& line) {
  const auto end = request.find("\r\n\r\n");
  return request.substr(0, end + 2).find("\r\n" + line + "\r\n") != std::string::npos;
}

TEST(Executable, SubmitSendsMultipartDocumentAndBearerToken) {
  TempDir dir;
  const auto token_file = dir.write("admin.token", "tok-abc123\n");
  const std::string pdf = "%PDF-1.4\nfake fax\n";
  const auto document = dir.write("fax.pdf", pdf);
  OneShotServer server(http_response(201, "Created", "application/json", testing::kSampleJob));
  ASSERT_NE(server.port(), 0);

  Process p = run_atdesk({"--url", server.url(), "--timeout", "20", "submit", document.string(),
                          "--sender", "+81312345678", "--name", "Order 12"},
                         {"ATDESK_TOKEN_FILE=" + token_file.string()}, dir);
  const std::string& request = server.request();

  EXPECT_EQ(p.code, 0) << p.err;
  EXPECT_TRUE(request.starts_with("POST /api/v1/jobs HTTP/1.1\r\n")) << request;
  EXPECT_TRUE(has_header(request, "Authorization: Bearer tok-abc123")) << request;
  EXPECT_NE(request.find("\r\nContent-Type: multipart/form-data; boundary="), std::string::npos);
  EXPECT_EQ(request.find("Expect:"), std::string::npos) << request;
  const std::string body = body_of(request);
  EXPECT_NE(body.find("Content-Disposition: form-data; name=\"document\"; filename=\"fax.pdf\""
                      "\r\nContent-Type: application/pdf\r\n\r\n" +
                      pdf + "\r\n"),
            std::string::npos)
      << body;
  EXPECT_NE(body.find("Content-Disposition: form-data; name=\"sender\"\r\n\r\n+81312345678\r\n"),
            std::string::npos)
      << body;
  EXPECT_NE(body.find("Content-Disposition: form-data; name=\"name\"\r\n\r\nOrder 12\r\n"),
            std::string::npos)
      << body;
  EXPECT_EQ(body.find("name=\"called\""), std::string::npos);
  EXPECT_NE(p.out.find("01JDX4Q7R8S9T0V1W2X3Y4Z5A6"), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("state:          held"), std::string::npos) << p.out;
  EXPECT_EQ(p.err, "");
}

TEST(Executable, JsonPutWithEncodedPathAndConflictExitCode) {
  TempDir dir;
  OneShotServer server(http_response(
      409, "Conflict", "application/json",
      R"({"error":{"code":"conflict","message":"presence: alice smith is managed elsewhere"}})"));
  ASSERT_NE(server.port(), 0);

  Process p = run_atdesk({"presence", "set", "alice smith", "busy", "office", "--status", "call"},
                         {"ATDESK_URL=" + server.url(), "ATDESK_TOKEN=tok-xyz"}, dir);
  const std::string& request = server.request();

  EXPECT_EQ(p.code, 5);
  EXPECT_TRUE(request.starts_with("PUT /api/v1/presence/local/alice%20smith HTTP/1.1\r\n"))
      << request;
  EXPECT_TRUE(has_header(request, "Authorization: Bearer tok-xyz")) << request;
  EXPECT_TRUE(has_header(request, "Content-Type: application/json")) << request;
  EXPECT_EQ(json::parse(body_of(request)),
            (json{{"availability", "busy"}, {"location", "office"}, {"status_text", "call"}}));
  EXPECT_EQ(p.out, "");
  EXPECT_EQ(p.err, "atdesk: presence: alice smith is managed elsewhere (HTTP 409, conflict)\n");
  EXPECT_EQ(p.err.find("tok-xyz"), std::string::npos);
}

TEST(Executable, HealthSendsNoToken) {
  TempDir dir;
  OneShotServer server(http_response(200, "OK", "text/plain", "ok\n"));
  ASSERT_NE(server.port(), 0);
  Process p = run_atdesk({"--url", server.url() + "/", "health"},
                         {"ATDESK_TOKEN=tok-should-not-be-sent"}, dir);
  const std::string& request = server.request();
  EXPECT_EQ(p.code, 0) << p.err;
  EXPECT_EQ(p.out, "ok\n");
  EXPECT_TRUE(request.starts_with("GET /healthz HTTP/1.1\r\n")) << request;
  EXPECT_EQ(request.find("Authorization"), std::string::npos) << request;
}

TEST(Executable, NothingListeningIsExitThree) {
  TempDir dir;
  int port = 0;
  {
    // A port that was free a moment ago and has no listener now.
    Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::getsockname(s.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port = ntohs(addr.sin_port);
  }
  Process p = run_atdesk({"--url", "http://127.0.0.1:" + std::to_string(port), "jobs"},
                         {"ATDESK_TOKEN=tok"}, dir);
  EXPECT_EQ(p.code, 3) << p.err;
  EXPECT_NE(p.err.find("cannot connect to atdeskd at http://127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << p.err;
}

TEST(Executable, UsageErrorIsExitTwo) {
  TempDir dir;
  Process p = run_atdesk({"jobs", "--limit", "many"}, {}, dir);
  EXPECT_EQ(p.code, 2);
  EXPECT_NE(p.err.find("--limit"), std::string::npos) << p.err;
}

}  // namespace
}  // namespace atdesk::cli
