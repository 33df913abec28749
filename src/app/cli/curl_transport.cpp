#include "curl_transport.hpp"

#include "atdesk/handles/curl.hpp"

#include <curl/curl.h>
#include <algorithm>
#include <memory>

namespace atdesk::cli {
namespace {

struct MimeDeleter {
  void operator()(curl_mime* mime) const { curl_mime_free(mime); }
};
using MimePtr = std::unique_ptr<curl_mime, MimeDeleter>;
using handles::CurlPtr;
using SlistPtr = handles::CurlSlistPtr;

std::size_t collect(char* data, std::size_t size, std::size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

bool append_header(SlistPtr& list, const std::string& header) {
  return handles::append_header(list, header.c_str());
}

}  // namespace

Result<Response> CurlTransport::send(const Request& request) {
  CurlPtr curl(curl_easy_init());
  if (!curl) return fail(Errc::internal, "cannot create a libcurl handle");
  CURL* h = curl.get();
  const std::string url = join_url(settings_.base_url, request.target());
  Response response;
  char error_buffer[CURL_ERROR_SIZE] = {};

  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &response.body);
  // At most a day, so the conversion to milliseconds cannot overflow.
  const double timeout = std::clamp(settings_.timeout_seconds, 0.001, 86400.0);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout * 1000.0));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min(timeout, 10.0) * 1000.0));
  curl_easy_setopt(h, CURLOPT_USERAGENT, "atdesk-cli/0.1");
  if (!settings_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, settings_.ca_file.c_str());
  // The token must not follow a redirect to another host.
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);

  SlistPtr headers;
  bool ok = append_header(headers, "Accept: application/json") && append_header(headers, "Expect:");
  if (request.authenticated) {
    ok = ok && append_header(headers, "Authorization: Bearer " + request.bearer_token);
  }
  std::string json_body;
  MimePtr mime;
  if (request.json) {
    json_body = request.json->dump();
    ok = ok && append_header(headers, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, json_body.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(json_body.size()));
  } else if (request.raw_body) {
    ok = ok && append_header(headers, "Content-Type: " + request.raw_content_type);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.raw_body->c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.raw_body->size()));
  } else if (!request.form.empty()) {
    mime.reset(curl_mime_init(h));
    if (!mime) return fail(Errc::internal, "cannot create a libcurl multipart body");
    for (const auto& part : request.form) {
      curl_mimepart* p = curl_mime_addpart(mime.get());
      if (p == nullptr) return fail(Errc::internal, "cannot add a multipart part");
      curl_mime_name(p, part.name.c_str());
      if (part.file) {
        if (curl_mime_filedata(p, part.file->c_str()) != CURLE_OK) {
          return fail(Errc::io, part.file->string() + ": cannot read the file");
        }
        curl_mime_filename(p, part.filename.c_str());
        curl_mime_type(p, part.content_type.c_str());
      } else {
        curl_mime_data(p, part.value.data(), part.value.size());
      }
    }
    curl_easy_setopt(h, CURLOPT_MIMEPOST, mime.get());
  }
  if (!ok) return fail(Errc::internal, "cannot build the request headers");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  if (request.method == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else if (request.method != "POST" ||
             (!request.json && !request.raw_body && request.form.empty())) {
    // PUT/DELETE with a body, and a POST without one, keep curl's body handling.
    if (request.method == "POST") {
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(0));
    }
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }

  const CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    std::string detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc);
    curl_off_t connect_time = 0;
    curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect_time);
    switch (rc) {
      case CURLE_COULDNT_CONNECT:
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_RESOLVE_PROXY:
      case CURLE_SSL_CONNECT_ERROR:
        return fail(Errc::unavailable, detail);
      case CURLE_OPERATION_TIMEDOUT:
        if (connect_time == 0) return fail(Errc::unavailable, detail);
        return fail(Errc::timeout, url + ": atdeskd did not answer in time: " + detail);
      case CURLE_READ_ERROR:
        return fail(Errc::io, "cannot read the file to upload: " + detail);
      case CURLE_URL_MALFORMAT:
      case CURLE_UNSUPPORTED_PROTOCOL:
        return fail(Errc::invalid_argument, url + ": " + detail);
      default:
        return fail(Errc::io, url + ": " + detail);
    }
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
  char* type = nullptr;
  curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &type);
  if (type != nullptr) response.content_type = type;
  return response;
}

}  // namespace atdesk::cli
