#include "udptl.hpp"

#include <string>

namespace atdesk::fax_sip {
namespace {

constexpr std::size_t kMaxLength = 16383;

struct Reader {
  std::span<const std::uint8_t> data;
  std::size_t pos = 0;

  Result<std::size_t> length(const char* what) {
    if (pos >= data.size())
      return fail(Errc::invalid_argument, std::string("UDPTL: ") + what + ": truncated length");
    const auto first = data[pos++];
    if ((first & 0x80) == 0) return first;
    if ((first & 0xc0) == 0xc0) {
      return fail(Errc::unsupported,
                  std::string("UDPTL: ") + what + ": fragmented length (over 16383 octets)");
    }
    if (pos >= data.size())
      return fail(Errc::invalid_argument, std::string("UDPTL: ") + what + ": truncated length");
    return (static_cast<std::size_t>(first & 0x3f) << 8) | data[pos++];
  }

  Result<std::vector<std::uint8_t>> octets(const char* what) {
    auto n = length(what);
    if (!n) return fail(n.error());
    if (data.size() - pos < *n) {
      return fail(Errc::invalid_argument, std::string("UDPTL: ") + what + ": " +
                                              std::to_string(*n) + " octets announced, " +
                                              std::to_string(data.size() - pos) + " present");
    }
    std::vector<std::uint8_t> out(data.begin() + static_cast<std::ptrdiff_t>(pos),
                                  data.begin() + static_cast<std::ptrdiff_t>(pos + *n));
    pos += *n;
    return out;
  }
};

void put_length(std::vector<std::uint8_t>& out, std::size_t n) {
  if (n < 128) {
    out.push_back(static_cast<std::uint8_t>(n));
  } else {
    out.push_back(static_cast<std::uint8_t>(0x80 | (n >> 8)));
    out.push_back(static_cast<std::uint8_t>(n & 0xff));
  }
}

void put_octets(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> data) {
  put_length(out, data.size());
  out.insert(out.end(), data.begin(), data.end());
}

}  // namespace

Result<UdptlPacket> parse_udptl(std::span<const std::uint8_t> datagram) {
  if (datagram.size() < 4) {
    return fail(Errc::invalid_argument, "UDPTL: datagram of " + std::to_string(datagram.size()) +
                                            " octets, expected at least 4");
  }
  UdptlPacket p;
  p.seq = static_cast<std::uint16_t>((datagram[0] << 8) | datagram[1]);
  Reader r{datagram, 2};
  auto primary = r.octets("primary IFP");
  if (!primary) return fail(primary.error());
  if (primary->empty()) return fail(Errc::invalid_argument, "UDPTL: empty primary IFP packet");
  p.primary = std::move(*primary);
  if (r.pos >= datagram.size())
    return fail(Errc::invalid_argument, "UDPTL: no error-recovery field");
  const auto choice = datagram[r.pos++];
  if ((choice & 0x80) == 0) {
    auto count = r.length("secondary count");
    if (!count) return fail(count.error());
    for (std::size_t i = 0; i < *count; ++i) {
      auto s = r.octets("secondary IFP");
      if (!s) return fail(s.error());
      p.secondary.push_back(std::move(*s));
    }
  }
  // fec-info: not used by atdesk; the primary alone is still good.
  return p;
}

std::vector<std::uint8_t> UdptlSender::frame(std::span<const std::uint8_t> ifp) {
  std::vector<std::uint8_t> out;
  out.reserve(4 + ifp.size() * (1 + history_.size()) + 4 * history_.size());
  out.push_back(static_cast<std::uint8_t>(seq_ >> 8));
  out.push_back(static_cast<std::uint8_t>(seq_ & 0xff));
  put_octets(out, ifp.subspan(0, std::min(ifp.size(), kMaxLength)));
  out.push_back(0x00);  // secondary-ifp-packets
  // How many of the previous packets fit: each costs its length and a length determinant; the
  // count itself costs one octet (two from 128 on, never reached with redundancy <= 127).
  std::size_t count = history_.size();
  if (max_datagram_ > 0) {
    std::size_t size = out.size() + 1;
    std::size_t fit = 0;
    for (const auto& h : history_) {
      const std::size_t cost = h.size() + (h.size() < 128 ? 1 : 2);
      if (size + cost > static_cast<std::size_t>(max_datagram_)) break;
      size += cost;
      ++fit;
    }
    count = fit;
  }
  put_length(out, count);
  for (std::size_t i = 0; i < count; ++i) put_octets(out, history_[i]);
  history_.emplace_front(ifp.begin(), ifp.end());
  while (history_.size() > static_cast<std::size_t>(redundancy_)) history_.pop_back();
  ++seq_;
  return out;
}

std::vector<UdptlReceiver::Ifp> UdptlReceiver::receive(const UdptlPacket& packet) {
  std::vector<Ifp> out;
  if (!started_) {
    started_ = true;
    expected_ = packet.seq;
  }
  // Distance ahead of what we expect, modulo 2^16; "behind" (late or duplicate) is >= 0x8000.
  const auto ahead = static_cast<std::uint16_t>(packet.seq - expected_);
  if (ahead >= 0x8000) {
    ++late_;
    return out;
  }
  // Recover what was lost from the secondaries, oldest first.
  for (std::size_t back = std::min<std::size_t>(ahead, packet.secondary.size()); back > 0; --back) {
    const auto seq = static_cast<std::uint16_t>(packet.seq - back);
    out.push_back(Ifp{seq, packet.secondary[back - 1]});
    ++recovered_;
  }
  out.push_back(Ifp{packet.seq, packet.primary});
  expected_ = static_cast<std::uint16_t>(packet.seq + 1);
  return out;
}

}  // namespace atdesk::fax_sip
