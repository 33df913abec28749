// The HTTP exchange the atdesk CLI has with atdeskd, as plain values, and the Transport port that
// carries it. The library builds Requests and reads Responses; only the executable talks to the
// network (libcurl), so everything else is testable with a fake Transport.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "atdesk/core/error.hpp"

namespace atdesk::cli {

// One part of a multipart/form-data body: a text field, or a file streamed from disk.
struct FormPart {
  std::string name;
  std::string value;                          // text fields
  std::optional<std::filesystem::path> file;  // file fields: read by the transport
  std::string filename;                       // file fields: the name sent to the server
  std::string content_type;                   // file fields
};

struct Request {
  std::string method;  // "GET", "POST", "PUT", "DELETE"
  std::string path;    // already percent-encoded, starts with '/'
  std::vector<std::pair<std::string, std::string>> query;  // raw values, encoded by target()
  std::optional<nlohmann::json> json;                      // application/json body
  std::vector<FormPart> form;                              // multipart/form-data body
  std::optional<std::string> raw_body;  // any other body, sent as is with raw_content_type
  std::string raw_content_type;         // e.g. "application/toml"
  bool authenticated = true;            // false only for /healthz
  std::string bearer_token;             // set by the runner just before sending; never printed

  // "/api/v1/jobs?state=held&limit=5": path plus the percent-encoded query, in order.
  std::string target() const;
};

struct Response {
  long status = 0;
  std::string content_type;
  std::string body;
};

// Sends one request to atdeskd. Errors: Errc::unavailable when atdeskd cannot be reached
// (refused, unresolvable, connect timeout), Errc::timeout when it stopped answering, Errc::io for
// a local file that cannot be read. An HTTP error status is a Response, not an Error.
class Transport {
 public:
  virtual ~Transport() = default;
  Transport() = default;
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  virtual Result<Response> send(const Request& request) = 0;
};

// RFC 3986: everything but unreserved characters (A-Z a-z 0-9 - . _ ~) becomes %XX. For path
// segments (job ids, user names, channel names, mode table names).
std::string percent_encode_segment(std::string_view text);
// As above, but also keeps ',' ':' '@' '/' which are unambiguous in a query value ("held,failed",
// "user:local:alice"). '+' '&' '=' ' ' are always encoded.
std::string percent_encode_query_value(std::string_view text);

// Joins a base URL ("http://host:8631" or "http://host:8631/") and a request target.
std::string join_url(std::string_view base, std::string_view target);

// Guesses the Content-Type of an uploaded document from its file name.
std::string content_type_for(const std::filesystem::path& file);

}  // namespace atdesk::cli
