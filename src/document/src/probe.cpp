// Identifies and validates documents: TIFF pages with libtiff, PDF pages with poppler.
#include <poppler-global.h>
#include <poppler-page.h>

#include <cstring>

#include "pdf_input.hpp"
#include "tiff_reader.hpp"

namespace atdesk::document {
namespace detail {
namespace {

void quiet_poppler(const std::string&, void*) {}

std::string first_bytes(std::span<const std::byte> data) {
  std::string out;
  for (std::size_t i = 0; i < std::min<std::size_t>(data.size(), 8); ++i) {
    const auto c = static_cast<unsigned char>(data[i]);
    char buf[5];
    std::snprintf(buf, sizeof buf, c >= 0x20 && c < 0x7f ? "%c" : "\\x%02x", c);
    out += buf;
  }
  return out;
}

}  // namespace

bool looks_like_tiff(std::span<const std::byte> data) {
  if (data.size() < 8) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  return (p[0] == 'I' && p[1] == 'I' && (p[2] == 42 || p[2] == 43) && p[3] == 0) ||
         (p[0] == 'M' && p[1] == 'M' && p[2] == 0 && (p[3] == 42 || p[3] == 43));
}

bool looks_like_pdf(std::span<const std::byte> data) {
  const auto n = std::min<std::size_t>(data.size(), 1024);
  const std::string_view head(reinterpret_cast<const char*>(data.data()), n);
  return head.find("%PDF-") != std::string_view::npos;
}

Result<std::unique_ptr<poppler::document>> load_pdf(std::span<const std::byte> data,
                                                    std::string_view name, const Limits& limits,
                                                    DocumentInfo* info) {
  poppler::set_debug_error_function(quiet_poppler, nullptr);
  std::unique_ptr<poppler::document> doc(poppler::document::load_from_raw_data(
      reinterpret_cast<const char*>(data.data()), static_cast<int>(data.size())));
  if (!doc) {
    return fail(Errc::invalid_argument, std::string(name) + ": not a readable PDF");
  }
  if (doc->is_locked()) {
    return fail(Errc::unsupported, std::string(name) + ": the PDF is encrypted with a password");
  }
  const int pages = doc->pages();
  if (pages <= 0) return fail(Errc::invalid_argument, std::string(name) + ": the PDF has no pages");
  if (pages > limits.max_pages) {
    return fail(Errc::limit_exceeded, std::string(name) + ": " + std::to_string(pages) +
                                          " pages exceed the limit " +
                                          std::to_string(limits.max_pages));
  }
  for (int i = 0; i < pages; ++i) {
    std::unique_ptr<poppler::page> page(doc->create_page(i));
    if (!page) {
      return fail(Errc::invalid_argument, page_error(name, i, "cannot be read"));
    }
    const auto rect = page->page_rect(poppler::media_box);
    if (rect.width() <= 0 || rect.height() <= 0) {
      return fail(Errc::invalid_argument, page_error(name, i, "has an empty page size"));
    }
    if (rect.width() / 72.0 > limits.max_page_inches ||
        rect.height() / 72.0 > limits.max_page_inches) {
      return fail(
          Errc::limit_exceeded,
          page_error(name, i,
                     "page size " + std::to_string(static_cast<int>(rect.width())) + " x " +
                         std::to_string(static_cast<int>(rect.height())) + " pt exceeds " +
                         std::to_string(static_cast<int>(limits.max_page_inches)) + " inches"));
    }
    if (info) {
      PageInfo p;
      p.width_pt = rect.width();
      p.height_pt = rect.height();
      p.compression = Compression::other;
      info->pages.push_back(p);
    }
  }
  return doc;
}

Result<std::vector<TiffReader::Page>> read_tiff_pages(TiffReader& reader, const Limits& limits) {
  std::vector<TiffReader::Page> pages;
  // Bounded loop: a directory chain that loops or never ends cannot hang the probe.
  for (int i = 0;; ++i) {
    if (i >= limits.max_pages) {
      return fail(
          Errc::limit_exceeded,
          reader.name() + ": more than " + std::to_string(limits.max_pages) + " pages (the limit)");
    }
    auto page = reader.page(i, limits);
    if (!page) return fail(page.error());
    pages.push_back(*page);
    reader.clear_error();
    if (!TIFFReadDirectory(reader.tiff())) {
      // The end of the chain, or a damaged next directory: the latter is an error, not a
      // shorter fax.
      if (!reader.last_error().empty()) {
        return fail(Errc::invalid_argument,
                    page_error(reader.name(), i + 1, "cannot be read: " + reader.last_error()));
      }
      break;
    }
  }
  return pages;
}

}  // namespace detail

std::string_view to_string(Compression c) {
  switch (c) {
    case Compression::ccitt_g3_1d:
      return "ccitt_g3_1d";
    case Compression::ccitt_g3_2d:
      return "ccitt_g3_2d";
    case Compression::ccitt_g4:
      return "ccitt_g4";
    case Compression::none:
      return "none";
    case Compression::lzw:
      return "lzw";
    case Compression::deflate:
      return "deflate";
    case Compression::jpeg:
      return "jpeg";
    case Compression::packbits:
      return "packbits";
    case Compression::other:
      return "other";
  }
  return "other";
}

Result<DocumentInfo> probe(std::span<const std::byte> data, std::string_view name,
                           const Limits& limits) {
  if (data.size() > limits.max_file_bytes) {
    return fail(Errc::limit_exceeded, std::string(name) + ": " + std::to_string(data.size()) +
                                          " bytes exceed the limit of " +
                                          std::to_string(limits.max_file_bytes) + " bytes");
  }
  if (data.empty())
    return fail(Errc::invalid_argument, std::string(name) + ": the document is empty");
  DocumentInfo info;
  if (detail::looks_like_tiff(data)) {
    info.format = DocumentFormat::tiff;
    auto reader = detail::TiffReader::open(data, name);
    if (!reader) return fail(reader.error());
    auto pages = detail::read_tiff_pages(**reader, limits);
    if (!pages) return fail(pages.error());
    for (const auto& p : *pages) info.pages.push_back(p.info);
    return info;
  }
  if (detail::looks_like_pdf(data)) {
    info.format = DocumentFormat::pdf;
    auto doc = detail::load_pdf(data, name, limits, &info);
    if (!doc) return fail(doc.error());
    return info;
  }
  return fail(Errc::unsupported, std::string(name) +
                                     ": not a TIFF or PDF document (starts with \"" +
                                     detail::first_bytes(data) + "\")");
}

}  // namespace atdesk::document
