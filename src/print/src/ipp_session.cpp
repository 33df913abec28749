#include "ipp_session.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace atdesk::print::detail {
namespace {

// libcups asks for a password on the terminal when a printer wants authentication; a daemon has
// no terminal, so answer "no password" and let the request fail with permission_denied.
const char* no_password(const char*, http_t*, const char*, const char*, void*) {
  return nullptr;
}

std::string errno_text(int err) {
  return err == 0 ? std::string("connection failed") : std::string(std::strerror(err));
}

// Writes are chunked so a large PDF does not sit in one libcups buffer.
constexpr std::size_t kChunk = 64 * 1024;

}  // namespace

Result<IppSession> IppSession::open(const std::string& name, const std::string& uri,
                                    std::chrono::milliseconds timeout) {
  std::string who = "printer " + name + " (" + uri + ")";
  auto endpoint = parse_printer_uri(uri);
  if (!endpoint) return fail(Errc::invalid_argument, who + ": " + endpoint.error().message);

  // Per thread in libcups, so setting it here affects only the calling thread.
  cupsSetPasswordCB2(no_password, nullptr);

  const http_encryption_t encryption =
      endpoint->tls ? HTTP_ENCRYPTION_ALWAYS : HTTP_ENCRYPTION_IF_REQUESTED;
  // msec 0: create the connection object without connecting, so the timeout can be set first
  // and httpReconnect2's errno is still available when connecting fails.
  HttpPtr http(httpConnect2(endpoint->host.c_str(), endpoint->port, nullptr, AF_UNSPEC, encryption,
                            1, 0, nullptr));
  const std::string target = endpoint->host + ":" + std::to_string(endpoint->port);
  if (!http) {
    return fail(Errc::unavailable,
                who + ": cannot resolve " + target + ": " + cupsLastErrorString());
  }
  const auto msec = static_cast<int>(timeout.count());
  httpSetTimeout(http.get(), static_cast<double>(timeout.count()) / 1000.0, nullptr, nullptr);
  if (httpReconnect2(http.get(), msec, nullptr) != 0) {
    const int err = httpError(http.get());
    return fail(Errc::unavailable,
                who + ": cannot connect to " + target + ": " + errno_text(err) +
                    (err == ETIMEDOUT ? " (no answer within " + std::to_string(msec) + " ms)"
                                      : std::string()));
  }
  return IppSession(std::move(http), std::move(*endpoint), uri, std::move(who));
}

void IppSession::set_timeout(std::chrono::milliseconds timeout) {
  httpSetTimeout(http_.get(), static_cast<double>(timeout.count()) / 1000.0, nullptr, nullptr);
}

IppPtr IppSession::new_request(ipp_op_t op) const {
  IppPtr request(ippNewRequest(op));
  ippAddString(request.get(), IPP_TAG_OPERATION, IPP_TAG_URI, "printer-uri", nullptr, uri_.c_str());
  return request;
}

Error IppSession::transport_error(const std::string& operation) const {
  const int err = httpError(http_.get());
  if (err == ETIMEDOUT) {
    return make_error(Errc::timeout, who_ + ": " + operation + " got no answer in time");
  }
  if (err != 0) {
    return make_error(Errc::unavailable,
                      who_ + ": " + operation + " failed: " + std::strerror(err));
  }
  const ipp_status_t status = cupsLastError();
  return make_error(errc_from_ipp_status(status), who_ + ": " + operation +
                                                      " failed: " + ippErrorString(status) + " (" +
                                                      cupsLastErrorString() + ")");
}

Result<IppPtr> IppSession::call(IppPtr request, std::span<const std::byte> document) {
  const std::string operation = ippOpString(ippGetOperation(request.get()));
  const char* resource = endpoint_.resource.c_str();
  IppPtr response;
  if (document.empty()) {
    // cupsDoRequest takes ownership of the request, whatever happens.
    response.reset(cupsDoRequest(http_.get(), request.release(), resource));
  } else {
    // The length is that of the whole HTTP body: the IPP message followed by the document.
    const std::size_t length = ippLength(request.get()) + document.size();
    http_status_t st = cupsSendRequest(http_.get(), request.get(), resource, length);
    for (std::size_t at = 0; st == HTTP_STATUS_CONTINUE && at < document.size(); at += kChunk) {
      const std::size_t n = std::min(kChunk, document.size() - at);
      st =
          cupsWriteRequestData(http_.get(), reinterpret_cast<const char*>(document.data() + at), n);
    }
    // From here on the printer may have created the job although the answer never arrives:
    // the message says so, and the engine looks the job up before it sends it again.
    if (st != HTTP_STATUS_CONTINUE) {
      return std::unexpected(transport_error(operation + " (while sending the document)"));
    }
    response.reset(cupsGetResponse(http_.get(), resource));
    if (!response) {
      return std::unexpected(
          transport_error(operation + " (after the document was sent: the printer may have it)"));
    }
  }
  if (!response) return std::unexpected(transport_error(operation));

  const ipp_status_t status = ippGetStatusCode(response.get());
  if (!ipp_succeeded(status)) {
    std::string detail = ipp_text(response.get(), "status-message");
    return fail(errc_from_ipp_status(status),
                who_ + ": " + operation + " refused: " + ippErrorString(status) +
                    (detail.empty() ? std::string() : " (" + detail + ")"));
  }
  return response;
}

std::optional<int> ipp_integer(ipp_t* response, const char* name) {
  ipp_attribute_t* attr = ippFindAttribute(response, name, IPP_TAG_ZERO);
  if (attr == nullptr) return std::nullopt;
  const ipp_tag_t tag = ippGetValueTag(attr);
  if (tag != IPP_TAG_INTEGER && tag != IPP_TAG_ENUM) return std::nullopt;
  return ippGetInteger(attr, 0);
}

std::optional<bool> ipp_boolean(ipp_t* response, const char* name) {
  ipp_attribute_t* attr = ippFindAttribute(response, name, IPP_TAG_BOOLEAN);
  if (attr == nullptr) return std::nullopt;
  return ippGetBoolean(attr, 0) != 0;
}

std::vector<std::string> ipp_strings(ipp_t* response, const char* name) {
  std::vector<std::string> values;
  ipp_attribute_t* attr = ippFindAttribute(response, name, IPP_TAG_ZERO);
  if (attr == nullptr) return values;
  const int count = ippGetCount(attr);
  for (int i = 0; i < count; ++i) {
    if (const char* value = ippGetString(attr, i, nullptr)) values.emplace_back(value);
  }
  return values;
}

std::string ipp_text(ipp_t* response, const char* name) {
  ipp_attribute_t* attr = ippFindAttribute(response, name, IPP_TAG_ZERO);
  const char* value = attr != nullptr ? ippGetString(attr, 0, nullptr) : nullptr;
  return value != nullptr ? std::string(value) : std::string();
}

}  // namespace atdesk::print::detail
