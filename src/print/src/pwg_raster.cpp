#include "pwg_raster.hpp"

#include <cups/raster.h>

#include <poppler-document.h>
#include <poppler-page-renderer.h>
#include <poppler-page.h>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

namespace atdesk::print::detail {
namespace {

struct RasterDeleter {
  void operator()(cups_raster_t* r) const { cupsRasterClose(r); }
};

// libcups' write callback: appends to the output buffer.
ssize_t append(void* ctx, unsigned char* data, size_t bytes) {
  auto* out = static_cast<std::vector<std::byte>*>(ctx);
  const auto* b = reinterpret_cast<const std::byte*>(data);
  out->insert(out->end(), b, b + bytes);
  return static_cast<ssize_t>(bytes);
}

using DocumentPtr = std::unique_ptr<poppler::document>;

Result<DocumentPtr> load(std::span<const std::byte> pdf, const std::string& who) {
  DocumentPtr doc(poppler::document::load_from_raw_data(reinterpret_cast<const char*>(pdf.data()),
                                                        static_cast<int>(pdf.size())));
  if (!doc || doc->is_locked()) {
    return fail(Errc::invalid_argument, who + ": the printable PDF cannot be read");
  }
  return doc;
}

// PDF points to hundredths of millimetres.
int hmm(double points) {
  return static_cast<int>(std::lround(points * 2540.0 / 72.0));
}

}  // namespace

Result<MediaSize> pdf_page_size(std::span<const std::byte> pdf, const std::string& who) {
  auto doc = load(pdf, who);
  if (!doc) return fail(doc.error());
  MediaSize size;
  for (int i = 0; i < (*doc)->pages(); ++i) {
    std::unique_ptr<poppler::page> page((*doc)->create_page(i));
    if (!page) continue;
    const auto box = page->page_rect(poppler::media_box);
    int w = hmm(box.width());
    int l = hmm(box.height());
    if (w > l) std::swap(w, l);
    size.width = std::max(size.width, w);
    size.length = std::max(size.length, l);
  }
  if (size.width <= 0 || size.length <= 0) {
    return fail(Errc::invalid_argument, who + ": the printable PDF has no page with a size");
  }
  return size;
}

Result<std::vector<std::byte>> pdf_to_pwg_raster(std::span<const std::byte> pdf,
                                                 const RasterSettings& settings,
                                                 const std::string& who) {
  auto loaded = load(pdf, who);
  if (!loaded) return fail(loaded.error());
  const DocumentPtr& doc = *loaded;
  if (doc->pages() < 1 || doc->pages() > settings.max_pages) {
    return fail(Errc::limit_exceeded, who + ": cannot rasterise a document of " +
                                          std::to_string(doc->pages()) + " pages (1 to " +
                                          std::to_string(settings.max_pages) + ")");
  }
  std::vector<std::byte> out;
  std::unique_ptr<cups_raster_t, RasterDeleter> raster(
      cupsRasterOpenIO(append, &out, CUPS_RASTER_WRITE_PWG));
  if (!raster) return fail(Errc::internal, who + ": cannot open a PWG raster stream");

  poppler::page_renderer renderer;
  renderer.set_render_hint(poppler::page_renderer::antialiasing, true);
  renderer.set_image_format(poppler::image::format_gray8);
  const bool black = settings.type == RasterType::black_1;
  for (int i = 0; i < doc->pages(); ++i) {
    std::unique_ptr<poppler::page> page(doc->create_page(i));
    if (!page)
      return fail(Errc::invalid_argument,
                  who + ": page " + std::to_string(i + 1) + " of the printable PDF cannot be read");
    const auto box = page->page_rect(poppler::media_box);
    // PWG media sizes are in hundredths of millimetres.
    const int width = hmm(box.width());
    const int length = hmm(box.height());
    pwg_media_t* media = settings.media.keyword.empty()
                             ? pwgMediaForSize(width, length)
                             : pwgMediaForPWG(settings.media.keyword.c_str());
    if (!media)
      return fail(Errc::unsupported, who + ": no PWG media size for page " + std::to_string(i + 1));
    // On a chosen medium: a landscape page is turned, then scaled to fit and centred.
    const bool turn = !settings.media.keyword.empty() && width > length;
    const double page_w = turn ? length : width;
    const double page_l = turn ? width : length;
    const double scale = settings.media.keyword.empty()
                             ? 1.0
                             : std::min(media->width / page_w, media->length / page_l);
    cups_page_header2_t header;
    if (!cupsRasterInitPWGHeader(&header, media, black ? "black_1" : "sgray_8", settings.dpi,
                                 settings.dpi, "one-sided", nullptr)) {
      return fail(Errc::internal,
                  who + ": cannot make a PWG raster header: " + cupsLastErrorString());
    }
    const poppler::image image =
        renderer.render_page(page.get(), settings.dpi * scale, settings.dpi * scale, -1, -1, -1, -1,
                             turn ? poppler::rotate_90 : poppler::rotate_0);
    if (!image.is_valid()) {
      return fail(Errc::invalid_argument,
                  who + ": page " + std::to_string(i + 1) + " cannot be rendered");
    }
    if (!cupsRasterWriteHeader2(raster.get(), &header)) {
      return fail(Errc::internal, who + ": cannot write a PWG raster page header");
    }
    // The header's page size comes from the media; the rendered image is centred on it (it may
    // differ by a pixel from rounding): copy what overlaps, white elsewhere.
    std::vector<unsigned char> line(header.cupsBytesPerLine);
    const char* data = image.const_data();
    const int left = std::max(0, (static_cast<int>(header.cupsWidth) - image.width()) / 2);
    const int top = std::max(0, (static_cast<int>(header.cupsHeight) - image.height()) / 2);
    for (unsigned y = 0; y < header.cupsHeight; ++y) {
      std::fill(line.begin(), line.end(), black ? 0x00 : 0xff);
      const int iy = static_cast<int>(y) - top;
      if (iy >= 0 && iy < image.height()) {
        const auto* row = reinterpret_cast<const unsigned char*>(
            data + static_cast<std::ptrdiff_t>(iy) * image.bytes_per_row());
        const int w = std::min(static_cast<int>(header.cupsWidth) - left, image.width());
        if (black) {
          for (int x = 0; x < w; ++x) {  // black_1: 1 is black
            const int ox = x + left;
            if (row[x] < 128) line[ox / 8] |= static_cast<unsigned char>(0x80 >> (ox % 8));
          }
        } else if (w > 0) {
          std::memcpy(line.data() + left, row, static_cast<std::size_t>(w));
        }
      }
      if (cupsRasterWritePixels(raster.get(), line.data(), header.cupsBytesPerLine) == 0) {
        return fail(Errc::internal, who + ": cannot write PWG raster data");
      }
    }
  }
  raster.reset();  // flushes
  return out;
}

}  // namespace atdesk::print::detail
