// UDPTL, the UDP transport of T.38 (ITU-T T.38 (2010) §9.1 and Annex A, "UDPTLPacket"): each
// datagram carries a 16-bit sequence number, the primary IFP packet, and error recovery made of
// the previous IFP packets ("secondary-ifp-packets", redundancy). Debian's SpanDSP 0.0.6 ships
// no udptl.h, so atdesk frames UDPTL itself. Forward error correction (fec-info) is understood
// as "no secondaries" on receive and never sent; atdesk sends redundancy only.
//
// Encoding (ASN.1 PER, aligned, as T.38 Annex A specifies):
//   seq-number          2 octets, big-endian
//   primary-ifp-packet  length determinant + octets
//   error-recovery      1 octet choice: 0x00 secondary-ifp-packets, 0x80 fec-info
//     secondary         length determinant (count) + each packet (length determinant + octets),
//                       newest first (seq-1, seq-2, ...)
// A length determinant is one octet for 0-127, two octets (0x80 | high six bits, low octet) for
// 128-16383; larger lengths (fragmented) are rejected.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "atdesk/core/error.hpp"

namespace atdesk::fax_sip {

struct UdptlPacket {
  std::uint16_t seq = 0;
  std::vector<std::uint8_t> primary;
  std::vector<std::vector<std::uint8_t>> secondary;  // seq-1, seq-2, ...
};

// Parses one datagram; a malformed one is Errc::invalid_argument naming what was wrong.
Result<UdptlPacket> parse_udptl(std::span<const std::uint8_t> datagram);

// Frames IFP packets for sending, with the last `redundancy` packets repeated in each datagram,
// as many of them (newest first) as fit in `max_datagram` octets (the peer's T38FaxMaxDatagram;
// 0: no limit), so a peer that sizes its buffers by what it announced gets whole datagrams.
class UdptlSender {
 public:
  explicit UdptlSender(int redundancy, int max_datagram = 0)
      : redundancy_(redundancy), max_datagram_(max_datagram) {}
  std::vector<std::uint8_t> frame(std::span<const std::uint8_t> ifp);

 private:
  int redundancy_;
  int max_datagram_;
  std::uint16_t seq_ = 0;
  std::deque<std::vector<std::uint8_t>> history_;  // newest first
};

// Turns received datagrams back into the IFP sequence: packets lost in between are recovered
// from the redundancy of a later datagram; duplicates and late (reordered, already recovered or
// given up) packets are dropped.
class UdptlReceiver {
 public:
  struct Ifp {
    std::uint16_t seq;
    std::vector<std::uint8_t> data;
  };
  // The IFP packets now deliverable, in order (possibly none, possibly several).
  std::vector<Ifp> receive(const UdptlPacket& packet);
  std::uint64_t recovered() const { return recovered_; }
  std::uint64_t late() const { return late_; }  // dropped: behind the sequence delivered

 private:
  bool started_ = false;
  std::uint16_t expected_ = 0;
  std::uint64_t recovered_ = 0;
  std::uint64_t late_ = 0;
};

}  // namespace atdesk::fax_sip
