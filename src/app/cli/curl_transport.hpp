// The Transport port over libcurl: one easy handle per request, multipart uploads streamed from
// the file, no "Expect: 100-continue" round trip.
#pragma once

#include <string>

#include "atdesk/cli/http.hpp"

namespace atdesk::cli {

class CurlTransport final : public Transport {
 public:
  struct Settings {
    std::string base_url;  // "http://127.0.0.1:8631"
    double timeout_seconds = 30.0;
    // PEM file of the certificate authority (or the self-signed certificate) that atdeskd's
    // https:// certificate is checked against; empty: the system's CA bundle.
    std::string ca_file;
  };

  // curl_global_init must have run (main does it once).
  explicit CurlTransport(Settings settings) : settings_(std::move(settings)) {}

  Result<Response> send(const Request& request) override;

 private:
  Settings settings_;
};

}  // namespace atdesk::cli
