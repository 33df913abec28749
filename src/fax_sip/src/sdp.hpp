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

// RFC 3264 §5.1/§6.1: a=sendrecv (the default), a=sendonly, a=recvonly, a=inactive.
enum class Direction { sendrecv, sendonly, recvonly, inactive };
// The direction an answer gives to an offered one (RFC 3264 §6.1).
Direction answer_direction(Direction offered);

// The T.38 attributes of an m=image line (ITU-T T.38 Annex D.2.3, RFC 4612 names).
struct T38Params {
  int version = 0;
  int max_bit_rate = 14400;   // T38MaxBitRate
  bool local_tcf = false;     // T38FaxRateManagement: localTCF, else transferredTCF
  int max_datagram = 0;       // T38FaxMaxDatagram; 0: not given
  int max_buffer = 0;         // T38FaxMaxBuffer; 0: not given
  bool redundancy = true;     // T38FaxUdpEC: t38UDPRedundancy (FEC or none: false)
  bool udp_ec_given = false;  // a T38FaxUdpEC line was present
};

struct SdpStream {
  StreamKind kind = StreamKind::other;
  std::string address;                        // media-level c= or else the session-level one
  int port = 0;                               // 0: rejected or disabled
  std::vector<int> payload_types;             // audio: the offered formats in order
  std::string line;                           // "m=..." as parsed, for rejecting it in an answer
  Direction direction = Direction::sendrecv;  // media-level, else session-level, else sendrecv
  int ptime = 0;                              // a=ptime in ms; 0: not given
  T38Params t38;                              // image/udptl: the attributes given
};

struct SessionDescription {
  std::vector<SdpStream> streams;
};

// Errc::invalid_argument naming the line and what was wrong (syntax, bytes other than US-ASCII
// outside s= and i=, a bad c= or m= line, missing c=, no m= line).
Result<SessionDescription> parse_sdp(std::string_view text);

// Where the peer takes T.38: the first accepted (port not 0) T.38 stream of an answer to our
// T.38 re-INVITE, resolved; nullopt when the SDP is malformed or has none (stay on audio).
std::optional<Endpoint> t38_endpoint_of_answer(std::string_view answer,
                                               T38Params* params = nullptr);

// What atdesk offers or answers for one m= line.
struct LocalStream {
  StreamKind kind = StreamKind::audio;
  int port = 0;               // 0: rejected
  int payload_type = 0;       // audio: 0 (PCMU) or 8 (PCMA)
  std::string rejected_line;  // when port is 0: the offered m= line's media and proto
  Direction direction = Direction::sendrecv;
  int ptime = 20;  // audio: a=ptime
  T38Params t38;   // T.38: what to announce
};

// What atdesk announces for T.38 when it offers: version 0, 14400 bit/s, transferredTCF, a
// maximum datagram of 1400 octets (Asterisk derives its largest IFP from the peer's value and
// truncates longer ones), redundancy.
T38Params our_t38_offer();
// The T.38 answer derived from an offer (ITU-T T.38 Annex D.2.3): the lower version and bit
// rate, the offered rate management echoed, our maximum datagram (1400), redundancy (also to an
// offer of FEC, which atdesk does not send).
T38Params answer_t38(const T38Params& offered);

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
// T.38 when offered and allowed, else the first audio line with PCMU or PCMA, the codec the
// offer lists first (RFC 3264 §6.1: the offerer's order is its preference) unless `keep` (the
// codec running on the call, -1: none) is still offered; nullopt when nothing acceptable is
// offered (answer 488).
// The first PCMU or PCMA payload type of an audio stream, in the stream's order; -1 when it has
// neither (or is not audio).
int first_g711_payload(const SdpStream& stream);

std::optional<AnswerChoice> choose_answer(const SessionDescription& offer, bool allow_t38,
                                          int keep = -1);

}  // namespace atdesk::fax_sip
