// document::to_printable_pdf, then the first page of the result rendered as a small PNG.
// Small limits keep every input fast; what passes them must give a PDF that renders.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "atdesk/document/document.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  atdesk::document::Limits limits;
  limits.max_file_bytes = 256u << 10;
  limits.max_pages = 4;
  limits.max_width_px = 2500;
  limits.max_height_px = 3500;
  limits.max_pixels_per_page = 4'000'000;
  limits.max_page_inches = 20.0;
  const std::span bytes(reinterpret_cast<const std::byte*>(data), size);
  const auto pdf = atdesk::document::to_printable_pdf(bytes, "fuzz.tif", limits);
  atdesk::fuzz::check_error(pdf);
  if (!pdf) return 0;
  FUZZ_CHECK(pdf->size() > 5 && std::memcmp(pdf->data(), "%PDF-", 5) == 0);
  const auto png = atdesk::document::render_png(*pdf, "fuzz.pdf", 0, 48, limits);
  atdesk::fuzz::check_error(png);
  if (png) {
    static constexpr unsigned char kPngMagic[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    FUZZ_CHECK(png->size() > sizeof kPngMagic &&
               std::memcmp(png->data(), kPngMagic, sizeof kPngMagic) == 0);
  }
  return 0;
}
