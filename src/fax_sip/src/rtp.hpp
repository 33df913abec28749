// RTP (RFC 3550) for G.711 audio, and the UDP socket that carries RTP or UDPTL. Only what a fax
// call needs: 20 ms frames of PCMU (payload type 0) or PCMA (8), no RTCP, no jitter buffer (the
// modem tolerates the jitter of a LAN or a trunk; loss is what ECM is for).
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "atdesk/core/error.hpp"

namespace atdesk::fax_sip {

inline constexpr int kPayloadPcmu = 0;
inline constexpr int kPayloadPcma = 8;
inline constexpr int kSamplesPerFrame = 160;  // 20 ms at 8 kHz

struct RtpPacket {
  int payload_type = 0;
  std::uint16_t seq = 0;
  std::uint32_t timestamp = 0;
  std::uint32_t ssrc = 0;
  std::span<const std::uint8_t> payload;  // points into the datagram
};

// Parses an RTP datagram (version 2; CSRCs, header extension and padding skipped).
Result<RtpPacket> parse_rtp(std::span<const std::uint8_t> datagram);

// Builds outgoing packets of one stream. The first sequence number and timestamp are given
// (random ones in a call, RFC 3550 §5.1: a known start helps attacks on encryption and makes
// streams of successive calls look alike to a peer's jitter buffer).
class RtpSender {
 public:
  RtpSender(int payload_type, std::uint32_t ssrc, std::uint16_t first_seq = 0,
            std::uint32_t first_timestamp = 0)
      : payload_type_(payload_type), ssrc_(ssrc), seq_(first_seq), timestamp_(first_timestamp) {}
  std::vector<std::uint8_t> frame(std::span<const std::uint8_t> payload);
  // Switches the payload type (the codec a re-INVITE chose); the stream goes on.
  void set_payload_type(int payload_type) { payload_type_ = payload_type; }

 private:
  int payload_type_;
  std::uint32_t ssrc_;
  std::uint16_t seq_ = 0;
  std::uint32_t timestamp_ = 0;
};

// An IPv4/IPv6 address and port.
struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string host() const;
  int port() const;
  std::string describe() const;  // "host:port"
};
Result<Endpoint> resolve_endpoint(const std::string& host, int port);

// A non-blocking UDP socket bound to an address (port 0: the system chooses).
class UdpSocket {
 public:
  static Result<UdpSocket> bind(const std::string& address, int port);
  UdpSocket(UdpSocket&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  UdpSocket& operator=(UdpSocket&& other) noexcept;
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;
  ~UdpSocket();

  int port() const;
  int fd() const { return fd_; }
  void send_to(std::span<const std::uint8_t> data, const Endpoint& to) const;
  // One datagram if any is waiting (nullopt when none), with its source.
  std::optional<std::vector<std::uint8_t>> receive(Endpoint* from = nullptr) const;

 private:
  explicit UdpSocket(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace atdesk::fax_sip
