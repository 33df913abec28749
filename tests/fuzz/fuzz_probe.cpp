// document::probe over any bytes: a TIFF or PDF is validated page by page against the limits.
#include <cstddef>
#include <cstdint>
#include <span>

#include "atdesk/document/document.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  atdesk::document::Limits limits;
  limits.max_file_bytes = 1u << 20;
  limits.max_pages = 16;
  const std::span bytes(reinterpret_cast<const std::byte*>(data), size);
  const auto info = atdesk::document::probe(bytes, "fuzz.tif", limits);
  atdesk::fuzz::check_error(info);
  if (info) {
    FUZZ_CHECK(!info->pages.empty());
    FUZZ_CHECK(info->pages.size() <= static_cast<std::size_t>(limits.max_pages));
    for (const auto& page : info->pages) {
      FUZZ_CHECK(page.width_px <= limits.max_width_px && page.height_px <= limits.max_height_px);
      FUZZ_CHECK(page.width_pt >= 0 && page.height_pt >= 0);
    }
  }
  return 0;
}
