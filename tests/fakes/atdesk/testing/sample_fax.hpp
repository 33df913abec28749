// Builds fax TIFFs for tests with libtiff: 1-bit pages, CCITT G4 (or G3), fine resolution,
// each page with a black bar whose position depends on the page number.
#pragma once

#include <tiffio.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace atdesk::testing {

inline std::vector<std::byte> sample_fax(int pages, int compression = COMPRESSION_CCITTFAX4,
                                         std::uint32_t width = 1728, std::uint32_t height = 400) {
  char path[] = "/tmp/atdesk-sample-XXXXXX";
  const int fd = mkstemp(path);
  if (fd >= 0) close(fd);
  TIFF* tif = TIFFOpen(path, "w");
  std::vector<unsigned char> row((width + 7) / 8);
  for (int p = 0; p < pages; ++p) {
    TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, width);
    TIFFSetField(tif, TIFFTAG_IMAGELENGTH, height);
    TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, 1);
    TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, 1);
    TIFFSetField(tif, TIFFTAG_COMPRESSION, compression);
    TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISWHITE);
    TIFFSetField(tif, TIFFTAG_FILLORDER, FILLORDER_MSB2LSB);
    TIFFSetField(tif, TIFFTAG_XRESOLUTION, 204.0);
    TIFFSetField(tif, TIFFTAG_YRESOLUTION, 196.0);
    TIFFSetField(tif, TIFFTAG_RESOLUTIONUNIT, RESUNIT_INCH);
    TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, height);
    TIFFSetField(tif, TIFFTAG_SUBFILETYPE, FILETYPE_PAGE);
    TIFFSetField(tif, TIFFTAG_PAGENUMBER, p, pages);
    for (std::uint32_t y = 0; y < height; ++y) {
      std::fill(row.begin(), row.end(), 0);
      const bool bar = y >= 40u + 20u * static_cast<unsigned>(p % 10) &&
                       y < 60u + 20u * static_cast<unsigned>(p % 10);
      // A black bar from byte 10 to 100 of the row, or what of it fits a narrow page.
      const auto from = std::min<std::size_t>(10, row.size());
      const auto to = std::min<std::size_t>(100, row.size());
      if (bar)
        std::fill(row.begin() + static_cast<std::ptrdiff_t>(from),
                  row.begin() + static_cast<std::ptrdiff_t>(to), 0xff);
      TIFFWriteScanline(tif, row.data(), y, 0);
    }
    TIFFWriteDirectory(tif);
  }
  TIFFClose(tif);
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::filesystem::remove(path);
  std::vector<std::byte> out(bytes.size());
  for (std::size_t i = 0; i < bytes.size(); ++i) out[i] = static_cast<std::byte>(bytes[i]);
  return out;
}

}  // namespace atdesk::testing
