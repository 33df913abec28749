#include "rtp.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace atdesk::fax_sip {

Result<RtpPacket> parse_rtp(std::span<const std::uint8_t> d) {
  if (d.size() < 12) {
    return fail(Errc::invalid_argument,
                "RTP: datagram of " + std::to_string(d.size()) + " octets, expected at least 12");
  }
  if ((d[0] >> 6) != 2) {
    return fail(Errc::invalid_argument,
                "RTP: version " + std::to_string(d[0] >> 6) + ", expected 2");
  }
  RtpPacket p;
  const bool padding = (d[0] & 0x20) != 0;
  const bool extension = (d[0] & 0x10) != 0;
  const std::size_t csrc = d[0] & 0x0f;
  p.payload_type = d[1] & 0x7f;
  p.seq = static_cast<std::uint16_t>((d[2] << 8) | d[3]);
  p.timestamp =
      (std::uint32_t{d[4]} << 24) | (std::uint32_t{d[5]} << 16) | (std::uint32_t{d[6]} << 8) | d[7];
  p.ssrc = (std::uint32_t{d[8]} << 24) | (std::uint32_t{d[9]} << 16) | (std::uint32_t{d[10]} << 8) |
           d[11];
  std::size_t pos = 12 + 4 * csrc;
  if (extension) {
    if (d.size() < pos + 4) return fail(Errc::invalid_argument, "RTP: truncated header extension");
    pos += 4 + 4 * static_cast<std::size_t>((d[pos + 2] << 8) | d[pos + 3]);
  }
  std::size_t end = d.size();
  if (padding && end > 0) {
    const std::size_t pad = d[end - 1];
    if (pad > end) return fail(Errc::invalid_argument, "RTP: padding longer than the packet");
    end -= pad;
  }
  if (pos > end) return fail(Errc::invalid_argument, "RTP: header longer than the packet");
  p.payload = d.subspan(pos, end - pos);
  return p;
}

std::vector<std::uint8_t> RtpSender::frame(std::span<const std::uint8_t> payload) {
  std::vector<std::uint8_t> out(12 + payload.size());
  out[0] = 0x80;
  out[1] = static_cast<std::uint8_t>(payload_type_ & 0x7f);
  out[2] = static_cast<std::uint8_t>(seq_ >> 8);
  out[3] = static_cast<std::uint8_t>(seq_);
  for (int i = 0; i < 4; ++i) {
    out[4 + i] = static_cast<std::uint8_t>(timestamp_ >> (24 - 8 * i));
    out[8 + i] = static_cast<std::uint8_t>(ssrc_ >> (24 - 8 * i));
  }
  std::memcpy(out.data() + 12, payload.data(), payload.size());
  ++seq_;
  timestamp_ += static_cast<std::uint32_t>(payload.size());
  return out;
}

std::string Endpoint::host() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr, buf, sizeof buf);
  } else if (addr.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

int Endpoint::port() const {
  if (addr.ss_family == AF_INET)
    return ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
  if (addr.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
  }
  return 0;
}

std::string Endpoint::describe() const {
  const auto h = host();
  return (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + std::to_string(port());
}

Result<Endpoint> resolve_endpoint(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const auto service = std::to_string(port);
  if (const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return fail(Errc::invalid_argument,
                "\"" + host + "\": expected a numeric IP address: " + gai_strerror(rc));
  }
  Endpoint e;
  std::memcpy(&e.addr, found->ai_addr, found->ai_addrlen);
  e.len = found->ai_addrlen;
  freeaddrinfo(found);
  return e;
}

Result<UdpSocket> UdpSocket::bind(const std::string& address, int port) {
  auto where = resolve_endpoint(address, port);
  if (!where) return fail(where.error());
  const int fd = ::socket(where->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(Errc::io, "UDP socket: " + std::string(std::strerror(errno)));
  UdpSocket s(fd);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&where->addr), where->len) != 0) {
    return fail(Errc::io, "UDP bind " + where->describe() + ": " + std::strerror(errno));
  }
  return s;
}

UdpSocket& UdpSocket::operator=(UdpSocket&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

UdpSocket::~UdpSocket() {
  if (fd_ >= 0) ::close(fd_);
}

int UdpSocket::port() const {
  Endpoint e;
  e.len = sizeof e.addr;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&e.addr), &e.len) != 0) return 0;
  return e.port();
}

void UdpSocket::send_to(std::span<const std::uint8_t> data, const Endpoint& to) const {
  // A lost datagram is what UDP does anyway; the fax protocol above copes (or ECM does).
  (void)::sendto(fd_, data.data(), data.size(), 0, reinterpret_cast<const sockaddr*>(&to.addr),
                 to.len);
}

std::optional<std::vector<std::uint8_t>> UdpSocket::receive(Endpoint* from) const {
  std::vector<std::uint8_t> buf(2048);
  Endpoint src;
  src.len = sizeof src.addr;
  const auto n =
      ::recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&src.addr), &src.len);
  if (n < 0) return std::nullopt;
  buf.resize(static_cast<std::size_t>(n));
  if (from) *from = src;
  return buf;
}

}  // namespace atdesk::fax_sip
