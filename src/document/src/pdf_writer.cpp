#include "pdf_writer.hpp"

#include <cstdio>

namespace atdesk::document::detail {
namespace {

class Writer {
 public:
  void raw(std::string_view s) {
    for (char c : s) out_.push_back(static_cast<std::byte>(c));
  }
  void raw(const Bytes& b) { out_.insert(out_.end(), b.begin(), b.end()); }
  // Starts object `n` and records its offset for the xref table.
  void begin(int n) {
    if (offsets_.size() <= static_cast<std::size_t>(n)) offsets_.resize(n + 1);
    offsets_[n] = out_.size();
    raw(std::to_string(n) + " 0 obj\n");
  }
  void end() { raw("\nendobj\n"); }
  Bytes finish(int root) {
    const auto xref = out_.size();
    raw("xref\n0 " + std::to_string(offsets_.size()) + "\n0000000000 65535 f \n");
    for (std::size_t i = 1; i < offsets_.size(); ++i) {
      char line[32];
      std::snprintf(line, sizeof line, "%010zu 00000 n \n", offsets_[i]);
      raw(line);
    }
    raw("trailer\n<< /Size " + std::to_string(offsets_.size()) + " /Root " + std::to_string(root) +
        " 0 R >>\nstartxref\n" + std::to_string(xref) + "\n%%EOF\n");
    return std::move(out_);
  }

 private:
  Bytes out_;
  std::vector<std::size_t> offsets_{0};
};

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

}  // namespace

Bytes write_pdf(const std::vector<PdfPage>& pages) {
  // Objects: 1 catalog, 2 pages; per page i: 3+3i page, 4+3i content, 5+3i image.
  Writer w;
  w.raw("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n");
  w.begin(1);
  w.raw("<< /Type /Catalog /Pages 2 0 R >>");
  w.end();
  std::string kids;
  for (std::size_t i = 0; i < pages.size(); ++i) kids += std::to_string(3 + 3 * i) + " 0 R ";
  w.begin(2);
  w.raw("<< /Type /Pages /Kids [ " + kids + "] /Count " + std::to_string(pages.size()) + " >>");
  w.end();
  for (std::size_t i = 0; i < pages.size(); ++i) {
    const auto& p = pages[i];
    const int page_obj = static_cast<int>(3 + 3 * i);
    const std::string wpt = number(p.width_pt), hpt = number(p.height_pt);
    w.begin(page_obj);
    w.raw("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 " + wpt + " " + hpt +
          "] /Resources << /XObject << /Im0 " + std::to_string(page_obj + 2) +
          " 0 R >> >> /Contents " + std::to_string(page_obj + 1) + " 0 R >>");
    w.end();
    const std::string content = "q " + wpt + " 0 0 " + hpt + " 0 0 cm /Im0 Do Q";
    w.begin(page_obj + 1);
    w.raw("<< /Length " + std::to_string(content.size()) + " >>\nstream\n" + content +
          "\nendstream");
    w.end();
    const auto& im = p.image;
    w.begin(page_obj + 2);
    std::string dict = "<< /Type /XObject /Subtype /Image /Width " + std::to_string(im.width) +
                       " /Height " + std::to_string(im.height) + " /ColorSpace " + im.color_space +
                       " /BitsPerComponent " + std::to_string(im.bits_per_component);
    if (!im.filter.empty()) dict += " /Filter " + im.filter;
    if (!im.decode_parms.empty()) dict += " /DecodeParms " + im.decode_parms;
    if (!im.decode.empty()) dict += " /Decode " + im.decode;
    dict += " /Length " + std::to_string(im.data.size()) + " >>\nstream\n";
    w.raw(dict);
    w.raw(im.data);
    w.raw("\nendstream");
    w.end();
  }
  return w.finish(1);
}

}  // namespace atdesk::document::detail
