#include "http_upload.hpp"

#include "atdesk/handles/curl.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace atdesk::chat::xmpp {
namespace {

struct Body {
  std::span<const std::byte> data;
  std::size_t offset = 0;
};

std::size_t read_body(char* buffer, std::size_t size, std::size_t nitems, void* userdata) {
  auto* body = static_cast<Body*>(userdata);
  const std::size_t n = std::min(size * nitems, body->data.size() - body->offset);
  std::memcpy(buffer, body->data.data() + body->offset, n);
  body->offset += n;
  return n;
}

std::size_t discard(char*, std::size_t size, std::size_t nmemb, void*) {
  return size * nmemb;
}

}  // namespace

Result<void> http_put(const UploadSlot& slot, std::span<const std::byte> data,
                      const UploadOptions& options) {
  handles::CurlPtr curl(curl_easy_init());
  if (!curl) return fail(Errc::internal, "libcurl failed to initialise");
  handles::CurlSlistPtr headers;
  bool headers_ok =
      handles::append_header(headers, ("Content-Type: " + options.content_type).c_str());
  for (const auto& [name, value] : slot.headers) {
    headers_ok = headers_ok && handles::append_header(headers, (name + ": " + value).c_str());
  }
  headers_ok = headers_ok && handles::append_header(headers, "Expect:");
  if (!headers_ok)
    return fail(Errc::internal, "HTTP upload: out of memory for the request headers");

  Body body{data, 0};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, slot.put_url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, read_body);
  curl_easy_setopt(c, CURLOPT_READDATA, &body);
  curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(data.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(std::max<long long>(1, options.timeout.count())));
  if (!options.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options.ca_file.c_str());
  if (options.insecure) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  // The URL can carry a secret token: errors name the host only.
  std::string host = slot.put_url;
  if (auto p = host.find("://"); p != std::string::npos) host = host.substr(p + 3);
  if (auto p = host.find('/'); p != std::string::npos) host = host.substr(0, p);
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    return fail(rc == CURLE_OPERATION_TIMEDOUT ? Errc::timeout : Errc::unavailable,
                "XEP-0363 upload to " + host + ": " + curl_easy_strerror(rc));
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status > 299) {
    return fail(Errc::unavailable,
                "XEP-0363 upload to " + host + ": HTTP " + std::to_string(status));
  }
  return {};
}

}  // namespace atdesk::chat::xmpp
