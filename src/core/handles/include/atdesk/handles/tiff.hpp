// A libtiff handle owned by std::unique_ptr.
#pragma once

#include <tiffio.h>

#include <memory>

namespace atdesk::handles {

struct TiffClose {
  void operator()(TIFF* tiff) const { TIFFClose(tiff); }
};
using TiffPtr = std::unique_ptr<TIFF, TiffClose>;

}  // namespace atdesk::handles
