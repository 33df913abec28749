// TIFF -> printable PDF. CCITT pages are carried over as they are (no decode, no re-encode);
// other pages are decoded and embedded losslessly.
#include <zlib.h>

#include <algorithm>
#include <string_view>

#include "pdf_input.hpp"
#include "pdf_writer.hpp"
#include "tiff_reader.hpp"

namespace atdesk::document {
namespace detail {
namespace {

constexpr std::uint64_t kMaxRgbaPixels = 40'000'000;

Result<Bytes> deflate(const std::vector<unsigned char>& raw, std::string_view name, int index) {
  uLongf size = compressBound(static_cast<uLong>(raw.size()));
  Bytes out(size);
  if (compress2(reinterpret_cast<Bytef*>(out.data()), &size, raw.data(),
                static_cast<uLong>(raw.size()), 6) != Z_OK) {
    return fail(Errc::internal, page_error(name, index, "compression failed"));
  }
  out.resize(size);
  return out;
}

// CCITT data of a single-strip page, unchanged but for the bit order PDF expects.
Result<PdfImage> ccitt_passthrough(TIFF* t, const TiffReader::Page& p, std::string_view name,
                                   int index) {
  const auto size = TIFFGetStrileByteCount(t, 0);
  Bytes data(size);
  const auto n = TIFFReadRawStrip(t, 0, data.data(), static_cast<tmsize_t>(size));
  if (n <= 0) return fail(Errc::invalid_argument, page_error(name, index, "cannot read its data"));
  data.resize(static_cast<std::size_t>(n));
  if (p.fill_order == FILLORDER_LSB2MSB) {
    TIFFReverseBits(reinterpret_cast<uint8_t*>(data.data()), static_cast<tmsize_t>(data.size()));
  }
  PdfImage im;
  im.width = static_cast<int>(p.info.width_px);
  im.height = static_cast<int>(p.info.height_px);
  im.bits_per_component = 1;
  im.filter = "/CCITTFaxDecode";
  int k = -1;
  bool byte_align = false;
  if (p.compression_tag == COMPRESSION_CCITTFAX3) {
    k = (p.group3_options & GROUP3OPT_2DENCODING) ? 1 : 0;
    byte_align = (p.group3_options & GROUP3OPT_FILLBITS) != 0;
  }
  im.decode_parms = "<< /K " + std::to_string(k) + " /Columns " + std::to_string(im.width) +
                    " /Rows " + std::to_string(im.height) +
                    (byte_align ? " /EncodedByteAlign true" : "") + " /BlackIs1 false >>";
  // CCITT codes runs of 0-bits as "white". With min-is-black, 0 means black: invert.
  if (p.photometric == PHOTOMETRIC_MINISBLACK) im.decode = "[1 0]";
  im.data = std::move(data);
  return im;
}

// Decodes a page with libtiff and embeds it losslessly.
Result<PdfImage> decoded(TIFF* t, const TiffReader& reader, const TiffReader::Page& p,
                         std::string_view name, int index) {
  const auto w = p.info.width_px, h = p.info.height_px;
  PdfImage im;
  im.width = static_cast<int>(w);
  im.height = static_cast<int>(h);
  im.filter = "/FlateDecode";
  std::vector<unsigned char> raw;
  const bool gray = p.samples_per_pixel == 1 && (p.photometric == PHOTOMETRIC_MINISWHITE ||
                                                 p.photometric == PHOTOMETRIC_MINISBLACK);
  if (gray) {
    const auto line = static_cast<std::size_t>(TIFFScanlineSize(t));
    const std::size_t expected = p.bits_per_sample == 1 ? (w + 7) / 8 : w;
    if (line < expected) {
      return fail(Errc::invalid_argument, page_error(name, index, "unexpected scanline size"));
    }
    raw.resize(expected * h);
    std::vector<unsigned char> buf(line);
    for (std::uint32_t y = 0; y < h; ++y) {
      if (TIFFReadScanline(t, buf.data(), y, 0) < 0) {
        return fail(Errc::invalid_argument, page_error(name, index,
                                                       "cannot decode row " + std::to_string(y) +
                                                           ": " + reader.last_error()));
      }
      std::copy_n(buf.begin(), expected, raw.begin() + static_cast<std::ptrdiff_t>(y * expected));
    }
    im.bits_per_component = p.bits_per_sample;
    if (p.photometric == PHOTOMETRIC_MINISWHITE) im.decode = "[1 0]";
  } else {
    if (static_cast<std::uint64_t>(w) * h > kMaxRgbaPixels) {
      return fail(Errc::limit_exceeded,
                  page_error(name, index,
                             "colour page too large to convert (" + std::to_string(w) + " x " +
                                 std::to_string(h) + ")"));
    }
    std::vector<std::uint32_t> rgba(static_cast<std::size_t>(w) * h);
    if (!TIFFReadRGBAImageOriented(t, w, h, rgba.data(), ORIENTATION_TOPLEFT, 0)) {
      return fail(Errc::invalid_argument,
                  page_error(name, index, "cannot decode: " + reader.last_error()));
    }
    raw.reserve(rgba.size() * 3);
    for (auto px : rgba) {
      raw.push_back(static_cast<unsigned char>(TIFFGetR(px)));
      raw.push_back(static_cast<unsigned char>(TIFFGetG(px)));
      raw.push_back(static_cast<unsigned char>(TIFFGetB(px)));
    }
    im.bits_per_component = 8;
    im.color_space = "/DeviceRGB";
  }
  auto z = deflate(raw, name, index);
  if (!z) return fail(z.error());
  im.data = std::move(*z);
  return im;
}

}  // namespace
}  // namespace detail

Result<Bytes> to_printable_pdf(std::span<const std::byte> data, std::string_view name,
                               const Limits& limits) {
  auto info = probe(data, name, limits);
  if (!info) return fail(info.error());
  if (info->format == DocumentFormat::pdf) {
    // Readers accept bytes before the "%PDF-" header (probe looks in the first 1024 bytes), but a
    // printer sniffing the format may not: what is printed starts with the header.
    const std::string_view head(reinterpret_cast<const char*>(data.data()),
                                std::min<std::size_t>(data.size(), 1024));
    auto start = head.find("%PDF-");
    if (start == std::string_view::npos) start = 0;
    return Bytes(data.begin() + static_cast<std::ptrdiff_t>(start), data.end());
  }

  auto reader = detail::TiffReader::open(data, name);
  if (!reader) return fail(reader.error());
  TIFF* t = (*reader)->tiff();
  std::vector<detail::PdfPage> pages;
  for (int i = 0; i < static_cast<int>(info->pages.size()); ++i) {
    if (!TIFFSetDirectory(t, static_cast<tdir_t>(i))) {
      return fail(Errc::invalid_argument, detail::page_error(name, i, "cannot be read"));
    }
    auto page = (*reader)->page(i, limits);
    if (!page) return fail(page.error());
    const bool ccitt = page->compression_tag == COMPRESSION_CCITTFAX3 ||
                       page->compression_tag == COMPRESSION_CCITTFAX4;
    auto image = ccitt && page->strips == 1 ? detail::ccitt_passthrough(t, *page, name, i)
                                            : detail::decoded(t, **reader, *page, name, i);
    if (!image) return fail(image.error());
    pages.push_back({page->info.width_pt, page->info.height_pt, std::move(*image)});
  }
  return detail::write_pdf(pages);
}

}  // namespace atdesk::document
