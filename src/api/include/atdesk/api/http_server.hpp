// The HTTP side of the API: plain request/response values, a Router that maps a method and a
// path pattern to a handler, and HttpServer, an HTTP/1.1 server (Boost.Beast) on its own threads.
// Handlers never see Beast types, so they can be tested without a socket.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "atdesk/api/principal.hpp"
#include "atdesk/core/error.hpp"

namespace atdesk::api {

// Header fields or query parameters, in the order sent, duplicates kept.
using Fields = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;                         // as sent: "GET", "POST", ...
  std::string target;                         // as sent: path and query string
  std::string path;                           // the path part of the target, still percent-encoded
  std::vector<std::string> segments;          // path segments, percent-decoded
  Fields query;                               // query parameters, decoded
  Fields headers;                             // as sent
  std::map<std::string, std::string> params;  // {name} segments of the matched route
  std::string body;
  // The peer's address (the client behind a trusted proxy), for logs and limits.
  std::string remote;
  // The caller, when the router identified them before a closed route's handler, and the
  // authenticator that did (authorized() reuses the answer only from the same one).
  std::optional<Principal> principal;
  const void* principal_by = nullptr;

  // The first header field of that name (case-insensitive).
  std::optional<std::string_view> header(std::string_view name) const;
  // The first query parameter of that name.
  std::optional<std::string_view> query_value(std::string_view name) const;
  // A {name} segment of the matched route; empty when the route has none.
  std::string_view param(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  Fields headers;  // more fields: Location, WWW-Authenticate, Content-Disposition, ...

  static Response text(int status, std::string body,
                       std::string content_type = "text/plain; charset=utf-8");
  // A body that is already serialised JSON.
  static Response json_text(int status, std::string json);
  static Response no_content();  // 204
  // {"error": {"code": "<code>", "message": "<message>"}}
  static Response error(int status, std::string_view code, std::string_view message);
  // The status that docs/api.md gives the error's code.
  static Response error(const Error& error);
};

// The HTTP status for an error code (docs/api.md): invalid_argument, limit_exceeded, unsupported
// 400; not_found 404; conflict 409; permission_denied 403; unavailable 503; timeout 504; else 500.
int http_status(Errc code);

// A request target split and decoded: the path as sent, its segments and the query parameters
// percent-decoded ('+' in the query is a space). Bad escapes, NUL bytes and a target that is not
// an absolute path are Errc::invalid_argument.
struct Target {
  std::string path;
  std::vector<std::string> segments;
  Fields query;
};
Result<Target> parse_target(std::string_view target);

using Handler = std::function<Response(const Request&)>;

class Authenticator;  // auth.hpp
struct Denial;        // auth.hpp
// What a route answers a request its authenticator refuses (the web UI's pages redirect to the
// sign-in page); by default the denial as JSON (denial_response()).
using DeniedHandler = std::function<Response(const Request&, const Denial&)>;

// A registered route, for listings and the test that walks every route without credentials.
struct RouteInfo {
  std::string method;
  std::string pattern;
  bool open = false;     // reachable without credentials (add_public())
  std::string why_open;  // why it is open: its own verification, or nothing to protect
};

// Maps (method, path pattern) to handlers. A pattern is a path of segments, each either literal
// text or one {name} with optional literal text around it: "/api/v1/jobs/{id}/pages/{n}.png".
// A parameter matches one non-empty decoded segment. When several routes match, the one with
// literal segments earliest wins ("/jobs/export" before "/jobs/{id}").
//
// Routes are closed by default: the router runs its authenticator before the handler of every
// route not added with add_public(), and answers a refused request itself (401/403 JSON, or the
// route's DeniedHandler). A router without an authenticator refuses every closed route. The
// caller it identified is in Request::principal, which authorized() handlers reuse.
class Router {
 public:
  Router() = default;  // no authenticator: only public routes answer
  // `auth` must outlive the router.
  explicit Router(const Authenticator& auth) : auth_(&auth) {}

  // Adds a route that needs credentials. A malformed pattern is a programming error
  // (std::invalid_argument), as is a method and pattern added twice.
  void add(std::string method, std::string_view pattern, Handler handler,
           DeniedHandler on_denied = {});
  // Adds a route that anyone may call; `why` says why that is safe (routes() lists it).
  void add_public(std::string method, std::string_view pattern, Handler handler, std::string why);
  // Every registered route, in the order added.
  std::vector<RouteInfo> routes() const;
  // What answers a path no route has, for any method (not a route: nothing is behind it). Unset,
  // that is the 404 JSON error; the web UI sets it to send an HTML page to a browser.
  void set_not_found(Handler handler) { not_found_ = std::move(handler); }

 private:
  struct Segment {
    std::string prefix;  // the literal text, or the text before {name}
    std::string name;    // empty: a literal segment
    std::string suffix;  // the text after {name}
  };
  struct Route {
    RouteInfo info;
    std::vector<Segment> segments;
    Handler handler;
    DeniedHandler on_denied;
  };

 public:
  struct Match {
    const Route* route = nullptr;               // null: no route for this method and path
    std::map<std::string, std::string> params;  // when route is set
    std::vector<std::string> allowed;           // methods the path has, when route is null
  };
  Match match(std::string_view method, const std::vector<std::string>& segments) const;

  // Runs the matching handler with request.params filled in, after the authenticator accepted
  // the request unless the route is public. No route: 404 JSON; the path exists for other
  // methods: 405 JSON with Allow. An exception from a handler is caught, logged and answered
  // with 500 JSON: nothing escapes.
  Response dispatch(Request& request) const;

 private:
  void insert(std::string method, std::string_view pattern, Route route);
  static bool match_route(const Route& route, const std::vector<std::string>& segments,
                          std::map<std::string, std::string>* params);
  const Authenticator* auth_ = nullptr;
  std::vector<Route> routes_;
  Handler not_found_;
};

// An HTTP/1.1 server with keep-alive on its own io_context threads. Handlers run on a separate
// pool of threads (they may block on the store, a printer or a chat service) so that slow
// requests do not stall reading and writing of other connections. One access log line per
// request (method, path, query names with secret values masked, status, milliseconds); header
// fields are never logged.
class HttpServer {
 public:
  struct Settings {
    std::string address = "127.0.0.1";
    std::uint16_t port = 0;                         // 0: any free port (see port())
    int threads = 2;                                // I/O threads
    std::size_t max_body_bytes = 80ull << 20;       // larger bodies: 413
    std::chrono::milliseconds read_timeout{30000};  // per read or write, and keep-alive idle time
    int handler_threads = 4;
    std::size_t max_connections = 512;
    std::chrono::milliseconds stop_timeout{5000};  // how long stop() lets requests finish
    // HTTPS when both are set: PEM certificate chain and private key files.
    std::string tls_cert;
    std::string tls_key;
    // Proxies (addresses or CIDR ranges) whose X-Forwarded-For names the client in
    // Request::remote; from anyone else the field is ignored.
    std::vector<std::string> trusted_proxies;
  };

  // `router` must outlive the server.
  HttpServer(Settings settings, const Router& router);
  ~HttpServer();  // stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts the threads. Errc::invalid_argument for a bad address,
  // Errc::unavailable when the address cannot be bound.
  Result<void> start();
  // Stops accepting, lets requests in progress finish (up to stop_timeout), closes idle
  // connections and joins the threads. Idempotent.
  void stop();
  // The bound port (the chosen one when Settings::port was 0); 0 before start().
  std::uint16_t port() const;
  // Reads the certificate and key files again (SIGHUP after a renewal); new connections use
  // them, open ones keep theirs. A bad file keeps the old certificate and says why.
  Result<void> reload_tls();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace atdesk::api
