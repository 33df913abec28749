// A Microsoft Graph and identity platform stand-in for tests (tests/unit/chat_graph, tests/unit/app
// and the daemon scenarios of tests/integration/teams_daemon): a Boost.Beast HTTP server on
// 127.0.0.1 (port 0) whose routes each test sets, recording every request with the time it was
// received and the status it was answered with. One request per connection; each connection is
// read on its own thread (a browser opens connections it sends nothing on for a while), and the
// requests are answered one at a time, in the order they were read. The payloads are the tests'
// own; each says which Graph documentation page it follows.
//
// Request budgets: limit() declares a documented limit (requests of a method and path prefix in
// a sliding window). A request beyond it is answered 429 with Retry-After, as Graph does, and
// recorded in violations(): a test that lets atdesk exceed a limit fails on that list.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace atdesk::testing {

struct Received {
  std::string method;
  std::string target;  // path and query as sent
  std::string path;    // without the query
  std::string body;
  std::string authorization;
  std::chrono::steady_clock::time_point at;
  int status = 0;     // the status answered (0 while the route runs)
  std::string reply;  // the body answered
};

struct Reply {
  Reply(int status_ = 200, std::string body_ = "",
        std::vector<std::pair<std::string, std::string>> headers_ = {})
      : status(status_), body(std::move(body_)), headers(std::move(headers_)) {}
  int status;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string content_type = "application/json";
};

class FakeGraph {
 public:
  using Route = std::function<Reply(const Received&)>;

  FakeGraph() : acceptor_(io_) {
    namespace asio = boost::asio;
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { serve(); });
  }

  ~FakeGraph() {
    stopping_ = true;
    boost::system::error_code ec;
    boost::asio::ip::tcp::socket poke(io_);
    poke.connect({boost::asio::ip::make_address("127.0.0.1"), port_}, ec);
    thread_.join();
    std::lock_guard lock(connections_mutex_);
    for (auto& c : connections_) {
      // Wakes a reader still waiting for a request that never comes.
      ::shutdown(c.socket->native_handle(), SHUT_RDWR);
      c.thread.join();
    }
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Routes match the method and a path prefix; the longest prefix wins.
  void on(const std::string& method, const std::string& prefix, Route route) {
    std::lock_guard lock(mutex_);
    routes_[{method, prefix}] = std::move(route);
  }

  // A documented limit: at most `max` requests of `method` (empty: any) whose path starts with
  // `prefix` (and contains `contains`, when given) within any `window`. `source` names the page.
  struct Limit {
    std::string method;
    std::string prefix;
    std::string contains;
    std::size_t max = 0;
    std::chrono::milliseconds window{1000};
    std::string source;
  };
  void limit(Limit l) {
    std::lock_guard lock(mutex_);
    limits_.push_back(std::move(l));
  }
  // Records a broken rule that is not a request budget (a second presence subscription, ...).
  void violation(std::string what) {
    std::lock_guard lock(mutex_);
    violations_.push_back(std::move(what));
  }
  std::vector<std::string> violations() {
    std::lock_guard lock(mutex_);
    return violations_;
  }

  std::vector<Received> received(const std::string& method = "", const std::string& prefix = "") {
    std::lock_guard lock(mutex_);
    std::vector<Received> out;
    for (const auto& r : received_) {
      if ((method.empty() || r.method == method) && r.path.starts_with(prefix)) out.push_back(r);
    }
    return out;
  }

 private:
  void serve() {
    while (!stopping_) {
      auto socket = std::make_shared<boost::asio::ip::tcp::socket>(io_);
      boost::system::error_code ec;
      acceptor_.accept(*socket, ec);
      if (ec || stopping_) continue;
      std::lock_guard lock(connections_mutex_);
      // Threads of connections that are done are joined here (they are finished or about to).
      std::erase_if(connections_, [](Connection& c) {
        if (!c.done->load()) return false;
        c.thread.join();
        return true;
      });
      auto done = std::make_shared<std::atomic<bool>>(false);
      connections_.push_back({socket, done, std::thread([this, socket, done] {
                                answer(*socket);
                                done->store(true);
                              })});
    }
  }

  void answer(boost::asio::ip::tcp::socket& socket) {
    namespace beast = boost::beast;
    namespace http = beast::http;
    boost::system::error_code ec;
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    http::read(socket, buffer, req, ec);
    if (ec) return;
    std::lock_guard one_at_a_time(answering_);
    {
      Received r;
      r.at = std::chrono::steady_clock::now();
      r.method = std::string(req.method_string());
      r.target = std::string(req.target());
      r.path = r.target.substr(0, r.target.find('?'));
      r.body = req.body();
      if (auto it = req.find(http::field::authorization); it != req.end()) {
        r.authorization = std::string(it->value());
      }
      Route route;
      std::size_t index = 0;
      std::optional<Reply> throttled;
      {
        std::lock_guard lock(mutex_);
        index = received_.size();
        for (const auto& l : limits_) {
          if (!matches(l, r)) continue;
          std::size_t count = 1;
          for (const auto& earlier : received_) {
            if (earlier.status != 429 && matches(l, earlier) && r.at - earlier.at < l.window) {
              ++count;
            }
          }
          if (count > l.max) {
            violations_.push_back(r.method + " " + r.path + ": more than " + std::to_string(l.max) +
                                  " requests in " + std::to_string(l.window.count()) + " ms (" +
                                  l.source + ")");
            // Graph "Microsoft Graph throttling guidance": 429 with Retry-After in seconds.
            throttled =
                Reply{429,
                      R"({"error":{"code":"TooManyRequests","message":"Too many requests."}})",
                      {{"Retry-After", "1"}}};
          }
        }
        received_.push_back(r);
        std::size_t best = 0;
        for (const auto& [key, candidate] : routes_) {
          if (key.first == r.method && r.path.starts_with(key.second) &&
              key.second.size() >= best) {
            best = key.second.size();
            route = candidate;
          }
        }
      }
      Reply reply = throttled ? *throttled
                    : route   ? route(r)
                              : Reply{404, R"({"error":{"code":"NotFound","message":"no route"}})"};
      {
        std::lock_guard lock(mutex_);
        received_[index].status = reply.status;
        received_[index].reply = reply.body;
      }
      http::response<http::string_body> res{static_cast<http::status>(reply.status), 11};
      res.set(http::field::content_type, reply.content_type);
      for (const auto& [name, value] : reply.headers) res.set(name, value);
      res.body() = reply.body;
      res.keep_alive(false);
      res.prepare_payload();
      http::write(socket, res, ec);
      socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    }
  }

  static bool matches(const Limit& l, const Received& r) {
    return (l.method.empty() || l.method == r.method) && r.path.starts_with(l.prefix) &&
           (l.contains.empty() || r.path.find(l.contains) != std::string::npos);
  }

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  struct Connection {
    std::shared_ptr<boost::asio::ip::tcp::socket> socket;
    std::shared_ptr<std::atomic<bool>> done;
    std::thread thread;
  };
  std::mutex connections_mutex_;
  std::vector<Connection> connections_;
  std::mutex answering_;  // requests are answered one at a time
  std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, Route> routes_;
  std::vector<Received> received_;
  std::vector<Limit> limits_;
  std::vector<std::string> violations_;
};

// The fields of an application/x-www-form-urlencoded body (what token requests send), decoded.
inline std::map<std::string, std::string> form_of(const std::string& body) {
  std::map<std::string, std::string> out;
  std::size_t pos = 0;
  while (pos <= body.size()) {
    const auto amp = body.find('&', pos);
    const auto part = body.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    const auto eq = part.find('=');
    std::string value = eq == std::string::npos ? "" : part.substr(eq + 1);
    std::string decoded;
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (value[i] == '+') {
        decoded += ' ';
      } else if (value[i] == '%' && i + 2 < value.size()) {
        decoded += static_cast<char>(std::stoi(value.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        decoded += value[i];
      }
    }
    out[part.substr(0, eq)] = decoded;
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return out;
}

}  // namespace atdesk::testing
