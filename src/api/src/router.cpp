// Request/response values, target decoding and the Router.
#include <spdlog/spdlog.h>
#include <algorithm>
#include <exception>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "atdesk/api/auth.hpp"
#include "atdesk/api/http_server.hpp"

namespace atdesk::api {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           const auto lx = (x >= 'A' && x <= 'Z') ? static_cast<char>(x - 'A' + 'a') : x;
           const auto ly = (y >= 'A' && y <= 'Z') ? static_cast<char>(y - 'A' + 'a') : y;
           return lx == ly;
         });
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes one path segment or query component.
Result<std::string> decode(std::string_view text, bool plus_is_space, std::string_view what) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      const int h = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
      const int l = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
      if (h < 0 || l < 0) {
        return fail(Errc::invalid_argument,
                    std::string(what) + ": expected two hex digits after '%'");
      }
      const char decoded = static_cast<char>(h * 16 + l);
      if (decoded == '\0') {
        return fail(Errc::invalid_argument, std::string(what) + ": %00 is not allowed");
      }
      out += decoded;
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::optional<std::string_view> Request::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) return std::string_view(v);
  }
  return std::nullopt;
}

std::optional<std::string_view> Request::query_value(std::string_view name) const {
  for (const auto& [n, v] : query) {
    if (n == name) return std::string_view(v);
  }
  return std::nullopt;
}

std::string_view Request::param(std::string_view name) const {
  const auto it = params.find(std::string(name));
  return it == params.end() ? std::string_view{} : std::string_view(it->second);
}

Response Response::text(int status, std::string body, std::string content_type) {
  Response r;
  r.status = status;
  r.content_type = std::move(content_type);
  r.body = std::move(body);
  return r;
}

Response Response::json_text(int status, std::string json) {
  return text(status, std::move(json), "application/json");
}

Response Response::no_content() {
  Response r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

Response Response::error(int status, std::string_view code, std::string_view message) {
  const nlohmann::json body{{"error", {{"code", code}, {"message", message}}}};
  return json_text(status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

Response Response::error(const Error& error) {
  return Response::error(http_status(error.code), to_string(error.code), error.message);
}

int http_status(Errc code) {
  switch (code) {
    case Errc::invalid_argument:
    case Errc::limit_exceeded:
    case Errc::unsupported:
      return 400;
    case Errc::not_found:
      return 404;
    case Errc::conflict:
      return 409;
    case Errc::permission_denied:
      return 403;
    case Errc::unavailable:
      return 503;
    case Errc::timeout:
      return 504;
    case Errc::io:
    case Errc::corrupt:
    case Errc::internal:
      return 500;
    case Errc::no_space:
      return 507;
  }
  return 500;
}

Result<Target> parse_target(std::string_view target) {
  if (target.empty() || target.front() != '/') {
    return fail(Errc::invalid_argument, "request target: expected an absolute path");
  }
  Target out;
  const auto q = target.find('?');
  out.path = std::string(target.substr(0, q));
  if (const auto hash = out.path.find('#'); hash != std::string::npos) out.path.resize(hash);

  std::string_view rest = std::string_view(out.path).substr(1);
  while (true) {
    const auto slash = rest.find('/');
    auto segment = decode(rest.substr(0, slash), false, "request path");
    if (!segment) return fail(segment.error());
    out.segments.push_back(std::move(*segment));
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  if (out.segments.size() == 1 && out.segments.front().empty()) out.segments.clear();

  if (q != std::string_view::npos) {
    std::string_view query = target.substr(q + 1);
    if (const auto hash = query.find('#'); hash != std::string_view::npos) {
      query = query.substr(0, hash);
    }
    while (!query.empty()) {
      const auto amp = query.find('&');
      const auto item = query.substr(0, amp);
      if (!item.empty()) {
        const auto eq = item.find('=');
        auto name = decode(item.substr(0, eq), true, "query string");
        if (!name) return fail(name.error());
        std::string value;
        if (eq != std::string_view::npos) {
          auto v = decode(item.substr(eq + 1), true, "query string");
          if (!v) return fail(v.error());
          value = std::move(*v);
        }
        out.query.emplace_back(std::move(*name), std::move(value));
      }
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  return out;
}

void Router::add(std::string method, std::string_view pattern, Handler handler,
                 DeniedHandler on_denied) {
  Route route;
  route.handler = std::move(handler);
  route.on_denied = std::move(on_denied);
  insert(std::move(method), pattern, std::move(route));
}

void Router::add_public(std::string method, std::string_view pattern, Handler handler,
                        std::string why) {
  if (why.empty()) {
    throw std::invalid_argument("public route without a reason: " + std::string(pattern));
  }
  Route route;
  route.handler = std::move(handler);
  route.info.open = true;
  route.info.why_open = std::move(why);
  insert(std::move(method), pattern, std::move(route));
}

std::vector<RouteInfo> Router::routes() const {
  std::vector<RouteInfo> out;
  out.reserve(routes_.size());
  for (const auto& r : routes_) out.push_back(r.info);
  return out;
}

void Router::insert(std::string method, std::string_view pattern, Route route) {
  if (pattern.empty() || pattern.front() != '/') {
    throw std::invalid_argument("route pattern must start with '/': " + std::string(pattern));
  }
  for (const auto& r : routes_) {
    if (r.info.method == method && r.info.pattern == pattern) {
      throw std::invalid_argument("route added twice: " + method + " " + std::string(pattern));
    }
  }
  route.info.method = std::move(method);
  route.info.pattern = std::string(pattern);
  std::string_view rest = pattern.substr(1);
  while (true) {
    const auto slash = rest.find('/');
    const auto text = rest.substr(0, slash);
    Segment s;
    const auto open = text.find('{');
    if (open == std::string_view::npos) {
      if (text.find('}') != std::string_view::npos) {
        throw std::invalid_argument("route pattern has '}' without '{': " + route.info.pattern);
      }
      s.prefix = std::string(text);
    } else {
      const auto close = text.find('}', open);
      if (close == std::string_view::npos || close == open + 1 ||
          text.find('{', open + 1) != std::string_view::npos ||
          text.find('}', close + 1) != std::string_view::npos) {
        throw std::invalid_argument("route pattern segment is malformed: " + route.info.pattern);
      }
      s.prefix = std::string(text.substr(0, open));
      s.name = std::string(text.substr(open + 1, close - open - 1));
      s.suffix = std::string(text.substr(close + 1));
    }
    route.segments.push_back(std::move(s));
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  if (route.segments.size() == 1 && route.segments.front().prefix.empty() &&
      route.segments.front().name.empty()) {
    route.segments.clear();  // "/"
  }
  routes_.push_back(std::move(route));
}

bool Router::match_route(const Route& route, const std::vector<std::string>& segments,
                         std::map<std::string, std::string>* params) {
  if (route.segments.size() != segments.size()) return false;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const auto& want = route.segments[i];
    const auto& got = segments[i];
    if (want.name.empty()) {
      if (got != want.prefix) return false;
      continue;
    }
    if (got.size() <= want.prefix.size() + want.suffix.size() || !got.starts_with(want.prefix) ||
        !got.ends_with(want.suffix)) {
      return false;
    }
    if (params) {
      (*params)[want.name] =
          got.substr(want.prefix.size(), got.size() - want.prefix.size() - want.suffix.size());
    }
  }
  return true;
}

Router::Match Router::match(std::string_view method,
                            const std::vector<std::string>& segments) const {
  Match out;
  const Route* best = nullptr;
  // A route's rank: per segment, literal (2) before {name} with literal text around it (1)
  // before a bare {name} (0), compared from the first segment on.
  const auto rank = [](const Route& r) {
    std::vector<int> v;
    for (const auto& s : r.segments) {
      v.push_back(s.name.empty() ? 2 : (s.prefix.empty() && s.suffix.empty() ? 0 : 1));
    }
    return v;
  };
  for (const auto& route : routes_) {
    if (!match_route(route, segments, nullptr)) continue;
    if (route.info.method != method) {
      if (std::find(out.allowed.begin(), out.allowed.end(), route.info.method) ==
          out.allowed.end()) {
        out.allowed.push_back(route.info.method);
      }
      continue;
    }
    if (!best || rank(route) > rank(*best)) best = &route;
  }
  if (best) {
    out.route = best;
    match_route(*best, segments, &out.params);
    out.allowed.clear();
  }
  return out;
}

Response Router::dispatch(Request& request) const {
  auto found = match(request.method, request.segments);
  if (!found.route) {
    if (found.allowed.empty()) {
      if (not_found_) return not_found_(request);
      return Response::error(404, "not_found",
                             "no route for " + request.method + " " + request.path);
    }
    std::string allow;
    for (const auto& m : found.allowed) allow += (allow.empty() ? "" : ", ") + m;
    auto r = Response::error(
        405, "unsupported",
        "method " + request.method + " is not allowed for " + request.path + "; allowed: " + allow);
    r.headers.emplace_back("Allow", allow);
    return r;
  }
  request.params = std::move(found.params);
  const Route& route = *found.route;
  try {
    if (!route.info.open) {
      auto who = auth_ ? auth_->identify(request)
                       : std::expected<Principal, Denial>(std::unexpect,
                                                          Denial{401, "no credentials accepted"});
      if (!who) {
        return route.on_denied ? route.on_denied(request, who.error())
                               : denial_response(who.error());
      }
      request.principal = std::move(*who);
      request.principal_by = auth_;
    }
    return route.handler(request);
  } catch (const std::exception& e) {
    spdlog::error("http {} {}: handler failed: {}", request.method, request.path, e.what());
  } catch (...) {
    spdlog::error("http {} {}: handler failed with an unknown exception", request.method,
                  request.path);
  }
  return Response::error(500, "internal", "internal error; see the server log");
}

}  // namespace atdesk::api
