// The HTTP PUT of an XEP-0363 upload slot, with libcurl.
#pragma once

#include <chrono>
#include <cstddef>
#include <span>
#include <string>

#include "atdesk/core/error.hpp"
#include "stanzas.hpp"

namespace atdesk::chat::xmpp {

struct UploadOptions {
  std::string content_type = "image/png";
  std::string ca_file;  // extra CA bundle, "" = system
  bool insecure = false;
  std::chrono::milliseconds timeout{5000};
};

// PUTs `data` to the slot's put URL with its headers; success is a 2xx answer.
Result<void> http_put(const UploadSlot& slot, std::span<const std::byte> data,
                      const UploadOptions& options);

}  // namespace atdesk::chat::xmpp
