// A strict multipart/form-data parser (RFC 7578 over RFC 2046) for uploads: a pure function over
// the request body, returning views into it. Strict means: the body starts with the first
// boundary (no preamble) and ends with the closing one (optionally followed by CRLF), lines end
// in CRLF, no folded or bare-CR/LF header lines, exactly one Content-Disposition of type
// form-data with a name per part, and limits on parts, header blocks and part sizes.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atdesk/core/error.hpp"

namespace atdesk::api {

struct MultipartLimits {
  std::size_t max_parts = 16;
  std::size_t max_part_bytes = 64ull << 20;  // data of a part with a filename (a file)
  std::size_t max_field_bytes = 64 * 1024;   // data of a part without a filename
  std::size_t max_header_bytes = 8 * 1024;   // header block of one part
};

struct FormPart {
  std::string name;                     // Content-Disposition name
  std::optional<std::string> filename;  // Content-Disposition filename, as sent
  std::string content_type;             // the part's Content-Type, empty when absent
  std::string_view data;                // the part's content: a view into the parsed body
};

// The boundary parameter of a `multipart/form-data` Content-Type (1-70 characters of the RFC
// 2046 set). Another media type: Errc::unsupported; a missing or bad boundary:
// Errc::invalid_argument.
Result<std::string> multipart_boundary(std::string_view content_type);

// Parses a body with the given boundary. Malformed input: Errc::invalid_argument naming the part
// and what was expected; over a limit: Errc::limit_exceeded; a Content-Transfer-Encoding other
// than 7bit, 8bit or binary: Errc::unsupported.
Result<std::vector<FormPart>> parse_multipart(std::string_view body, std::string_view boundary,
                                              const MultipartLimits& limits = {});

// multipart_boundary() then parse_multipart().
Result<std::vector<FormPart>> parse_form_data(std::string_view content_type, std::string_view body,
                                              const MultipartLimits& limits = {});

}  // namespace atdesk::api
