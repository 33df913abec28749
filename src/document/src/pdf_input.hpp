// Reading PDFs with poppler-cpp: load with errors captured, validate pages against the limits.
#pragma once

#include <poppler-document.h>
#include <memory>
#include <span>

#include "atdesk/document/document.hpp"

namespace atdesk::document::detail {

bool looks_like_pdf(std::span<const std::byte> data);
bool looks_like_tiff(std::span<const std::byte> data);

Result<std::unique_ptr<poppler::document>> load_pdf(std::span<const std::byte> data,
                                                    std::string_view name, const Limits& limits,
                                                    DocumentInfo* info);

}  // namespace atdesk::document::detail
