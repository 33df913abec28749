// RTP datagrams from a SIP peer's media port: fax_sip's parse_rtp (RFC 3550 header, CSRCs,
// extension and padding).
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_check.hpp"
#include "rtp.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> datagram(data, size);
  auto packet = atdesk::fax_sip::parse_rtp(datagram);
  atdesk::fuzz::check_error(packet);
  if (!packet) return 0;
  FUZZ_CHECK(size >= 12);
  FUZZ_CHECK(packet->payload_type >= 0 && packet->payload_type < 128);
  // The payload lies inside the datagram, after the fixed header.
  if (!packet->payload.empty()) {
    FUZZ_CHECK(packet->payload.data() >= data + 12);
    FUZZ_CHECK(packet->payload.data() + packet->payload.size() <= data + size);
  }
  // What atdesk frames reads back.
  atdesk::fax_sip::RtpSender sender(packet->payload_type, packet->ssrc);
  const auto framed = sender.frame(packet->payload);
  auto again = atdesk::fax_sip::parse_rtp(framed);
  FUZZ_CHECK(again && again->payload_type == packet->payload_type && again->ssrc == packet->ssrc &&
             again->payload.size() == packet->payload.size());
  return 0;
}
