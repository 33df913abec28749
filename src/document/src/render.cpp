// Page previews: a page rendered to a PNG that fits in max_px x max_px. TIFF pages are decoded
// row by row and area-averaged (fax pixels are not square: the aspect comes from the
// resolution); PDF pages are rendered with poppler.
#include <png.h>
#include <poppler-image.h>
#include <poppler-page-renderer.h>
#include <poppler-page.h>

#include <algorithm>
#include <cmath>

#include "pdf_input.hpp"
#include "tiff_reader.hpp"

namespace atdesk::document {
namespace detail {
namespace {

void append(png_structp png, png_bytep data, png_size_t n) {
  auto* out = static_cast<Bytes*>(png_get_io_ptr(png));
  const auto* b = reinterpret_cast<const std::byte*>(data);
  out->insert(out->end(), b, b + n);
}

void png_error_handler(png_structp png, png_const_charp) {
  png_longjmp(png, 1);
}
void png_warning_handler(png_structp, png_const_charp) {}

// Writes 8-bit gray (channels = 1) or RGB (channels = 3) pixels as a PNG.
Result<Bytes> write_png(const std::vector<unsigned char>& pixels, int width, int height,
                        int channels) {
  Bytes out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, png_error_handler,
                                            png_warning_handler);
  if (!png) return fail(Errc::internal, "png: cannot create the writer");
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_write_struct(&png, nullptr);
    return fail(Errc::internal, "png: cannot create the info struct");
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return fail(Errc::internal, "png: encoding failed");
  }
  png_set_write_fn(png, &out, append, nullptr);
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8,
               channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  const auto stride = static_cast<std::size_t>(width) * static_cast<std::size_t>(channels);
  for (int y = 0; y < height; ++y) {
    png_write_row(png, const_cast<png_bytep>(pixels.data() + static_cast<std::size_t>(y) * stride));
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

std::pair<int, int> fit(double width_in, double height_in, int max_px) {
  const double scale = max_px / std::max(width_in, height_in);
  return {std::max(1, static_cast<int>(std::lround(width_in * scale))),
          std::max(1, static_cast<int>(std::lround(height_in * scale)))};
}

Result<Bytes> render_tiff(std::span<const std::byte> data, std::string_view name, int page,
                          int max_px, const Limits& limits) {
  auto reader = TiffReader::open(data, name);
  if (!reader) return fail(reader.error());
  auto pages = read_tiff_pages(**reader, limits);
  if (!pages) return fail(pages.error());
  if (page < 0 || page >= static_cast<int>(pages->size())) {
    return fail(Errc::invalid_argument, std::string(name) + ": page " + std::to_string(page + 1) +
                                            " does not exist (the document has " +
                                            std::to_string(pages->size()) + " pages)");
  }
  TIFF* t = (*reader)->tiff();
  TIFFSetDirectory(t, static_cast<tdir_t>(page));
  const auto& p = (*pages)[static_cast<std::size_t>(page)];
  const auto w = p.info.width_px, h = p.info.height_px;
  const auto [ow, oh] = fit(w / p.info.x_dpi, h / p.info.y_dpi, max_px);

  // Area averaging in integers: each source pixel adds its gray value (0 black .. 255 white) to
  // the output pixel it falls in; the output column of each source column is looked up, not
  // divided for every pixel (a fine fax page is 3.8 million pixels; this is the preview's cost).
  std::vector<std::uint32_t> col_of(w);
  std::vector<std::uint32_t> cols_in(static_cast<std::size_t>(ow), 0);
  for (std::uint32_t x = 0; x < w; ++x) {
    col_of[x] = static_cast<std::uint32_t>(
        std::min<std::uint64_t>(static_cast<std::uint64_t>(x) * ow / w, ow - 1));
    ++cols_in[col_of[x]];
  }
  std::vector<std::uint32_t> rows_in(static_cast<std::size_t>(oh), 0);
  std::vector<std::uint64_t> sum(static_cast<std::size_t>(ow) * oh, 0);
  auto out_row = [&](std::uint32_t y) {
    const auto oy = static_cast<std::size_t>(std::min<std::uint64_t>(
        static_cast<std::uint64_t>(y) * oh / h, static_cast<std::uint64_t>(oh - 1)));
    ++rows_in[oy];
    return sum.data() + oy * static_cast<std::size_t>(ow);
  };
  const bool simple = p.samples_per_pixel == 1 && (p.photometric == PHOTOMETRIC_MINISWHITE ||
                                                   p.photometric == PHOTOMETRIC_MINISBLACK);
  if (simple) {
    std::vector<unsigned char> buf(static_cast<std::size_t>(TIFFScanlineSize(t)));
    const bool white_is_zero = p.photometric == PHOTOMETRIC_MINISWHITE;
    for (std::uint32_t y = 0; y < h; ++y) {
      if (TIFFReadScanline(t, buf.data(), y, 0) < 0) {
        return fail(Errc::invalid_argument,
                    page_error(name, page, "cannot decode row " + std::to_string(y)));
      }
      std::uint64_t* row = out_row(y);
      if (p.bits_per_sample == 1) {
        // A set bit is black when white is zero (fax), white otherwise.
        const unsigned white_bit = white_is_zero ? 0u : 1u;
        for (std::uint32_t x = 0; x < w; ++x) {
          const unsigned bit = (buf[x / 8] >> (7 - x % 8)) & 1u;
          row[col_of[x]] += bit == white_bit ? 255u : 0u;
        }
      } else {
        for (std::uint32_t x = 0; x < w; ++x) {
          row[col_of[x]] += white_is_zero ? 255u - buf[x] : buf[x];
        }
      }
    }
  } else {
    if (static_cast<std::uint64_t>(w) * h > 40'000'000) {
      return fail(Errc::limit_exceeded, page_error(name, page, "colour page too large to preview"));
    }
    std::vector<std::uint32_t> rgba(static_cast<std::size_t>(w) * h);
    if (!TIFFReadRGBAImageOriented(t, w, h, rgba.data(), ORIENTATION_TOPLEFT, 0)) {
      return fail(Errc::invalid_argument, page_error(name, page, "cannot decode"));
    }
    for (std::uint32_t y = 0; y < h; ++y) {
      std::uint64_t* row = out_row(y);
      for (std::uint32_t x = 0; x < w; ++x) {
        const auto px = rgba[static_cast<std::size_t>(y) * w + x];
        row[col_of[x]] += (299 * TIFFGetR(px) + 587 * TIFFGetG(px) + 114 * TIFFGetB(px)) / 1000;
      }
    }
  }
  std::vector<unsigned char> out(sum.size());
  for (std::size_t oy = 0; oy < static_cast<std::size_t>(oh); ++oy) {
    for (std::size_t ox = 0; ox < static_cast<std::size_t>(ow); ++ox) {
      const std::uint64_t n = static_cast<std::uint64_t>(cols_in[ox]) * rows_in[oy];
      const std::size_t i = oy * static_cast<std::size_t>(ow) + ox;
      // Rounded to the nearest, halves up (as std::lround of the mean); 255 for an empty cell.
      out[i] = static_cast<unsigned char>(n > 0 ? (2 * sum[i] + n) / (2 * n) : 255);
    }
  }
  return write_png(out, ow, oh, 1);
}

Result<Bytes> render_pdf(std::span<const std::byte> data, std::string_view name, int page,
                         int max_px, const Limits& limits) {
  auto doc = load_pdf(data, name, limits, nullptr);
  if (!doc) return fail(doc.error());
  if (page < 0 || page >= (*doc)->pages()) {
    return fail(Errc::invalid_argument, std::string(name) + ": page " + std::to_string(page + 1) +
                                            " does not exist (the document has " +
                                            std::to_string((*doc)->pages()) + " pages)");
  }
  std::unique_ptr<poppler::page> p((*doc)->create_page(page));
  const auto rect = p->page_rect(poppler::media_box);
  const double dpi = max_px / (std::max(rect.width(), rect.height()) / 72.0);
  poppler::page_renderer renderer;
  renderer.set_render_hint(poppler::page_renderer::antialiasing, true);
  renderer.set_render_hint(poppler::page_renderer::text_antialiasing, true);
  renderer.set_image_format(poppler::image::format_argb32);
  const auto image = renderer.render_page(p.get(), dpi, dpi);
  if (!image.is_valid()) {
    return fail(Errc::invalid_argument, page_error(name, page, "cannot be rendered"));
  }
  const int iw = image.width(), ih = image.height();
  std::vector<unsigned char> rgb(static_cast<std::size_t>(iw) * ih * 3);
  const char* src = image.const_data();
  for (int y = 0; y < ih; ++y) {
    const auto* row = reinterpret_cast<const unsigned char*>(src + static_cast<std::ptrdiff_t>(y) *
                                                                       image.bytes_per_row());
    for (int x = 0; x < iw; ++x) {
      // argb32 is 32-bit native-endian 0xAARRGGBB: B, G, R, A in memory (little-endian).
      auto* d = &rgb[(static_cast<std::size_t>(y) * iw + x) * 3];
      d[0] = row[x * 4 + 2];
      d[1] = row[x * 4 + 1];
      d[2] = row[x * 4 + 0];
    }
  }
  return write_png(rgb, iw, ih, 3);
}

}  // namespace
}  // namespace detail

Result<Bytes> render_png(std::span<const std::byte> data, std::string_view name, int page,
                         int max_px, const Limits& limits) {
  if (max_px < 16 || max_px > 4000) {
    return fail(Errc::invalid_argument,
                "size: expected 16 to 4000 pixels, got " + std::to_string(max_px));
  }
  if (data.size() > limits.max_file_bytes) {
    return fail(Errc::limit_exceeded, std::string(name) + ": the document exceeds the size limit");
  }
  if (detail::looks_like_tiff(data)) return detail::render_tiff(data, name, page, max_px, limits);
  if (detail::looks_like_pdf(data)) return detail::render_pdf(data, name, page, max_px, limits);
  return fail(Errc::unsupported, std::string(name) + ": not a TIFF or PDF document");
}

}  // namespace atdesk::document
