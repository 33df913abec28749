// HttpServer: Boost.Beast HTTP/1.1 with keep-alive. I/O runs on `threads` io_context threads;
// each request is handed to a separate handler pool (handlers may block on the store, a printer
// or a chat service) and its response written back on the connection's strand.
#include <spdlog/spdlog.h>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "atdesk/api/http_server.hpp"

namespace atdesk::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Query parameters whose values are never logged.
bool is_secret_name(std::string_view name) {
  // Not "state": atdeskd takes no OAuth redirects (device-code sign-in only), and `state` is the
  // job filter of GET /api/v1/jobs, which the log should show.
  for (std::string_view s :
       {"token", "access_token", "password", "secret", "code", "clientState", "validationToken"}) {
    if (name == s) return true;
  }
  return false;
}

// "path?a=1&token=***": values of secret parameters masked, the rest as sent.
std::string loggable_target(const Request& request) {
  std::string out = request.path;
  char sep = '?';
  for (const auto& [name, value] : request.query) {
    out += sep;
    out += name;
    out += '=';
    out += is_secret_name(name) ? std::string("***") : value;
    sep = '&';
  }
  return out;
}

}  // namespace

class HttpServer::Impl {
 public:
  Impl(Settings settings, const Router& router)
      : settings_(std::move(settings)),
        router_(router),
        io_(std::max(1, settings_.threads)),
        acceptor_(io_),
        handlers_(static_cast<std::size_t>(std::max(1, settings_.handler_threads))) {}

  Result<void> start() {
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(settings_.address, ec);
    if (ec) {
      return fail(Errc::invalid_argument,
                  "listen address \"" + settings_.address + "\": expected an IPv4 or IPv6 address");
    }
    const tcp::endpoint endpoint(address, settings_.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return fail(Errc::unavailable, "cannot listen on " + settings_.address + ":" +
                                         std::to_string(settings_.port) + ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    accept();
    for (int i = 0; i < std::max(1, settings_.threads); ++i) {
      threads_.emplace_back([this] { io_.run(); });
    }
    started_ = true;
    return {};
  }

  void stop() {
    if (!started_ || stopped_.exchange(true)) return;
    asio::post(acceptor_.get_executor(), [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
    });
    {
      std::unique_lock lock(mutex_);
      idle_.wait_for(lock, settings_.stop_timeout, [this] { return in_flight_ == 0; });
    }
    io_.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
    handlers_.join();
  }

  std::uint16_t port() const { return port_; }

 private:
  class Session;

  void accept() {
    acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
      if (!ec) {
        if (connections_.load() >= settings_.max_connections) {
          spdlog::warn("http: refusing a connection: {} connections open",
                       settings_.max_connections);
          beast::error_code ignored;
          s.close(ignored);
        } else {
          std::make_shared<Session>(*this, std::move(s))->run();
        }
      }
      accept();
    });
  }

  void begin_request() {
    std::lock_guard lock(mutex_);
    ++in_flight_;
  }
  void end_request() {
    std::lock_guard lock(mutex_);
    if (--in_flight_ == 0) idle_.notify_all();
  }

  // One connection: read a request, run the handler on the pool, write, repeat (keep-alive).
  class Session : public std::enable_shared_from_this<Session> {
   public:
    Session(Impl& server, tcp::socket socket) : server_(server), stream_(std::move(socket)) {
      ++server_.connections_;
      boost::system::error_code ec;
      const auto peer = stream_.socket().remote_endpoint(ec);
      if (!ec) remote_ = peer.address().to_string();
    }
    ~Session() { --server_.connections_; }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    void run() {
      asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
    }

   private:
    void read() {
      if (server_.stopped_) return close();
      parser_.emplace();
      parser_->body_limit(server_.settings_.max_body_bytes);
      parser_->header_limit(16 * 1024);
      stream_.expires_after(server_.settings_.read_timeout);
      http::async_read(
          stream_, buffer_, *parser_,
          [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec) {
      if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
          ec == asio::error::operation_aborted || ec == asio::error::connection_reset) {
        return close();
      }
      if (ec == http::error::body_limit) {
        return write_error(413, "limit_exceeded",
                           "request body: larger than " +
                               std::to_string(server_.settings_.max_body_bytes) + " bytes");
      }
      if (ec)
        return write_error(400, "invalid_argument", "malformed HTTP request: " + ec.message());

      auto& parser = parser_;  // set before every read
      if (!parser) return write_error(500, "internal", "no request was being read");
      auto message = parser->release();
      auto request = std::make_shared<Request>();
      request->method = std::string(message.method_string());
      request->target = std::string(message.target());
      request->remote = remote_;
      for (const auto& field : message) {
        request->headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
      }
      request->body = std::move(message.body());
      keep_alive_ = message.keep_alive();
      version_ = message.version();

      auto target = parse_target(request->target);
      if (!target) return write_error(400, "invalid_argument", target.error().message);
      request->path = std::move(target->path);
      request->segments = std::move(target->segments);
      request->query = std::move(target->query);

      server_.begin_request();
      const auto started = std::chrono::steady_clock::now();
      asio::post(server_.handlers_, [self = shared_from_this(), request, started] {
        Response response = self->server_.router_.dispatch(*request);
        const auto ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                .count();
        spdlog::info("http {} {} {} {} {:.1f}ms", request->remote, request->method,
                     loggable_target(*request), response.status, ms);
        asio::post(self->stream_.get_executor(), [self, response = std::move(response)]() mutable {
          self->write(std::move(response));
          self->server_.end_request();
        });
      });
    }

    void write_error(int status, std::string_view code, std::string message) {
      keep_alive_ = false;
      version_ = 11;
      write(Response::error(status, code, message));
    }

    void write(Response response) {
      auto out = std::make_shared<http::response<http::string_body>>(
          static_cast<http::status>(response.status), version_);
      out->set(http::field::server, "atdesk");
      if (!response.content_type.empty())
        out->set(http::field::content_type, response.content_type);
      out->set("X-Content-Type-Options", "nosniff");
      out->set(http::field::cache_control, "no-store");
      // A handler's own X-Content-Type-Options or Cache-Control replaces the default above
      // (one field each, never two that contradict); other fields may repeat (Set-Cookie).
      for (const auto& [name, value] : response.headers) {
        if (beast::iequals(name, "X-Content-Type-Options") ||
            beast::iequals(name, "Cache-Control")) {
          out->set(name, value);
        } else {
          out->insert(name, value);
        }
      }
      out->body() = std::move(response.body);
      out->keep_alive(keep_alive_ && !server_.stopped_);
      out->prepare_payload();
      stream_.expires_after(server_.settings_.read_timeout);
      http::async_write(stream_, *out,
                        [self = shared_from_this(), out](beast::error_code ec, std::size_t) {
                          if (ec) return self->close();
                          if (!out->keep_alive()) return self->linger();
                          self->read();
                        });
    }

    // After a response that ends the connection while the client may still be sending (413,
    // a malformed request): stop sending, then read and discard what the client still sends
    // for a short while, so that closing does not reset the connection before the client has
    // read the response ("lingering close").
    void linger() {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      stream_.expires_after(std::chrono::seconds(2));
      drain_ = std::make_unique<std::array<char, 16384>>();
      drain_more();
    }

    void drain_more() {
      stream_.async_read_some(asio::buffer(*drain_),
                              [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                                self->drained_ += n;
                                if (ec || self->drained_ > kMaxDrainBytes) return self->close();
                                self->drain_more();
                              });
    }

    void close() {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      stream_.close();
    }

    Impl& server_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    std::string remote_;
    bool keep_alive_ = false;
    unsigned version_ = 11;
    static constexpr std::size_t kMaxDrainBytes = 64ull << 20;
    std::unique_ptr<std::array<char, 16384>> drain_;
    std::size_t drained_ = 0;
  };

  // Declared before the io_context: pending handlers destroyed with it still touch these.
  Settings settings_;
  const Router& router_;
  std::atomic<std::size_t> connections_{0};
  std::atomic<bool> stopped_{false};
  bool started_ = false;
  std::uint16_t port_ = 0;
  std::mutex mutex_;
  std::condition_variable idle_;
  int in_flight_ = 0;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  asio::thread_pool handlers_;
  std::vector<std::thread> threads_;
};

HttpServer::HttpServer(Settings settings, const Router& router)
    : impl_(std::make_unique<Impl>(std::move(settings), router)) {}

HttpServer::~HttpServer() {
  stop();
}

Result<void> HttpServer::start() {
  return impl_->start();
}

void HttpServer::stop() {
  impl_->stop();
}

std::uint16_t HttpServer::port() const {
  return impl_->port();
}

}  // namespace atdesk::api
