// Reading TIFF from memory with libtiff: an RAII handle over TIFFClientOpenExt whose error and
// warning messages are captured per handle (no global handlers), and per-page facts.
#pragma once

#include <tiffio.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "atdesk/core/error.hpp"
#include "atdesk/document/document.hpp"
#include "atdesk/handles/tiff.hpp"

namespace atdesk::document::detail {

using handles::TiffPtr;

// Everything the reader needs to outlive the TIFF handle.
class TiffReader {
 public:
  // Opens the first directory. The bytes must outlive the reader.
  static Result<std::unique_ptr<TiffReader>> open(std::span<const std::byte> data,
                                                  std::string_view name);
  ~TiffReader();
  TiffReader(const TiffReader&) = delete;
  TiffReader& operator=(const TiffReader&) = delete;

  TIFF* tiff() const { return tiff_.get(); }
  // The last libtiff error, or "" (errors and warnings are captured, never printed).
  const std::string& last_error() const { return error_; }
  void clear_error() { error_.clear(); }
  const std::string& name() const { return name_; }

  struct Page {
    PageInfo info;
    std::uint16_t bits_per_sample = 1;
    std::uint16_t samples_per_pixel = 1;
    std::uint16_t photometric = PHOTOMETRIC_MINISWHITE;
    std::uint16_t fill_order = FILLORDER_MSB2LSB;
    std::uint32_t group3_options = 0;
    std::uint32_t strips = 0;
    std::uint16_t compression_tag = COMPRESSION_NONE;
    bool resolution_assumed = false;
  };
  // Reads and validates the facts of the current directory against `limits`; `index` is 0-based
  // and used in messages ("fax.tif: page 3: ...").
  Result<Page> page(int index, const Limits& limits) const;

  struct Memory {
    const unsigned char* data;
    std::uint64_t size;
    std::uint64_t pos;
  };

 private:
  TiffReader() = default;
  Memory memory_{};
  std::string name_;
  std::string error_;
  TIFFOpenOptions* options_ = nullptr;
  TiffPtr tiff_;
  friend int capture_error(TIFF*, void*, const char*, const char*, va_list);
};

// Reads every directory (from the current one) and validates each page; bounded by
// limits.max_pages so a looping directory chain cannot hang.
Result<std::vector<TiffReader::Page>> read_tiff_pages(TiffReader& reader, const Limits& limits);

// Error text helper: "<name>: page <n>: <what>".
std::string page_error(std::string_view name, int index, std::string_view what);

}  // namespace atdesk::document::detail
