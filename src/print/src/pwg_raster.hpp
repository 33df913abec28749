// PDF -> PWG Raster (PWG 5102.4) for printers that do not take PDF: each page rendered with
// poppler at the printer's resolution and written with libcups' raster writer. Private to
// atdesk::print.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "atdesk/core/error.hpp"
#include "media.hpp"

namespace atdesk::print::detail {

enum class RasterType { sgray_8, black_1 };

struct RasterSettings {
  int dpi = 300;
  RasterType type = RasterType::sgray_8;
  int max_pages = 500;
  // The medium the pages go on (a PWG keyword with its size): each page is scaled to fit it and
  // centred. Empty keyword: each page at its own size.
  MediaSize media;
};

// The size of the document's largest page, portrait (hundredths of millimetres).
Result<MediaSize> pdf_page_size(std::span<const std::byte> pdf, const std::string& who);

// `who` starts error messages ("printer lobby (ipp://...)").
Result<std::vector<std::byte>> pdf_to_pwg_raster(std::span<const std::byte> pdf,
                                                 const RasterSettings& settings,
                                                 const std::string& who);

}  // namespace atdesk::print::detail
