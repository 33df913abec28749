// api::parse_form_data with a fixed Content-Type and the input as the body; the input's first
// line is also read as a Content-Type by multipart_boundary. Parts are views into the body.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

#include "atdesk/api/multipart.hpp"
#include "fuzz_check.hpp"

namespace api = atdesk::api;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);

  const auto line = body.substr(0, body.find('\n'));
  if (auto boundary = api::multipart_boundary(line); boundary) {
    FUZZ_CHECK(!boundary->empty() && boundary->size() <= 70);
  } else {
    FUZZ_CHECK(!boundary.error().message.empty());
  }

  api::MultipartLimits limits;
  limits.max_parts = 8;
  limits.max_part_bytes = 64 * 1024;
  limits.max_field_bytes = 1024;
  limits.max_header_bytes = 1024;
  const auto parts =
      api::parse_form_data("multipart/form-data; boundary=fuzzBOUNDARY", body, limits);
  atdesk::fuzz::check_error(parts);
  if (!parts) return 0;
  // An empty form ("--B--") is what browsers send for a form without fields.
  FUZZ_CHECK(parts->size() <= limits.max_parts);
  const std::less<const char*> before;
  for (const auto& part : *parts) {
    FUZZ_CHECK(!part.name.empty());
    FUZZ_CHECK(part.data.size() <=
               (part.filename ? limits.max_part_bytes : limits.max_field_bytes));
    // The data lies inside the body.
    FUZZ_CHECK(!before(part.data.data(), body.data()));
    FUZZ_CHECK(!before(body.data() + body.size(), part.data.data() + part.data.size()));
  }
  return 0;
}
