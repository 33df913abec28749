// UDPTL datagrams (T.38) from a SIP peer's media port: fax_sip's parse_udptl, and the receiver
// that recovers lost IFP packets from redundancy. The input is split into datagrams at each
// "\xff\xfe" so that a run also feeds sequences (losses, duplicates, reordering) to one receiver.
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_check.hpp"
#include "udptl.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  atdesk::fax_sip::UdptlReceiver receiver;
  std::uint64_t delivered = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= size; ++i) {
    const bool cut = i + 1 < size && data[i] == 0xff && data[i + 1] == 0xfe;
    if (!cut && i != size) continue;
    const std::span<const std::uint8_t> datagram(data + start, i - start);
    start = cut ? i + 2 : i;
    if (cut) ++i;
    auto packet = atdesk::fax_sip::parse_udptl(datagram);
    atdesk::fuzz::check_error(packet);
    if (!packet) continue;
    FUZZ_CHECK(packet->primary.size() < datagram.size());
    // Framing what was parsed gives a datagram that parses back to the same primary packet.
    atdesk::fax_sip::UdptlSender sender(0);
    auto again = atdesk::fax_sip::parse_udptl(sender.frame(packet->primary));
    FUZZ_CHECK(again && again->primary == packet->primary);
    std::uint16_t previous = 0;
    bool first = true;
    for (const auto& ifp : receiver.receive(*packet)) {
      // Delivered in sequence, each at most once.
      if (!first) FUZZ_CHECK(ifp.seq == static_cast<std::uint16_t>(previous + 1));
      previous = ifp.seq;
      first = false;
      ++delivered;
    }
  }
  FUZZ_CHECK(receiver.recovered() <= delivered);
  return 0;
}
