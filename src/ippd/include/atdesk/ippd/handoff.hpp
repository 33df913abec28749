// The hand-off between atdesk-ippd (the IPP Everywhere printer, PAPPL) and atdeskd over a local
// Unix socket: what crosses it and how it is framed. One connection carries one document:
//
//   atdesk-ippd -> atdeskd   u32 big-endian N (1..kMaxHeaderBytes), N bytes of JSON header,
//                            u64 big-endian M (the header's "size"), M bytes of document
//   atdeskd -> atdesk-ippd   u32 big-endian K (1..kMaxHeaderBytes), K bytes of JSON answer
//
// The answer says "stored" only after atdeskd's submit returned a job: the document is fsync'd in
// the encrypted spool and its row is committed. atdesk-ippd completes the IPP job only then.
// docs/design-notes.md ("Print jobs from atdesk-ippd") has the reasons.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "atdesk/core/error.hpp"
#include "atdesk/core/incoming.hpp"

namespace atdesk::ippd {

inline constexpr std::uint32_t kMaxHeaderBytes = 64 * 1024;
inline constexpr std::size_t kMaxTextField = 1024;  // job name, user, host, queue, formats

// What atdesk-ippd knows about one complete document.
struct HandoffHeader {
  std::string queue;  // the PAPPL printer (queue) the job was sent to
  std::int64_t ipp_job_id = 0;
  std::string job_name;    // IPP job-name
  std::string user;        // IPP requesting-user-name (PAPPL's job-originating-user-name)
  std::string host;        // originating host address when known (empty with PAPPL 1.3.1)
  std::string ipp_format;  // document-format as received ("image/pwg-raster", ...)
  std::string format;      // what crosses the socket: "application/pdf" or "image/tiff"
  int pages = 0;           // pages counted by atdesk-ippd (raster), 0 when not counted
  std::uint64_t size = 0;  // bytes of document that follow the header
};

struct HandoffAnswer {
  bool stored = false;
  std::string job;    // atdesk's job id when stored
  std::string error;  // why not, when not stored
};

std::string encode_header(const HandoffHeader& header);
// Validates every field: strings of at most kMaxTextField bytes without control characters,
// format one of the two above, size 1..max_document_bytes. Errors name the field.
Result<HandoffHeader> parse_header(std::string_view json, std::uint64_t max_document_bytes);

std::string encode_answer(const HandoffAnswer& answer);
Result<HandoffAnswer> parse_answer(std::string_view json);

// Frame lengths in network byte order.
std::array<std::byte, 4> encode_u32(std::uint32_t value);
std::array<std::byte, 8> encode_u64(std::uint64_t value);
std::uint32_t decode_u32(std::span<const std::byte, 4> bytes);
std::uint64_t decode_u64(std::span<const std::byte, 8> bytes);

// The document as atdeskd submits it: source ipp, sender.ipp_user from the user (the recipient
// table's "ipp:<user>" rules), sender.ip from the host when it is an IP address, and a note with
// the queue, the IPP job id, the format as received and the page count.
IncomingDocument to_incoming(const HandoffHeader& header, std::vector<std::byte> data);

}  // namespace atdesk::ippd
