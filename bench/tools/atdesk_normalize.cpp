// atdesk-normalize IN.tif OUT.pdf: the document part's TIFF/PDF -> printable PDF conversion as a
// process, so the peer comparison (bench/compare_normalize.sh) times the same whole-process work
// for atdesk, tiff2pdf and cupsfilter.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>

#include "atdesk/document/document.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: atdesk-normalize IN OUT.pdf\n";
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  if (!in) {
    std::cerr << argv[1] << ": cannot open\n";
    return 1;
  }
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto* bytes = reinterpret_cast<const std::byte*>(text.data());
  auto pdf = atdesk::document::to_printable_pdf({bytes, text.size()}, argv[1], {});
  if (!pdf) {
    std::cerr << pdf.error().message << "\n";
    return 1;
  }
  std::ofstream out(argv[2], std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(pdf->data()), static_cast<std::streamsize>(pdf->size()));
  return out ? 0 : 1;
}
