// A minimal blocking HTTPS client over libcurl: one easy handle per request (thread-safe), every
// handle owned by a unique_ptr. Bodies and headers of requests are never logged here.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "atdesk/core/error.hpp"

namespace atdesk::chat::graph {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // names lower-case
  std::string body;

  std::string header(const std::string& lower_name) const {
    const auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// Sends `request`, giving up after `timeout`. A transport failure (DNS, connect, TLS, timeout)
// is an Error naming the host; any HTTP status is a response.
Result<HttpResponse> http_send(const HttpRequest& request, std::chrono::milliseconds timeout);

// application/x-www-form-urlencoded encoding of one value.
std::string form_encode(std::string_view value);
// Percent-encoding of one path segment or query value.
std::string url_encode(std::string_view value);

}  // namespace atdesk::chat::graph
