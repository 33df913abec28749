// HttpServer: Boost.Beast HTTP/1.1 with keep-alive. I/O runs on `threads` io_context threads;
// each request is handed to a separate handler pool (handlers may block on the store, a printer
// or a chat service) and its response written back on the connection's strand.
#include <spdlog/spdlog.h>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <type_traits>
#include <variant>

#include "atdesk/api/http_server.hpp"

namespace atdesk::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// A TLS server context from PEM files: the certificate chain and its private key, TLS 1.2 and
// later only (RFC 8996 deprecates 1.0 and 1.1).
Result<std::shared_ptr<ssl::context>> load_tls(const std::string& cert, const std::string& key) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                           ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                           ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                       ec);
  context->use_certificate_chain_file(cert, ec);
  if (ec) {
    return fail(Errc::invalid_argument,
                cert + ": [server] tls_cert: expected a PEM certificate chain: " + ec.message());
  }
  context->use_private_key_file(key, ssl::context::pem, ec);
  if (ec) {
    return fail(
        Errc::invalid_argument,
        key + ": [server] tls_key: expected the PEM private key of tls_cert: " + ec.message());
  }
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    return fail(Errc::invalid_argument,
                key + ": [server] tls_key: it is not the key of the certificate in " + cert);
  }
  return context;
}

// An address or a CIDR range ("10.0.0.0/8", "::1").
using Network = std::variant<asio::ip::network_v4, asio::ip::network_v6>;

Result<std::vector<Network>> parse_networks(const std::vector<std::string>& texts) {
  std::vector<Network> out;
  for (const auto& text : texts) {
    boost::system::error_code ec;
    const bool ranged = text.find('/') != std::string::npos;
    const bool v6 = text.find(':') != std::string::npos;
    if (v6) {
      auto n = ranged ? asio::ip::make_network_v6(text, ec)
                      : asio::ip::network_v6(asio::ip::make_address_v6(text, ec), 128);
      if (!ec) out.emplace_back(n);
    } else {
      auto n = ranged ? asio::ip::make_network_v4(text, ec)
                      : asio::ip::network_v4(asio::ip::make_address_v4(text, ec), 32);
      if (!ec) out.emplace_back(n);
    }
    if (ec) {
      return fail(
          Errc::invalid_argument,
          "[server] trusted_proxies: expected an IP address or a CIDR range, got \"" + text + "\"");
    }
  }
  return out;
}

bool in_networks(const std::vector<Network>& networks, std::string_view text) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(std::string(text), ec);
  if (ec) return false;
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  for (const auto& n : networks) {
    if (const auto* v4 = std::get_if<asio::ip::network_v4>(&n); v4 && address.is_v4()) {
      const auto bits = v4->prefix_length();
      const auto mask = bits == 0 ? 0u : ~0u << (32 - bits);
      if ((address.to_v4().to_uint() & mask) == (v4->network().to_uint() & mask)) return true;
    } else if (const auto* v6 = std::get_if<asio::ip::network_v6>(&n); v6 && address.is_v6()) {
      const auto a = address.to_v6().to_bytes();
      const auto b = v6->network().to_bytes();
      int bits = v6->prefix_length();
      bool same = true;
      for (std::size_t i = 0; i < a.size() && bits > 0 && same; ++i, bits -= 8) {
        const unsigned mask = bits >= 8 ? 0xffu : (0xffu << (8 - bits)) & 0xffu;
        same = (a[i] & mask) == (b[i] & mask);
      }
      if (same) return true;
    }
  }
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The client's address behind trusted proxies: X-Forwarded-For read from the right, skipping
// the proxies' own addresses (the left part is whatever the client sent and proves nothing).
std::string forwarded_client(const std::vector<Network>& proxies, const Request& request) {
  if (proxies.empty() || !in_networks(proxies, request.remote)) return request.remote;
  std::string chain;
  for (const auto& [name, value] : request.headers) {
    if (beast::iequals(name, "X-Forwarded-For")) chain += (chain.empty() ? "" : ",") + value;
  }
  std::string client = request.remote;
  std::string_view rest = chain;
  while (!rest.empty()) {
    const auto comma = rest.rfind(',');
    const auto hop = trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(0, comma);
    boost::system::error_code ec;
    (void)asio::ip::make_address(std::string(hop), ec);
    if (ec) break;  // not an address: stop at the last one that was
    client = std::string(hop);
    if (!in_networks(proxies, hop)) break;
  }
  return client;
}

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
    auto proxies = parse_networks(settings_.trusted_proxies);
    if (!proxies) return fail(proxies.error());
    proxies_ = std::move(*proxies);
    if (auto ok = reload_tls(); !ok) return ok;
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

  Result<void> reload_tls() {
    if (settings_.tls_cert.empty()) return {};
    auto context = load_tls(settings_.tls_cert, settings_.tls_key);
    if (!context) return fail(context.error());
    std::lock_guard lock(tls_mutex_);
    tls_ = std::move(*context);  // connections already open keep the context they began with
    return {};
  }

 private:
  template <class Stream>
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
        } else if (settings_.tls_cert.empty()) {
          std::make_shared<Session<beast::tcp_stream>>(*this, beast::tcp_stream(std::move(s)))
              ->run();
        } else {
          std::shared_ptr<ssl::context> context;
          {
            std::lock_guard lock(tls_mutex_);
            context = tls_;
          }
          std::make_shared<Session<TlsStream>>(*this, TlsStream(std::move(s), *context), context)
              ->run();
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

  // One connection: (TLS handshake,) read a request, run the handler on the pool, write, repeat
  // (keep-alive). Stream is beast::tcp_stream or TlsStream.
  template <class Stream>
  class Session : public std::enable_shared_from_this<Session<Stream>> {
    static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;
    using std::enable_shared_from_this<Session<Stream>>::shared_from_this;

   public:
    Session(Impl& server, Stream stream, std::shared_ptr<ssl::context> context = {})
        : server_(server), stream_(std::move(stream)), context_(std::move(context)) {
      ++server_.connections_;
      boost::system::error_code ec;
      const auto peer = socket().remote_endpoint(ec);
      if (!ec) remote_ = peer.address().to_string();
    }
    ~Session() { --server_.connections_; }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    void run() {
      asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
        if constexpr (kTls) {
          beast::get_lowest_layer(self->stream_)
              .expires_after(self->server_.settings_.read_timeout);
          self->stream_.async_handshake(ssl::stream_base::server, [self](beast::error_code ec) {
            if (ec) {
              spdlog::debug("https {}: TLS handshake failed: {}", self->remote_, ec.message());
              return self->close();
            }
            self->read();
          });
        } else {
          self->read();
        }
      });
    }

   private:
    void read() {
      if (server_.stopped_) return close();
      parser_.emplace();
      parser_->body_limit(server_.settings_.max_body_bytes);
      parser_->header_limit(16 * 1024);
      lowest().expires_after(server_.settings_.read_timeout);
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
      request->remote = forwarded_client(server_.proxies_, *request);
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
      lowest().expires_after(server_.settings_.read_timeout);
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
      socket().shutdown(tcp::socket::shutdown_send, ignored);
      lowest().expires_after(std::chrono::seconds(2));
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

    // Over TLS without close_notify: every response is framed by its Content-Length, so a
    // truncation cannot pass for a complete one.
    void close() {
      beast::error_code ignored;
      socket().shutdown(tcp::socket::shutdown_send, ignored);
      lowest().close();
    }

    beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }
    tcp::socket& socket() { return lowest().socket(); }

    Impl& server_;
    Stream stream_;
    std::shared_ptr<ssl::context> context_;  // outlives stream_'s use of it
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
  std::vector<Network> proxies_;  // set in start()
  std::mutex tls_mutex_;
  std::shared_ptr<ssl::context> tls_;  // null: plain HTTP
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

Result<void> HttpServer::reload_tls() {
  return impl_->reload_tls();
}

}  // namespace atdesk::api
