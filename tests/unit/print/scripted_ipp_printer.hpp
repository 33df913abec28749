// A scripted IPP printer for unit tests: an HTTP/1.1 server on 127.0.0.1 (a free port) that
// reads IPP requests (RFC 8010 encoding, decoded with libcups' ippReadIO) and answers with what
// the test's handler returns, or drops the connection. It follows what IppPrinter relies on:
//  - HTTP/1.1 POST with Content-Length (RFC 9112 6.2) and "Expect: 100-continue" (RFC 9110
//    10.1.1), answered with 100 Continue; persistent connections (RFC 9112 9.3);
//  - every response carries the request's version and request-id, attributes-charset and
//    attributes-natural-language first (RFC 8011 4.1.4), made with libcups' ippNewResponse.
// The handler decides what each operation answers, so a test can play a printer's particular
// behaviour (a CUPS server leaving job-name out, a printer that reused a job id, one that resets
// the connection after reading the document) and says which document that behaviour follows.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cups/ipp.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace atdesk::print::testing {

struct IppDeleter {
  void operator()(ipp_t* ipp) const { ippDelete(ipp); }
};
using Ipp = std::unique_ptr<ipp_t, IppDeleter>;

class ScriptedIppPrinter {
 public:
  struct Reply {
    Ipp response;                  // null with drop: no answer at all
    bool drop_connection = false;  // close the connection (with a reset) instead of answering
  };
  // Called for each request with the decoded IPP message and the document that followed it.
  using Handler = std::function<Reply(ipp_t* request, const std::string& document)>;

  explicit ScriptedIppPrinter(Handler handler) : handler_(std::move(handler)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener_, 16) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("scripted IPP printer: cannot listen on 127.0.0.1");
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedIppPrinter() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    if (thread_.joinable()) thread_.join();
  }
  ScriptedIppPrinter(const ScriptedIppPrinter&) = delete;
  ScriptedIppPrinter& operator=(const ScriptedIppPrinter&) = delete;

  std::string uri() const { return "ipp://127.0.0.1:" + std::to_string(port_) + "/ipp/print"; }

  // Operation names of the requests received so far, in order ("Get-Jobs", ...).
  std::vector<std::string> operations() {
    std::lock_guard lock(mutex_);
    return operations_;
  }

  // A successful response to `request`, to add attributes to.
  static Ipp ok(ipp_t* request) {
    Ipp response(ippNewResponse(request));
    ippSetStatusCode(response.get(), IPP_STATUS_OK);
    return response;
  }
  static Ipp error(ipp_t* request, ipp_status_t status) {
    Ipp response(ippNewResponse(request));
    ippSetStatusCode(response.get(), status);
    return response;
  }
  // The keywords of requested-attributes in `request`.
  static std::vector<std::string> requested(ipp_t* request) {
    std::vector<std::string> out;
    ipp_attribute_t* ra = ippFindAttribute(request, "requested-attributes", IPP_TAG_KEYWORD);
    for (int i = 0; ra != nullptr && i < ippGetCount(ra); ++i) {
      out.emplace_back(ippGetString(ra, i, nullptr));
    }
    return out;
  }
  static int job_id(ipp_t* request) {
    ipp_attribute_t* id = ippFindAttribute(request, "job-id", IPP_TAG_INTEGER);
    return id != nullptr ? ippGetInteger(id, 0) : 0;
  }

 private:
  struct Buffer {
    const std::string* data;
    std::size_t at = 0;
  };
  static ssize_t read_buffer(void* ctx, ipp_uchar_t* out, size_t n) {
    auto* b = static_cast<Buffer*>(ctx);
    const std::size_t left = b->data->size() - b->at;
    const std::size_t k = std::min(n, left);
    std::memcpy(out, b->data->data() + b->at, k);
    b->at += k;
    return static_cast<ssize_t>(k);
  }
  static ssize_t write_buffer(void* ctx, ipp_uchar_t* in, size_t n) {
    static_cast<std::string*>(ctx)->append(reinterpret_cast<const char*>(in), n);
    return static_cast<ssize_t>(n);
  }

  void serve() {
    while (!stopping_) {
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      connection(fd);
    }
  }

  // One connection, one request after another until the client closes it.
  void connection(int fd) {
    std::string in;
    auto fill = [&](std::size_t want) {
      char chunk[65536];
      while (in.size() < want) {
        const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) return false;
        in.append(chunk, static_cast<std::size_t>(n));
      }
      return true;
    };
    for (;;) {
      std::size_t end = std::string::npos;
      while ((end = in.find("\r\n\r\n")) == std::string::npos) {
        if (!fill(in.size() + 1)) return close_connection(fd, false);
      }
      std::string head = in.substr(0, end);
      in.erase(0, end + 4);
      std::string lower = head;
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      const auto cl = lower.find("content-length:");
      if (lower.rfind("post ", 0) != 0 || cl == std::string::npos) {
        send_all(fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        return close_connection(fd, false);
      }
      const std::size_t length = std::stoul(head.substr(cl + 15));
      if (lower.find("expect: 100-continue") != std::string::npos) {
        send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n");
      }
      if (!fill(length)) return close_connection(fd, false);
      const std::string body = in.substr(0, length);
      in.erase(0, length);

      Buffer buffer{&body};
      Ipp request(ippNew());
      if (ippReadIO(&buffer, read_buffer, 1, nullptr, request.get()) != IPP_STATE_DATA) {
        send_all(fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        return close_connection(fd, false);
      }
      const std::string document = body.substr(buffer.at);
      {
        std::lock_guard lock(mutex_);
        operations_.emplace_back(ippOpString(ippGetOperation(request.get())));
      }
      Reply reply = handler_(request.get(), document);
      if (reply.drop_connection || !reply.response) return close_connection(fd, true);
      std::string out;
      ippSetState(reply.response.get(), IPP_STATE_IDLE);
      ippWriteIO(&out, write_buffer, 1, nullptr, reply.response.get());
      send_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/ipp\r\nContent-Length: " +
                       std::to_string(out.size()) + "\r\n\r\n" + out);
    }
  }

  static void send_all(int fd, const std::string& data) {
    std::size_t at = 0;
    while (at < data.size()) {
      const ssize_t n = ::send(fd, data.data() + at, data.size() - at, MSG_NOSIGNAL);
      if (n <= 0) return;
      at += static_cast<std::size_t>(n);
    }
  }
  // With `reset`, the connection ends with a TCP reset, as when a printer crashes.
  static void close_connection(int fd, bool reset) {
    if (reset) {
      linger l{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    ::close(fd);
  }

  Handler handler_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::string> operations_;
};

}  // namespace atdesk::print::testing
