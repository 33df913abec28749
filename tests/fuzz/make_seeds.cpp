// Writes the document seeds of the probe and normalize targets: small fax TIFFs in every
// compression atdesk meets (made with the tests' libtiff generator) and a minimal PDF.
// Usage: make_seeds DIR... (each DIR gets the same files). Run by `scripts/fuzz --seeds`.
#include <tiffio.h>

#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "atdesk/testing/sample_fax.hpp"

namespace {

void write(const std::filesystem::path& file, const std::vector<std::byte>& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

// One page with a line of text; xref offsets computed so the file is valid as it is.
std::vector<std::byte> minimal_pdf() {
  const std::vector<std::string> objects = {
      "<< /Type /Catalog /Pages 2 0 R >>",
      "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents 4 0 R "
      "/Resources << /Font << /F1 5 0 R >> >> >>",
      "<< /Length 36 >>\nstream\nBT /F1 12 Tf 10 50 Td (FAX) Tj ET\nendstream",
      "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
  };
  std::string pdf = "%PDF-1.4\n";
  std::vector<std::size_t> offsets;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    offsets.push_back(pdf.size());
    pdf += std::to_string(i + 1) + " 0 obj\n" + objects[i] + "\nendobj\n";
  }
  const auto xref = pdf.size();
  pdf += "xref\n0 " + std::to_string(objects.size() + 1) + "\n0000000000 65535 f \n";
  for (auto offset : offsets) {
    char line[32];
    std::snprintf(line, sizeof line, "%010zu 00000 n \n", offset);
    pdf += line;
  }
  pdf += "trailer\n<< /Size " + std::to_string(objects.size() + 1) +
         " /Root 1 0 R >>\nstartxref\n" + std::to_string(xref) + "\n%%EOF\n";
  std::vector<std::byte> out(pdf.size());
  for (std::size_t i = 0; i < pdf.size(); ++i) out[i] = static_cast<std::byte>(pdf[i]);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  using atdesk::testing::sample_fax;
  const std::vector<std::pair<std::string, std::vector<std::byte>>> seeds = {
      // sample_fax() draws its bar over bytes 10-99 of a row: widths of at least 800 px.
      {"g4-1page.tif", sample_fax(1, COMPRESSION_CCITTFAX4, 1728, 200)},
      {"g4-2pages.tif", sample_fax(2, COMPRESSION_CCITTFAX4, 864, 120)},
      {"g3-1d.tif", sample_fax(1, COMPRESSION_CCITTFAX3, 864, 100)},
      {"rle.tif", sample_fax(1, COMPRESSION_CCITTRLE, 864, 60)},
      {"none.tif", sample_fax(1, COMPRESSION_NONE, 864, 80)},
      {"lzw.tif", sample_fax(1, COMPRESSION_LZW, 864, 100)},
      {"packbits.tif", sample_fax(1, COMPRESSION_PACKBITS, 864, 100)},
      {"deflate.tif", sample_fax(1, COMPRESSION_ADOBE_DEFLATE, 864, 100)},
      {"minimal.pdf", minimal_pdf()},
  };
  for (int i = 1; i < argc; ++i) {
    std::filesystem::create_directories(argv[i]);
    for (const auto& [name, bytes] : seeds) write(std::filesystem::path(argv[i]) / name, bytes);
  }
  return 0;
}
