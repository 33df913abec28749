// make_pwg OUT PAGES: a PWG raster document (PWG 5102.4) of PAGES A4 pages, 8-bit grey at
// 300 dpi, each with a black band whose height grows with the page number, written with libcups'
// raster writer (CUPS_RASTER_WRITE_PWG) as a driverless client sends it.
#include <cups/raster.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_pwg OUT PAGES\n");
    return 2;
  }
  const int pages = std::atoi(argv[2]);
  const int fd = ::open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || pages < 1) return 1;
  cups_raster_t* ras = cupsRasterOpen(fd, CUPS_RASTER_WRITE_PWG);
  cups_page_header2_t header;
  pwg_media_t* a4 = pwgMediaForPWG("iso_a4_210x297mm");
  if (!cupsRasterInitPWGHeader(&header, a4, "sgray_8", 300, 300, "one-sided", nullptr)) {
    std::fprintf(stderr, "make_pwg: %s\n", cupsLastErrorString());
    return 1;
  }
  header.cupsInteger[CUPS_RASTER_PWG_TotalPageCount] = static_cast<unsigned>(pages);
  std::vector<unsigned char> white(header.cupsBytesPerLine, 255);
  std::vector<unsigned char> black(header.cupsBytesPerLine, 0);
  for (int p = 1; p <= pages; ++p) {
    if (!cupsRasterWriteHeader2(ras, &header)) return 1;
    for (unsigned y = 0; y < header.cupsHeight; ++y) {
      const bool band = y >= 300 && y < 300 + 100u * static_cast<unsigned>(p);
      auto& line = band ? black : white;
      if (cupsRasterWritePixels(ras, line.data(), header.cupsBytesPerLine) == 0) return 1;
    }
  }
  cupsRasterClose(ras);
  ::close(fd);
  return 0;
}
