// Serving the embedded UI assets with security headers, and the sign-in redirect for pages.
#include "atdesk/api/web_ui.hpp"

#include <algorithm>

#include "atdesk/api/web_assets.hpp"

namespace atdesk::api {
namespace {

const WebAsset* find_asset(std::string_view path) {
  const auto assets = web_assets();
  const auto it =
      std::find_if(assets.begin(), assets.end(), [&](const WebAsset& a) { return a.path == path; });
  return it == assets.end() ? nullptr : &*it;
}

Response asset_response(std::string_view path, std::string cache = "no-cache") {
  const auto* asset = find_asset(path);
  if (!asset) {
    auto r = Response::text(404, "not found\n");
    add_ui_security_headers(r);
    return r;
  }
  auto r = Response::text(200, std::string(asset->body), std::string(asset->content_type));
  // Revalidate each time: the assets change with the binary, and they are small.
  r.headers.emplace_back("Cache-Control", std::move(cache));
  add_ui_security_headers(r);
  return r;
}

// The page a browser gets for a path that is no page (an API client still gets the JSON 404).
// Plain HTML with no script: it must not depend on a session, and says where to go instead.
constexpr std::string_view kNotFoundPage = R"(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Not found · atdesk</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/app.css">
</head>
<body class="signin">
<main id="main">
<h1>Not found</h1>
<p>atdesk has no page at this address.</p>
<p><a href="/">Go to the overview</a> or <a href="/jobs">the jobs</a>.</p>
</main>
</body>
</html>
)";

bool wants_page(const Request& request) {
  if (request.method != "GET" && request.method != "HEAD") return false;
  if (request.path == "/api" || request.path.starts_with("/api/")) return false;
  return true;
}

Response redirect(std::string location) {
  Response r;
  r.status = 303;
  r.content_type = "text/plain; charset=utf-8";
  r.body = "see " + location + "\n";
  r.headers.emplace_back("Location", std::move(location));
  r.headers.emplace_back("Cache-Control", "no-store");
  add_ui_security_headers(r);
  return r;
}

}  // namespace

void add_ui_security_headers(Response& response) {
  response.headers.emplace_back("Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                                "base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
  response.headers.emplace_back("X-Frame-Options", "DENY");
  response.headers.emplace_back("Referrer-Policy", "no-referrer");
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
}

void install_web_ui(Router& router, const Authenticator& auth) {
  router.set_not_found([](const Request& request) {
    if (!wants_page(request)) {
      return Response::error(404, "not_found",
                             "no route for " + request.method + " " + request.path);
    }
    auto r = Response::text(404, std::string(kNotFoundPage), "text/html; charset=utf-8");
    add_ui_security_headers(r);
    return r;
  });
  router.add_public(
      "GET", "/favicon.ico",
      [](const Request&) { return asset_response("favicon.svg", "max-age=86400"); },
      "the site icon browsers ask for; no data");
  router.add_public(
      "GET", "/signin", [](const Request&) { return asset_response("signin.html"); },
      "the sign-in page");
  router.add_public(
      "GET", "/static/{file}",
      [](const Request& request) {
        const auto file = request.param("file");
        if (file == "app.html" || file == "signin.html") return asset_response("");  // pages: 404
        return asset_response(file);
      },
      "the scripts and style sheets of the sign-in page and the app; no data");
  const Authenticator* authenticator = &auth;
  // A page asked for without a session goes to the sign-in page, which comes back to it.
  const auto to_signin = [](const Request& request, const Denial&) {
    // Only a path of our own goes into `next` (no open redirect): letters, digits, '/', '-'.
    std::string next;
    for (char c : request.path) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '/' || c == '-' || c == '_';
      if (!ok) break;
      next += c;
    }
    const bool plain = next.size() > 1 && next[1] != '/';
    return redirect(plain ? "/signin?next=" + next : "/signin");
  };
  const auto page = [&router, authenticator, to_signin](std::string_view pattern, bool admin) {
    router.add(
        "GET", pattern,
        [authenticator, admin, to_signin](const Request& request) {
          auto who = authenticator->identify(request);
          if (!who) return to_signin(request, who.error());
          if (admin && who->role != Role::admin) return redirect("/");
          return asset_response("app.html", "no-store");
        },
        to_signin);
  };
  page("/", false);
  page("/jobs", false);
  page("/jobs/{id}", false);
  page("/settings", false);
  page("/modes", true);
  page("/recipients", true);
  page("/audit", true);
  page("/accounts", true);
}

}  // namespace atdesk::api
