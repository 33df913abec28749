#include "raster_tiff.hpp"

#include <cstring>
#include <fstream>
#include <iterator>

namespace atdesk::ippd {
namespace fs = std::filesystem;

std::size_t RasterPage::bytes_per_line() const {
  switch (kind) {
    case RasterKind::black_1:
      return (width + 7) / 8;
    case RasterKind::black_8:
    case RasterKind::sgray_8:
      return width;
    case RasterKind::srgb_8:
      return std::size_t{width} * 3;
  }
  return 0;
}

TiffPages::TiffPages(fs::path file, TIFF* tiff) : file_(std::move(file)), tiff_(tiff) {}

TiffPages::~TiffPages() {
  tiff_.reset();
  std::error_code ec;
  fs::remove(file_, ec);  // finish() was not reached: the job was cancelled or failed
}

Result<std::unique_ptr<TiffPages>> TiffPages::create(const fs::path& file) {
  TIFF* t = TIFFOpen(file.c_str(), "w");
  if (!t) return fail(Errc::io, file.string() + ": cannot create the TIFF for a raster job");
  return std::unique_ptr<TiffPages>(new TiffPages(file, t));
}

Result<void> TiffPages::start_page(const RasterPage& p) {
  if (in_page_) return fail(Errc::internal, "raster: a page started before the last one ended");
  if (p.width == 0 || p.height == 0 || p.width > 100'000 || p.height > 100'000) {
    return fail(Errc::invalid_argument, "raster page " + std::to_string(pages_ + 1) + ": size " +
                                            std::to_string(p.width) + "x" +
                                            std::to_string(p.height) + " out of range");
  }
  TIFF* t = tiff_.get();
  TIFFSetField(t, TIFFTAG_IMAGEWIDTH, p.width);
  TIFFSetField(t, TIFFTAG_IMAGELENGTH, p.height);
  TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
  TIFFSetField(t, TIFFTAG_RESOLUTIONUNIT, RESUNIT_INCH);
  TIFFSetField(t, TIFFTAG_XRESOLUTION, static_cast<float>(p.x_dpi ? p.x_dpi : 300));
  TIFFSetField(t, TIFFTAG_YRESOLUTION, static_cast<float>(p.y_dpi ? p.y_dpi : 300));
  TIFFSetField(t, TIFFTAG_SUBFILETYPE, FILETYPE_PAGE);
  TIFFSetField(t, TIFFTAG_PAGENUMBER, static_cast<uint16_t>(pages_), static_cast<uint16_t>(0));
  switch (p.kind) {
    case RasterKind::black_1:
      TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 1);
      TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
      TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISWHITE);
      TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_CCITTFAX4);
      TIFFSetField(t, TIFFTAG_FILLORDER, FILLORDER_MSB2LSB);
      break;
    case RasterKind::black_8:
    case RasterKind::sgray_8:
      TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
      TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
      TIFFSetField(t, TIFFTAG_PHOTOMETRIC,
                   p.kind == RasterKind::black_8 ? PHOTOMETRIC_MINISWHITE : PHOTOMETRIC_MINISBLACK);
      TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_ADOBE_DEFLATE);
      break;
    case RasterKind::srgb_8:
      TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
      TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 3);
      TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_RGB);
      TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_ADOBE_DEFLATE);
      break;
  }
  TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, TIFFDefaultStripSize(t, 0));
  page_ = p;
  in_page_ = true;
  next_line_ = 0;
  const unsigned char white =
      (p.kind == RasterKind::black_1 || p.kind == RasterKind::black_8) ? 0x00 : 0xff;
  white_.assign(p.bytes_per_line(), white);
  return {};
}

Result<void> TiffPages::write_line(std::uint32_t y, const unsigned char* line) {
  if (!in_page_) return fail(Errc::internal, "raster: a line outside a page");
  if (y < next_line_ || y >= page_.height) {
    return fail(Errc::invalid_argument, "raster page " + std::to_string(pages_ + 1) + ": line " +
                                            std::to_string(y) + " out of order");
  }
  // Lines the raster skipped are white.
  while (next_line_ < y) {
    if (TIFFWriteScanline(tiff_.get(), white_.data(), next_line_++, 0) < 0)
      return fail(Errc::io, file_.string() + ": cannot write a raster line");
  }
  // libtiff takes a non-const buffer but does not change it for these compressions.
  if (TIFFWriteScanline(tiff_.get(), const_cast<unsigned char*>(line), next_line_++, 0) < 0) {
    return fail(Errc::io, file_.string() + ": cannot write a raster line");
  }
  return {};
}

Result<void> TiffPages::end_page() {
  if (!in_page_) return fail(Errc::internal, "raster: a page ended that was not started");
  while (next_line_ < page_.height) {
    if (TIFFWriteScanline(tiff_.get(), white_.data(), next_line_++, 0) < 0)
      return fail(Errc::io, file_.string() + ": cannot write a raster line");
  }
  if (!TIFFWriteDirectory(tiff_.get())) {
    return fail(Errc::io,
                file_.string() + ": cannot write raster page " + std::to_string(pages_ + 1));
  }
  in_page_ = false;
  ++pages_;
  return {};
}

Result<std::vector<std::byte>> TiffPages::finish() {
  if (in_page_) return fail(Errc::internal, "raster: the job ended inside a page");
  if (pages_ == 0) return fail(Errc::invalid_argument, "raster: the job has no page");
  tiff_.reset();
  std::ifstream in(file_, std::ios::binary);
  if (!in) return fail(Errc::io, file_.string() + ": cannot read the TIFF back");
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(raw.size());
  std::memcpy(out.data(), raw.data(), raw.size());
  std::error_code ec;
  fs::remove(file_, ec);
  return out;
}

}  // namespace atdesk::ippd
