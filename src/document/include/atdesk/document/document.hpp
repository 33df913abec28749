// Fax images and PDFs, safely: probe and validate, normalise to a printable PDF (CCITT data
// carried over as it is), render a page as a PNG preview. Pure functions over bytes; every error
// names the document, the page and the problem.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "atdesk/core/error.hpp"
#include "atdesk/core/job.hpp"

namespace atdesk::document {

using Bytes = std::vector<std::byte>;

struct Limits {
  std::uint64_t max_file_bytes = 64ull << 20;  // 64 MiB
  int max_pages = 500;
  std::uint32_t max_width_px = 10'000;  // a 300-dpi A3 page is ~3500 px
  std::uint32_t max_height_px = 20'000;
  std::uint64_t max_pixels_per_page = 100'000'000;
  double max_page_inches = 60.0;  // either side, for PDF pages
};

enum class Compression {
  ccitt_g3_1d,
  ccitt_g3_2d,
  ccitt_g4,
  none,
  lzw,
  deflate,
  jpeg,
  packbits,
  other
};
std::string_view to_string(Compression c);

struct PageInfo {
  std::uint32_t width_px = 0;   // TIFF only
  std::uint32_t height_px = 0;  // TIFF only
  double x_dpi = 0;             // TIFF only
  double y_dpi = 0;             // TIFF only
  double width_pt = 0;          // page size in points (1/72 in)
  double height_pt = 0;
  Compression compression = Compression::other;
};

struct DocumentInfo {
  DocumentFormat format = DocumentFormat::tiff;
  std::vector<PageInfo> pages;
};

// Identifies the format from the first bytes and validates every page against `limits`.
// `name` is used in error messages ("fax.tif: page 3: width 40000 px exceeds the limit 10000").
Result<DocumentInfo> probe(std::span<const std::byte> data, std::string_view name,
                           const Limits& limits);

// A PDF a printer takes: a TIFF becomes a PDF with one page per TIFF page, CCITT data embedded
// unchanged (CCITTFaxDecode), page size from pixels and resolution; other TIFF compressions are
// decoded and embedded losslessly (FlateDecode). A PDF is validated and returned as it is.
Result<Bytes> to_printable_pdf(std::span<const std::byte> data, std::string_view name,
                               const Limits& limits);

// PNG of one page (0-based) that fits in max_px x max_px, preserving the aspect ratio.
Result<Bytes> render_png(std::span<const std::byte> data, std::string_view name, int page,
                         int max_px, const Limits& limits);

}  // namespace atdesk::document
