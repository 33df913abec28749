// Fax TIFFs made here with libtiff (every CCITT flavour, fill order, resolution and width),
// PDFs, and hostile input. The printable PDF is rendered back with poppler to prove that CCITT
// data carried over unchanged still shows black where the fax is black.
#include <gtest/gtest.h>
#include <png.h>
#include <poppler-document.h>
#include <poppler-page.h>
#include <tiffio.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "atdesk/document/document.hpp"

namespace atdesk::document {
namespace {

struct FaxSpec {
  int pages = 1;
  std::uint16_t compression = COMPRESSION_CCITTFAX4;
  std::uint32_t g3_options = 0;
  std::uint16_t fill_order = FILLORDER_MSB2LSB;
  std::uint16_t photometric = PHOTOMETRIC_MINISWHITE;
  std::uint32_t width = 1728;
  std::uint32_t height = 600;
  float xres = 204, yres = 196;
  std::uint32_t rows_per_strip = 0;  // 0: one strip per page
  std::uint16_t bits = 1;
  bool resolution = true;
};

// The black rectangle on page p: columns [x0, x1), rows [y0, y1) as fractions of the page.
struct Box {
  double x0, x1, y0, y1;
};
Box box_of(int p) {
  return {0.10 + 0.05 * (p % 5), 0.40 + 0.05 * (p % 5), 0.20, 0.45};
}

Bytes make_tiff(const FaxSpec& s) {
  char path[] = "/tmp/atdesk-doc-XXXXXX";
  const int fd = mkstemp(path);
  close(fd);
  TIFF* t = TIFFOpen(path, "w");
  const std::size_t stride = s.bits == 1 ? (s.width + 7) / 8 : s.width;
  std::vector<unsigned char> row(stride);
  for (int p = 0; p < s.pages; ++p) {
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, s.width);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, s.height);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, s.bits);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
    TIFFSetField(t, TIFFTAG_COMPRESSION, s.compression);
    if (s.compression == COMPRESSION_CCITTFAX3)
      TIFFSetField(t, TIFFTAG_GROUP3OPTIONS, s.g3_options);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, s.photometric);
    TIFFSetField(t, TIFFTAG_FILLORDER, s.fill_order);
    if (s.resolution) {
      TIFFSetField(t, TIFFTAG_XRESOLUTION, s.xres);
      TIFFSetField(t, TIFFTAG_YRESOLUTION, s.yres);
      TIFFSetField(t, TIFFTAG_RESOLUTIONUNIT, RESUNIT_INCH);
    }
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, s.rows_per_strip ? s.rows_per_strip : s.height);
    TIFFSetField(t, TIFFTAG_SUBFILETYPE, FILETYPE_PAGE);
    TIFFSetField(t, TIFFTAG_PAGENUMBER, p, s.pages);
    const Box b = box_of(p);
    for (std::uint32_t y = 0; y < s.height; ++y) {
      const bool in_rows = y >= b.y0 * s.height && y < b.y1 * s.height;
      for (std::uint32_t x = 0; x < s.width; ++x) {
        const bool black = in_rows && x >= b.x0 * s.width && x < b.x1 * s.width;
        // Pixel value for "black" depends on the photometric interpretation.
        const bool one = (s.photometric == PHOTOMETRIC_MINISWHITE) == black;
        if (s.bits == 1) {
          if (one)
            row[x / 8] |= static_cast<unsigned char>(0x80 >> (x % 8));
          else
            row[x / 8] &= static_cast<unsigned char>(~(0x80 >> (x % 8)));
        } else {
          row[x] = black ? 0 : 255;
        }
      }
      TIFFWriteScanline(t, row.data(), y, 0);
    }
    TIFFWriteDirectory(t);
  }
  TIFFClose(t);
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
  std::filesystem::remove(path);
  Bytes out(bytes.size());
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

Bytes text(std::string_view s) {
  Bytes out(s.size());
  std::memcpy(out.data(), s.data(), s.size());
  return out;
}

struct Image {
  int width = 0, height = 0, channels = 0;
  std::vector<unsigned char> pixels;
  int gray(double fx, double fy) const {
    const int x = std::clamp(static_cast<int>(fx * width), 0, width - 1);
    const int y = std::clamp(static_cast<int>(fy * height), 0, height - 1);
    return pixels[(static_cast<std::size_t>(y) * width + x) * channels];
  }
};

Image decode_png(const Bytes& png) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  Image out;
  if (!png_image_begin_read_from_memory(&image, png.data(), png.size())) return out;
  image.format = PNG_FORMAT_GRAY;
  out.width = static_cast<int>(image.width);
  out.height = static_cast<int>(image.height);
  out.channels = 1;
  out.pixels.resize(PNG_IMAGE_SIZE(image));
  png_image_finish_read(&image, nullptr, out.pixels.data(), 0, nullptr);
  return out;
}

const Limits kLimits{};

// Renders `page` of a document and checks the page's black box is black and the rest white.
void expect_box_rendered(const Bytes& doc, int page, const std::string& what) {
  auto png = render_png(doc, "doc", page, 600, kLimits);
  ASSERT_TRUE(png) << what << ": " << png.error().message;
  const auto img = decode_png(*png);
  ASSERT_GT(img.width, 0) << what;
  const Box b = box_of(page);
  EXPECT_LT(img.gray((b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2), 60) << what << ": box not black";
  EXPECT_GT(img.gray(0.8, 0.8), 200) << what << ": background not white";
  EXPECT_GT(img.gray((b.x0 + b.x1) / 2, 0.1), 200) << what << ": above the box not white";
}

bool contains(const Bytes& hay, const Bytes& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

// The raw strip of the first page, as a PDF must carry it (bit-reversed for LSB-first data).
Bytes raw_strip(const Bytes& tiff_bytes, bool reverse) {
  char path[] = "/tmp/atdesk-raw-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return {};
  (void)write(fd, tiff_bytes.data(), tiff_bytes.size());
  close(fd);
  TIFF* t = TIFFOpen(path, "r");
  const auto n = TIFFGetStrileByteCount(t, 0);
  Bytes raw(n);
  TIFFReadRawStrip(t, 0, raw.data(), static_cast<tmsize_t>(n));
  if (reverse) TIFFReverseBits(reinterpret_cast<uint8_t*>(raw.data()), static_cast<tmsize_t>(n));
  TIFFClose(t);
  std::filesystem::remove(path);
  return raw;
}

struct Flavour {
  std::string name;
  FaxSpec spec;
  bool passthrough;
};

class CcittFlavours : public ::testing::TestWithParam<Flavour> {};

TEST_P(CcittFlavours, ProbeNormaliseAndRenderKeepBlackWhereBlack) {
  const auto& f = GetParam();
  const auto tiff = make_tiff(f.spec);
  auto info = probe(tiff, "fax.tif", kLimits);
  ASSERT_TRUE(info) << info.error().message;
  ASSERT_EQ(info->format, DocumentFormat::tiff);
  ASSERT_EQ(static_cast<int>(info->pages.size()), f.spec.pages);
  EXPECT_EQ(info->pages[0].width_px, f.spec.width);
  EXPECT_NEAR(info->pages[0].y_dpi, f.spec.yres, 0.5);

  auto pdf = to_printable_pdf(tiff, "fax.tif", kLimits);
  ASSERT_TRUE(pdf) << pdf.error().message;
  // poppler reads it with the right page count and page sizes.
  std::unique_ptr<poppler::document> doc(poppler::document::load_from_raw_data(
      reinterpret_cast<const char*>(pdf->data()), static_cast<int>(pdf->size())));
  ASSERT_TRUE(doc);
  ASSERT_EQ(doc->pages(), f.spec.pages);
  std::unique_ptr<poppler::page> page(doc->create_page(0));
  EXPECT_NEAR(page->page_rect(poppler::media_box).width(), f.spec.width / f.spec.xres * 72, 1.0);
  EXPECT_NEAR(page->page_rect(poppler::media_box).height(), f.spec.height / f.spec.yres * 72, 1.0);
  if (f.passthrough) {
    EXPECT_TRUE(contains(*pdf, raw_strip(tiff, f.spec.fill_order == FILLORDER_LSB2MSB)))
        << "the CCITT data must be carried over unchanged";
  }
  for (int p = 0; p < f.spec.pages; ++p) {
    expect_box_rendered(tiff, p, f.name + " tiff page " + std::to_string(p + 1));
    expect_box_rendered(*pdf, p, f.name + " pdf page " + std::to_string(p + 1));
  }
}

FaxSpec spec(std::uint16_t compression, std::uint32_t g3 = 0) {
  FaxSpec s;
  s.compression = compression;
  s.g3_options = g3;
  return s;
}

INSTANTIATE_TEST_SUITE_P(
    Faxes, CcittFlavours,
    ::testing::Values(
        Flavour{"g4_fine", spec(COMPRESSION_CCITTFAX4), true},
        Flavour{"g3_1d", spec(COMPRESSION_CCITTFAX3), true},
        Flavour{"g3_2d", spec(COMPRESSION_CCITTFAX3, GROUP3OPT_2DENCODING), true},
        Flavour{"g3_1d_fillbits", spec(COMPRESSION_CCITTFAX3, GROUP3OPT_FILLBITS), true},
        Flavour{"g3_2d_fillbits",
                spec(COMPRESSION_CCITTFAX3, GROUP3OPT_2DENCODING | GROUP3OPT_FILLBITS), true},
        Flavour{"g4_lsb_first",
                [] {
                  auto s = spec(COMPRESSION_CCITTFAX4);
                  s.fill_order = FILLORDER_LSB2MSB;
                  return s;
                }(),
                true},
        Flavour{"g3_lsb_first",
                [] {
                  auto s = spec(COMPRESSION_CCITTFAX3);
                  s.fill_order = FILLORDER_LSB2MSB;
                  return s;
                }(),
                true},
        Flavour{"g4_standard_resolution",
                [] {
                  auto s = spec(COMPRESSION_CCITTFAX4);
                  s.yres = 98;
                  s.height = 300;
                  return s;
                }(),
                true},
        Flavour{"g4_superfine_b4_3_pages",
                [] {
                  auto s = spec(COMPRESSION_CCITTFAX4);
                  s.xres = 408;
                  s.yres = 391;
                  s.width = 4096;
                  s.height = 1200;
                  s.pages = 3;
                  return s;
                }(),
                true},
        Flavour{"g4_letter_min_is_black",
                [] {
                  auto s = spec(COMPRESSION_CCITTFAX4);
                  s.width = 1728;
                  s.photometric = PHOTOMETRIC_MINISBLACK;
                  return s;
                }(),
                true},
        Flavour{"g4_multi_strip_10_pages",
                [] {
                  auto s = spec(COMPRESSION_CCITTFAX4);
                  s.rows_per_strip = 64;
                  s.pages = 10;
                  return s;
                }(),
                false},
        Flavour{"lzw_8bit_gray",
                [] {
                  auto s = spec(COMPRESSION_LZW);
                  s.bits = 8;
                  s.photometric = PHOTOMETRIC_MINISBLACK;
                  s.width = 800;
                  return s;
                }(),
                false}),
    [](const auto& info) { return info.param.name; });

TEST(Document, FaxWithoutResolutionIsTakenAsFine) {
  FaxSpec s;
  s.resolution = false;
  auto info = probe(make_tiff(s), "nores.tif", kLimits);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_NEAR(info->pages[0].x_dpi, 204, 0.1);
  EXPECT_NEAR(info->pages[0].y_dpi, 196, 0.1);
}

TEST(Document, PdfIsValidatedAndPassedThrough) {
  FaxSpec s;
  s.pages = 2;
  auto pdf = to_printable_pdf(make_tiff(s), "a.tif", kLimits);
  ASSERT_TRUE(pdf);
  auto info = probe(*pdf, "a.pdf", kLimits);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->format, DocumentFormat::pdf);
  EXPECT_EQ(info->pages.size(), 2u);
  auto again = to_printable_pdf(*pdf, "a.pdf", kLimits);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *pdf);
}

// Found by fuzz_normalize (tests/fuzz/corpus/normalize/resolution-overflow.tif): the error for a
// resolution beyond int's range converted it to int (undefined behaviour, UBSan aborted).
TEST(Document, ResolutionFarOutOfRangeIsRefused) {
  FaxSpec s;
  s.width = 800;
  s.height = 100;
  s.xres = 3.4e9f;
  auto info = probe(make_tiff(s), "wide.tif", kLimits);
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code, Errc::invalid_argument);
  EXPECT_NE(info.error().message.find("resolution 3400000000 x 196 dpi"), std::string::npos)
      << info.error().message;
}

// Found by fuzz_normalize (tests/fuzz/corpus/normalize/junk-before-header.pdf): a PDF with bytes
// before its "%PDF-" header was accepted and passed on with them to the printer.
TEST(Document, BytesBeforeThePdfHeaderAreNotPrinted) {
  auto pdf = to_printable_pdf(make_tiff(FaxSpec{}), "a.tif", kLimits);
  ASSERT_TRUE(pdf) << pdf.error().message;
  Bytes junk = text("\xb5\xb5 mail gateway said hello\r\n");
  junk.insert(junk.end(), pdf->begin(), pdf->end());
  auto printable = to_printable_pdf(junk, "junk.pdf", kLimits);
  ASSERT_TRUE(printable) << printable.error().message;
  EXPECT_EQ(*printable, *pdf);
}

TEST(Document, ErrorsNameTheDocumentAndThePage) {
  auto empty = probe(Bytes{}, "empty.tif", kLimits);
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find("empty.tif"), std::string::npos);

  auto junk = probe(text("hello, I am not a fax"), "junk.bin", kLimits);
  ASSERT_FALSE(junk);
  EXPECT_EQ(junk.error().code, Errc::unsupported);
  EXPECT_NE(junk.error().message.find("junk.bin: not a TIFF or PDF"), std::string::npos);

  auto truncated_tiff = make_tiff(FaxSpec{});
  truncated_tiff.resize(40);
  auto t = probe(truncated_tiff, "cut.tif", kLimits);
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("cut.tif"), std::string::npos) << t.error().message;

  auto bad_pdf =
      probe(text("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"), "bad.pdf", kLimits);
  ASSERT_FALSE(bad_pdf);
  EXPECT_NE(bad_pdf.error().message.find("bad.pdf"), std::string::npos);
}

TEST(Document, DecompressionBombIsRefusedBeforeDecoding) {
  // A G4 page of 60000 x 60000 white pixels compresses to almost nothing.
  FaxSpec s;
  s.width = 60000;
  s.height = 60000;
  s.xres = s.yres = 2000;
  // Writing it takes a while with libtiff; a shorter page with the same claim is enough:
  s.height = 30000;
  auto bomb = make_tiff(s);
  EXPECT_LT(bomb.size(), 200'000u);
  auto r = probe(bomb, "bomb.tif", kLimits);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::limit_exceeded);
  EXPECT_NE(r.error().message.find("bomb.tif: page 1: width 60000 px exceeds the limit"),
            std::string::npos)
      << r.error().message;
  EXPECT_FALSE(to_printable_pdf(bomb, "bomb.tif", kLimits));
  EXPECT_FALSE(render_png(bomb, "bomb.tif", 0, 200, kLimits));
}

TEST(Document, PageAndSizeLimits) {
  FaxSpec s;
  s.pages = 4;
  Limits few;
  few.max_pages = 3;
  auto r = probe(make_tiff(s), "long.tif", few);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::limit_exceeded);
  EXPECT_NE(r.error().message.find("long.tif"), std::string::npos);

  Limits small;
  small.max_file_bytes = 100;
  auto big = probe(make_tiff(FaxSpec{}), "big.tif", small);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, Errc::limit_exceeded);

  Limits tall;
  tall.max_pixels_per_page = 1000;
  auto px = probe(make_tiff(FaxSpec{}), "px.tif", tall);
  ASSERT_FALSE(px);
  EXPECT_NE(px.error().message.find("pixels per page"), std::string::npos);
}

TEST(Document, HugePdfPageIsRefused) {
  const std::string body =
      "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
      "2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
      "3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 14400 14400] >> endobj\n"
      "trailer << /Root 1 0 R >>\n%%EOF\n";
  auto r = probe(text(body), "poster.pdf", kLimits);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::limit_exceeded);
  EXPECT_NE(r.error().message.find("poster.pdf: page 1"), std::string::npos) << r.error().message;
}

TEST(Document, PreviewSizeAndPageRange) {
  FaxSpec s;
  s.pages = 2;
  s.yres = 98;  // standard resolution: pixels twice as tall as wide
  s.height = 1100;
  const auto tiff = make_tiff(s);
  auto png = render_png(tiff, "fax.tif", 1, 300, kLimits);
  ASSERT_TRUE(png);
  const auto img = decode_png(*png);
  EXPECT_EQ(img.height, 300);  // 1100/98 in tall vs 1728/204 in wide: height is the long side
  EXPECT_NEAR(img.width, 300.0 * (1728.0 / 204) / (1100.0 / 98), 1.0);
  auto out_of_range = render_png(tiff, "fax.tif", 2, 300, kLimits);
  ASSERT_FALSE(out_of_range);
  EXPECT_NE(out_of_range.error().message.find("page 3 does not exist"), std::string::npos);
  EXPECT_NE(out_of_range.error().message.find("2 pages"), std::string::npos);
  EXPECT_FALSE(render_png(tiff, "fax.tif", 0, 5, kLimits));
}

}  // namespace
// #15: the preview is the exact area average of the page: each output pixel the mean of the
// source pixels that fall in it (source column x in output column x * width_out / width),
// rounded, as computed here from the box drawn on the page; for both photometric
// interpretations of 1-bit faxes and for 8-bit gray.
TEST(Document, PreviewIsTheAreaAverageOfThePage) {
  for (const auto& [photometric, bits] :
       {std::pair<std::uint16_t, std::uint16_t>{PHOTOMETRIC_MINISWHITE, 1},
        {PHOTOMETRIC_MINISBLACK, 1},
        {PHOTOMETRIC_MINISBLACK, 8}}) {
    FaxSpec s;
    s.photometric = photometric;
    s.bits = bits;
    s.compression = bits == 1 ? COMPRESSION_CCITTFAX4 : COMPRESSION_NONE;
    s.height = 1100;
    s.yres = 98;
    const auto tiff = make_tiff(s);
    auto png = render_png(tiff, "fax.tif", 0, 240, kLimits);
    ASSERT_TRUE(png) << png.error().message;
    const auto img = decode_png(*png);
    ASSERT_GT(img.width, 0);
    const auto ow = static_cast<std::size_t>(img.width), oh = static_cast<std::size_t>(img.height);
    std::vector<double> sum(ow * oh, 0), n(ow * oh, 0);
    const Box b = box_of(0);
    for (std::uint32_t y = 0; y < s.height; ++y) {
      const bool in_rows = y >= b.y0 * s.height && y < b.y1 * s.height;
      const std::size_t oy = std::min<std::size_t>(std::size_t{y} * oh / s.height, oh - 1);
      for (std::uint32_t x = 0; x < s.width; ++x) {
        const bool black = in_rows && x >= b.x0 * s.width && x < b.x1 * s.width;
        const std::size_t ox = std::min<std::size_t>(std::size_t{x} * ow / s.width, ow - 1);
        sum[oy * ow + ox] += black ? 0 : 255;
        n[oy * ow + ox] += 1;
      }
    }
    int wrong = 0;
    for (std::size_t i = 0; i < sum.size(); ++i) {
      wrong += img.pixels[i] != std::lround(sum[i] / n[i]) ? 1 : 0;
    }
    EXPECT_EQ(wrong, 0) << "photometric " << photometric << ", " << bits << " bit(s)";
  }
}

}  // namespace atdesk::document
