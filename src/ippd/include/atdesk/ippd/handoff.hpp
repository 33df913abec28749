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
  std::string job_name;  // IPP job-name
  std::string user;      // the job's owner as atdesk-ippd knows it (see `identity`)
  // How `user` was established: "claimed" (the client's requesting-user-name, nobody checked
  // it), "queue" (a personal queue of [ipp_server] owners), "token" (a personal queue URL with
  // the person's token), "basic" (HTTP Basic over TLS against atdesk's accounts).
  std::string identity = "claimed";
  std::string host;        // originating host address when known (empty with PAPPL 1.3.1)
  std::string ipp_format;  // document-format as received ("image/pwg-raster", ...)
  std::string format;      // what crosses the socket: "application/pdf" or "image/tiff"
  int pages = 0;           // pages counted by atdesk-ippd (raster), 0 when not counted
  std::uint64_t size = 0;  // bytes of document that follow the header
};

// Whether an identity was claimed by an IPP client: true for "queue", "token" and "basic".
bool is_trusted_identity(std::string_view identity);

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

// The other request on the socket: atdesk-ippd asks atdeskd who a client is, before PAPPL takes
// its job. The header is {"op": "identify", ...} and no document follows; the answer names the
// person (the account, or the token's owner) or says why not. Secrets cross only this 0600
// socket and are never logged.
struct IdentifyRequest {
  std::string kind;      // "basic" (user and password) or "token"
  std::string user;      // basic: the account name
  std::string password;  // basic
  std::string token;     // token: the secret part of the personal queue's URL
};
struct IdentifyAnswer {
  bool ok = false;
  std::string user;   // the person when ok
  std::string error;  // why not
};
std::string encode_identify(const IdentifyRequest& request);
// Errc::invalid_argument naming the field; an object without "op" is not an identify request
// (Errc::not_found), so the server reads it as a document header.
Result<IdentifyRequest> parse_identify(std::string_view json);
std::string encode_identify_answer(const IdentifyAnswer& answer);
Result<IdentifyAnswer> parse_identify_answer(std::string_view json);

// Frame lengths in network byte order.
std::array<std::byte, 4> encode_u32(std::uint32_t value);
std::array<std::byte, 8> encode_u64(std::uint64_t value);
std::uint32_t decode_u32(std::span<const std::byte, 4> bytes);
std::uint64_t decode_u64(std::span<const std::byte, 8> bytes);

// The document as atdeskd submits it: source ipp, sender.ipp_user from the user (the recipient
// table's "ipp:<user>" rules), sender.ip from the host when it is an IP address, and a note with
// the queue, the IPP job id, how the user was established, the format as received and the page
// count.
IncomingDocument to_incoming(const HandoffHeader& header, std::vector<std::byte> data);

}  // namespace atdesk::ippd
