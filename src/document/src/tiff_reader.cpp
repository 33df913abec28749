#include "tiff_reader.hpp"

#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace atdesk::document::detail {
namespace {

using Memory = TiffReader::Memory;

tmsize_t mem_read(thandle_t h, void* buf, tmsize_t size) {
  auto* m = static_cast<Memory*>(h);
  if (size <= 0 || m->pos >= m->size) return 0;
  const auto n = std::min<std::uint64_t>(static_cast<std::uint64_t>(size), m->size - m->pos);
  std::memcpy(buf, m->data + m->pos, n);
  m->pos += n;
  return static_cast<tmsize_t>(n);
}
tmsize_t mem_write(thandle_t, void*, tmsize_t) {
  return -1;
}
toff_t mem_seek(thandle_t h, toff_t off, int whence) {
  auto* m = static_cast<Memory*>(h);
  std::uint64_t base = whence == SEEK_CUR ? m->pos : whence == SEEK_END ? m->size : 0;
  const auto target = base + off;
  if (target > m->size) return static_cast<toff_t>(-1);
  m->pos = target;
  return m->pos;
}
int mem_close(thandle_t) {
  return 0;
}
toff_t mem_size(thandle_t h) {
  return static_cast<Memory*>(h)->size;
}
int mem_map(thandle_t, void**, toff_t*) {
  return 0;
}
void mem_unmap(thandle_t, void*, toff_t) {}

Compression compression_of(std::uint16_t tag, std::uint32_t g3_options) {
  switch (tag) {
    case COMPRESSION_CCITTFAX3:
      return (g3_options & GROUP3OPT_2DENCODING) ? Compression::ccitt_g3_2d
                                                 : Compression::ccitt_g3_1d;
    case COMPRESSION_CCITTFAX4:
      return Compression::ccitt_g4;
    case COMPRESSION_NONE:
      return Compression::none;
    case COMPRESSION_LZW:
      return Compression::lzw;
    case COMPRESSION_ADOBE_DEFLATE:
    case COMPRESSION_DEFLATE:
      return Compression::deflate;
    case COMPRESSION_JPEG:
      return Compression::jpeg;
    case COMPRESSION_PACKBITS:
      return Compression::packbits;
    default:
      return Compression::other;
  }
}

}  // namespace

int capture_error(TIFF*, void* user, const char* module, const char* fmt, va_list ap) {
  auto* reader = static_cast<TiffReader*>(user);
  char buf[512];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  reader->error_ = (module && *module ? std::string(module) + ": " : std::string()) + buf;
  return 1;  // handled: libtiff prints nothing
}

namespace {
int ignore_warning(TIFF*, void*, const char*, const char*, va_list) {
  return 1;
}
}  // namespace

std::string page_error(std::string_view name, int index, std::string_view what) {
  return std::string(name) + ": page " + std::to_string(index + 1) + ": " + std::string(what);
}

Result<std::unique_ptr<TiffReader>> TiffReader::open(std::span<const std::byte> data,
                                                     std::string_view name) {
  std::unique_ptr<TiffReader> r(new TiffReader());
  r->name_ = std::string(name);
  r->memory_ = {reinterpret_cast<const unsigned char*>(data.data()), data.size(), 0};
  r->options_ = TIFFOpenOptionsAlloc();
  TIFFOpenOptionsSetErrorHandlerExtR(r->options_, capture_error, r.get());
  TIFFOpenOptionsSetWarningHandlerExtR(r->options_, ignore_warning, r.get());
  // A cap on any single allocation libtiff makes: a hostile header cannot ask for gigabytes.
  TIFFOpenOptionsSetMaxSingleMemAlloc(r->options_, 256 << 20);
  // "m": no memory mapping; "h": read the header only lazily is not wanted, so plain "r".
  r->tiff_.reset(TIFFClientOpenExt(r->name_.c_str(), "rm", &r->memory_, mem_read, mem_write,
                                   mem_seek, mem_close, mem_size, mem_map, mem_unmap, r->options_));
  if (!r->tiff_) {
    return fail(Errc::invalid_argument,
                r->name_ + ": not a readable TIFF (" +
                    (r->error_.empty() ? std::string("bad header") : r->error_) + ")");
  }
  return r;
}

TiffReader::~TiffReader() {
  tiff_.reset();
  if (options_) TIFFOpenOptionsFree(options_);
}

Result<TiffReader::Page> TiffReader::page(int index, const Limits& limits) const {
  TIFF* t = tiff_.get();
  Page p;
  std::uint32_t w = 0, h = 0;
  if (!TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h) ||
      w == 0 || h == 0) {
    return fail(Errc::invalid_argument, page_error(name_, index, "no image width/length"));
  }
  if (w > limits.max_width_px) {
    return fail(Errc::limit_exceeded,
                page_error(name_, index,
                           "width " + std::to_string(w) + " px exceeds the limit " +
                               std::to_string(limits.max_width_px)));
  }
  if (h > limits.max_height_px) {
    return fail(Errc::limit_exceeded,
                page_error(name_, index,
                           "height " + std::to_string(h) + " px exceeds the limit " +
                               std::to_string(limits.max_height_px)));
  }
  if (static_cast<std::uint64_t>(w) * h > limits.max_pixels_per_page) {
    return fail(
        Errc::limit_exceeded,
        page_error(name_, index,
                   std::to_string(w) + " x " + std::to_string(h) + " px exceeds the limit of " +
                       std::to_string(limits.max_pixels_per_page) + " pixels per page"));
  }
  TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &p.bits_per_sample);
  TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &p.samples_per_pixel);
  TIFFGetFieldDefaulted(t, TIFFTAG_COMPRESSION, &p.compression_tag);
  TIFFGetFieldDefaulted(t, TIFFTAG_FILLORDER, &p.fill_order);
  if (!TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &p.photometric)) {
    p.photometric = PHOTOMETRIC_MINISWHITE;
  }
  if (p.compression_tag == COMPRESSION_CCITTFAX3) {
    TIFFGetFieldDefaulted(t, TIFFTAG_GROUP3OPTIONS, &p.group3_options);
  }
  p.strips = TIFFNumberOfStrips(t);
  const bool ccitt = p.compression_tag == COMPRESSION_CCITTFAX3 ||
                     p.compression_tag == COMPRESSION_CCITTFAX4 ||
                     p.compression_tag == COMPRESSION_CCITTRLE;
  if (ccitt && p.bits_per_sample != 1) {
    return fail(Errc::invalid_argument,
                page_error(name_, index,
                           "CCITT compression needs 1 bit per sample, got " +
                               std::to_string(p.bits_per_sample)));
  }
  if (p.bits_per_sample != 1 && p.bits_per_sample != 8) {
    return fail(Errc::unsupported, page_error(name_, index,
                                              std::to_string(p.bits_per_sample) +
                                                  " bits per sample (expected 1 or 8)"));
  }
  if (p.samples_per_pixel != 1 && p.samples_per_pixel != 3 && p.samples_per_pixel != 4) {
    return fail(Errc::unsupported, page_error(name_, index,
                                              std::to_string(p.samples_per_pixel) +
                                                  " samples per pixel (expected 1, 3 or 4)"));
  }
  if (TIFFIsTiled(t)) {
    return fail(Errc::unsupported, page_error(name_, index, "tiled TIFF pages are not supported"));
  }

  float xres = 0, yres = 0;
  std::uint16_t unit = RESUNIT_INCH;
  const bool has_res = TIFFGetField(t, TIFFTAG_XRESOLUTION, &xres) &&
                       TIFFGetField(t, TIFFTAG_YRESOLUTION, &yres) && xres > 0 && yres > 0;
  TIFFGetFieldDefaulted(t, TIFFTAG_RESOLUTIONUNIT, &unit);
  if (!has_res) {
    // Fax TIFFs without resolution: take fine fax resolution, the most common one.
    xres = 204;
    yres = 196;
    p.resolution_assumed = true;
  } else if (unit == RESUNIT_CENTIMETER) {
    xres *= 2.54f;
    yres *= 2.54f;
  }
  if (xres < 10 || yres < 10 || xres > 2400 || yres > 2400) {
    // "%.0f", not a cast to int: a resolution from the file may be far beyond int's range.
    const auto dpi = [](float v) {
      char text[64];
      std::snprintf(text, sizeof text, "%.0f", static_cast<double>(v));
      return std::string(text);
    };
    return fail(Errc::invalid_argument, page_error(name_, index,
                                                   "resolution " + dpi(xres) + " x " + dpi(yres) +
                                                       " dpi is outside 10-2400 dpi"));
  }
  p.info.width_px = w;
  p.info.height_px = h;
  p.info.x_dpi = xres;
  p.info.y_dpi = yres;
  p.info.width_pt = w / xres * 72.0;
  p.info.height_pt = h / yres * 72.0;
  if (p.info.width_pt / 72.0 > limits.max_page_inches ||
      p.info.height_pt / 72.0 > limits.max_page_inches) {
    return fail(
        Errc::limit_exceeded,
        page_error(name_, index,
                   "page size exceeds " + std::to_string(static_cast<int>(limits.max_page_inches)) +
                       " inches"));
  }
  p.info.compression = compression_of(p.compression_tag, p.group3_options);

  // A page whose compressed data is far smaller than any real image of that size could be, or a
  // strip that claims more bytes than the file has, is refused before anything is decoded.
  std::uint64_t compressed = 0;
  for (std::uint32_t s = 0; s < p.strips; ++s) {
    const auto n = TIFFGetStrileByteCount(t, s);
    if (n > memory_.size) {
      return fail(Errc::invalid_argument,
                  page_error(name_, index,
                             "strip " + std::to_string(s) + " claims " + std::to_string(n) +
                                 " bytes, more than the file"));
    }
    compressed += n;
  }
  if (p.strips == 0 || compressed == 0) {
    return fail(Errc::invalid_argument, page_error(name_, index, "has no image data"));
  }
  return p;
}

}  // namespace atdesk::document::detail
