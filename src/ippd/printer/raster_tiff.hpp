// Raster pages as PAPPL hands them to a driver (line by line, no spool file) turned into one
// multi-page TIFF that atdesk stores like a fax: 1-bit black pages as CCITT G4, 8-bit grey and
// 24-bit sRGB pages with Deflate. Written to a file in atdesk-ippd's 0700 spool folder, read
// back whole when the job ends and removed.
#pragma once

#include <tiffio.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "atdesk/core/error.hpp"

namespace atdesk::ippd {

enum class RasterKind {
  black_1,  // 1 bit per pixel, 1 = black (PWG "black_1")
  black_8,  // 8 bits, 255 = black (PWG "black_8")
  sgray_8,  // 8 bits, 0 = black (PWG "sgray_8")
  srgb_8,   // 3 x 8 bits (PWG "srgb_8")
};

struct RasterPage {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  RasterKind kind = RasterKind::black_1;
  unsigned x_dpi = 300;
  unsigned y_dpi = 300;
  std::size_t bytes_per_line() const;
};

class TiffPages {
 public:
  static Result<std::unique_ptr<TiffPages>> create(const std::filesystem::path& file);
  ~TiffPages();
  TiffPages(const TiffPages&) = delete;
  TiffPages& operator=(const TiffPages&) = delete;

  Result<void> start_page(const RasterPage& page);
  // `line` holds bytes_per_line() bytes; lines are written in order from y = 0.
  Result<void> write_line(std::uint32_t y, const unsigned char* line);
  // Lines not written are left white.
  Result<void> end_page();
  // Closes the file and returns its bytes; the file is removed.
  Result<std::vector<std::byte>> finish();
  int pages() const { return pages_; }

 private:
  explicit TiffPages(std::filesystem::path file, TIFF* tiff);
  struct Closer {
    void operator()(TIFF* t) const { TIFFClose(t); }
  };
  std::filesystem::path file_;
  std::unique_ptr<TIFF, Closer> tiff_;
  RasterPage page_;
  bool in_page_ = false;
  std::uint32_t next_line_ = 0;
  std::vector<unsigned char> white_;
  int pages_ = 0;
};

}  // namespace atdesk::ippd
