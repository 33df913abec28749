// Decodes every page of a 1-bit TIFF into rows of packed pixels (MSB first, 1 = black), for
// comparing a sent fax with the received one pixel for pixel.
#pragma once

#include <tiffio.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace atdesk::testing {

struct TiffPage {
  std::uint32_t width = 0;
  std::vector<std::vector<std::uint8_t>> rows;
};

inline std::vector<TiffPage> tiff_pages(const std::string& path) {
  std::vector<TiffPage> pages;
  TIFF* tif = TIFFOpen(path.c_str(), "r");
  if (!tif) return pages;
  do {
    TiffPage page;
    std::uint32_t height = 0;
    std::uint16_t photometric = PHOTOMETRIC_MINISWHITE;
    TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &page.width);
    TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &height);
    TIFFGetFieldDefaulted(tif, TIFFTAG_PHOTOMETRIC, &photometric);
    std::vector<std::uint8_t> row(static_cast<std::size_t>(TIFFScanlineSize(tif)));
    for (std::uint32_t y = 0; y < height; ++y) {
      if (TIFFReadScanline(tif, row.data(), y, 0) < 0) break;
      auto r = row;
      if (photometric == PHOTOMETRIC_MINISBLACK) {
        for (auto& b : r) b = static_cast<std::uint8_t>(~b);
      }
      page.rows.push_back(std::move(r));
    }
    pages.push_back(std::move(page));
  } while (TIFFReadDirectory(tif));
  TIFFClose(tif);
  return pages;
}

// The pages of a TIFF held in memory; it is written to `path` first (kept for a failure's
// post-mortem).
template <typename Bytes>
std::vector<TiffPage> tiff_pages_of(const Bytes& data, const std::string& path) {
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(data.data()),
              static_cast<std::streamsize>(data.size()));
  }
  return tiff_pages(path);
}

}  // namespace atdesk::testing
