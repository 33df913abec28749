// Raster pages (as PAPPL hands them to atdesk-ippd's driver) become a multi-page TIFF that
// atdesk's own document reader accepts with the right page count, size and resolution.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "atdesk/document/document.hpp"
#include "raster_tiff.hpp"

namespace atdesk::ippd {
namespace {
namespace fs = std::filesystem;

class RasterTiffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/atdesk-raster-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(RasterTiffTest, PagesOfEveryKindBecomeOneTiffAtdeskReads) {
  auto pages = TiffPages::create(dir_ / "job.tif");
  ASSERT_TRUE(pages) << pages.error().message;
  const RasterPage kinds[] = {{2480, 3508, RasterKind::black_1, 300, 300},
                              {620, 877, RasterKind::sgray_8, 75, 75},
                              {620, 877, RasterKind::srgb_8, 75, 75}};
  for (const auto& page : kinds) {
    ASSERT_TRUE((*pages)->start_page(page));
    std::vector<unsigned char> line(page.bytes_per_line(), 0x5a);
    // Every other line written; the rest are left white.
    for (std::uint32_t y = 0; y < page.height; y += 2) {
      ASSERT_TRUE((*pages)->write_line(y, line.data()));
    }
    ASSERT_TRUE((*pages)->end_page());
  }
  EXPECT_EQ((*pages)->pages(), 3);
  auto tiff = (*pages)->finish();
  ASSERT_TRUE(tiff) << tiff.error().message;
  EXPECT_FALSE(fs::exists(dir_ / "job.tif"));

  auto info = document::probe(*tiff, "job.tif", document::Limits{});
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->format, DocumentFormat::tiff);
  ASSERT_EQ(info->pages.size(), 3u);
  EXPECT_EQ(info->pages[0].width_px, 2480u);
  EXPECT_EQ(info->pages[0].compression, document::Compression::ccitt_g4);
  EXPECT_NEAR(info->pages[0].width_pt, 595.2, 1.0);  // A4 at 300 dpi
  EXPECT_EQ(info->pages[1].compression, document::Compression::deflate);
  EXPECT_NEAR(info->pages[2].height_pt, 842.0, 1.0);
  auto pdf = document::to_printable_pdf(*tiff, "job.tif", document::Limits{});
  ASSERT_TRUE(pdf) << pdf.error().message;
}

TEST_F(RasterTiffTest, LinesOutOfOrderAndEmptyJobsAreRefused) {
  auto pages = TiffPages::create(dir_ / "bad.tif");
  ASSERT_TRUE(pages);
  ASSERT_TRUE((*pages)->start_page({16, 4, RasterKind::sgray_8, 300, 300}));
  std::vector<unsigned char> line(16, 0);
  ASSERT_TRUE((*pages)->write_line(2, line.data()));
  EXPECT_FALSE((*pages)->write_line(1, line.data()));
  EXPECT_FALSE((*pages)->write_line(4, line.data()));
  EXPECT_FALSE((*pages)->start_page({0, 4, RasterKind::sgray_8, 300, 300}));

  auto empty = TiffPages::create(dir_ / "empty.tif");
  ASSERT_TRUE(empty);
  EXPECT_FALSE((*empty)->finish());
}

TEST_F(RasterTiffTest, AJobThatEndsWithoutFinishLeavesNoFile) {
  {
    auto pages = TiffPages::create(dir_ / "cancelled.tif");
    ASSERT_TRUE(pages);
    ASSERT_TRUE((*pages)->start_page({16, 4, RasterKind::black_1, 300, 300}));
  }
  EXPECT_FALSE(fs::exists(dir_ / "cancelled.tif"));
}

}  // namespace
}  // namespace atdesk::ippd
