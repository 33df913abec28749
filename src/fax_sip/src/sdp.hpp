// The SDP of a fax call (RFC 4566, RFC 3264 offer/answer): audio with PCMU or PCMA over RTP, or
// T.38 over UDPTL ("m=image PORT udptl t38", attributes of ITU-T T.38 Annex D / RFC 4612 text).
// Parsed and written here: only the c= and m= lines matter to a fax call (sofia-sip's SDP parser
// is not used: it corrupted its heap on malformed m= lines).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atdesk/core/error.hpp"
#include "rtp.hpp"

namespace atdesk::fax_sip {

enum class StreamKind { audio, t38, other };

struct SdpStream {
  StreamKind kind = StreamKind::other;
  std::string address;             // media-level c= or else the session-level one
  int port = 0;                    // 0: rejected or disabled
  std::vector<int> payload_types;  // audio: the offered formats in order
  std::string line;                // "m=..." as parsed, for rejecting it in an answer
};

struct SessionDescription {
  std::vector<SdpStream> streams;
};

// Errc::invalid_argument naming the line and what was wrong (syntax, bytes other than US-ASCII
// outside s= and i=, a bad c= or m= line, missing c=, no m= line).
Result<SessionDescription> parse_sdp(std::string_view text);

// Where the peer takes T.38: the first accepted (port not 0) T.38 stream of an answer to our
// T.38 re-INVITE, resolved; nullopt when the SDP is malformed or has none (stay on audio).
std::optional<Endpoint> t38_endpoint_of_answer(std::string_view answer);

// What atdesk offers or answers for one m= line.
struct LocalStream {
  StreamKind kind = StreamKind::audio;
  int port = 0;               // 0: rejected
  int payload_type = 0;       // audio: 0 (PCMU) or 8 (PCMA)
  std::string rejected_line;  // when port is 0: the offered m= line's media and proto
};

struct SdpOrigin {
  std::string address;  // our media address (also the o= address)
  unsigned long long session_id = 0;
  unsigned long long version = 0;
};

// An SDP body with one m= section per stream; audio offers list PCMU and PCMA when
// `payload_type` is -1.
std::string build_sdp(const SdpOrigin& origin, const std::vector<LocalStream>& streams);

// The answer's choice for an offer: which m= line (index) and what to answer on it.
struct AnswerChoice {
  std::size_t index = 0;
  StreamKind kind = StreamKind::audio;
  int payload_type = 0;
};
// T.38 when offered and allowed, else the first audio line with PCMU or PCMA (PCMU first);
// nullopt when nothing acceptable is offered (answer 488).
std::optional<AnswerChoice> choose_answer(const SessionDescription& offer, bool allow_t38);

}  // namespace atdesk::fax_sip
