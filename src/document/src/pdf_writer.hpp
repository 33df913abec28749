// A small PDF generator: pages that each show one image XObject filling the page. Enough to
// carry CCITT fax data unchanged (CCITTFaxDecode) or lossless images (FlateDecode).
#pragma once

#include <string>
#include <vector>

#include "atdesk/document/document.hpp"

namespace atdesk::document::detail {

struct PdfImage {
  int width = 0;
  int height = 0;
  int bits_per_component = 1;
  std::string color_space = "/DeviceGray";
  std::string filter;        // "/CCITTFaxDecode" or "/FlateDecode"
  std::string decode_parms;  // "<< /K -1 /Columns 1728 ... >>" or ""
  std::string decode;        // "[1 0]" to invert, or ""
  Bytes data;                // the encoded stream
};

struct PdfPage {
  double width_pt = 0;
  double height_pt = 0;
  PdfImage image;
};

Bytes write_pdf(const std::vector<PdfPage>& pages);

}  // namespace atdesk::document::detail
