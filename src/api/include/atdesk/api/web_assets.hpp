// The web UI's static files (web/*.html, *.css, *.js), embedded into the binary at build time
// by web/embed.cmake, so atdeskd serves every asset itself (no CDN, works offline).
#pragma once

#include <span>
#include <string_view>

namespace atdesk::api {

struct WebAsset {
  std::string_view path;  // relative to web/: "app.js", "signin.html"
  std::string_view content_type;
  std::string_view body;
};

std::span<const WebAsset> web_assets();

}  // namespace atdesk::api
