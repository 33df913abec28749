#include "sdp.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace atdesk::fax_sip {
namespace {

// RFC 4566 §5: only the free-text lines (s=, i=) carry UTF-8; every other line is US-ASCII text.
Result<void> check_sdp_bytes(std::string_view text) {
  int line = 1;
  char type = text.empty() ? '\0' : text[0];
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++line;
      type = i + 1 < text.size() ? text[i + 1] : '\0';
      continue;
    }
    const bool free_text = type == 's' || type == 'i';
    const bool ok = c == '\r' || c == '\t' || (c >= 0x20 && c < 0x7f) || (free_text && c >= 0x80);
    if (!ok) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", c);
      return fail(Errc::invalid_argument, "SDP: line " + std::to_string(line) + ": byte " + hex +
                                              " (only s= and i= lines may be other than US-ASCII "
                                              "text)");
    }
  }
  return {};
}

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    const auto start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

bool same_text(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// A decimal number of 1 to `max_digits` digits, or -1.
long number(std::string_view s, std::size_t max_digits) {
  if (s.empty() || s.size() > max_digits) return -1;
  long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::string where(int line) {
  return "SDP: line " + std::to_string(line) + ": ";
}

// "c=IN IP4 192.0.2.1" (a multicast "/ttl" is dropped): the address.
Result<std::string> connection_address(std::string_view value, int line) {
  const auto w = words(value);
  if (w.size() != 3 || w[0] != "IN" || (w[1] != "IP4" && w[1] != "IP6")) {
    return fail(Errc::invalid_argument, where(line) + "expected \"c=IN IP4|IP6 address\"");
  }
  const auto address = w[2].substr(0, w[2].find('/'));
  if (address.empty()) return fail(Errc::invalid_argument, where(line) + "c= without an address");
  return std::string(address);
}

// "m=audio 4000 RTP/AVP 0 8" / "m=image 4002 udptl t38".
Result<SdpStream> media_line(std::string_view value, int line) {
  const auto w = words(value);
  if (w.size() < 3) {
    return fail(Errc::invalid_argument, where(line) + "expected \"m=media port proto formats\"");
  }
  SdpStream s;
  const auto port = number(w[1].substr(0, w[1].find('/')), 5);
  if (port < 0 || port > 65535) {
    return fail(Errc::invalid_argument,
                where(line) + "m= port \"" + std::string(w[1]) + "\" is not 0-65535");
  }
  s.port = static_cast<int>(port);
  const bool rtp = same_text(w[2], "RTP/AVP");
  if (same_text(w[0], "audio") && rtp) {
    s.kind = StreamKind::audio;
  } else if (same_text(w[0], "image") && same_text(w[2], "udptl")) {
    s.kind = StreamKind::t38;
  }
  s.line = std::string(w[0]) + " 0 " + std::string(w[2]);
  for (std::size_t i = 3; i < w.size(); ++i) {
    if (rtp) {
      const auto pt = number(w[i], 3);
      if (pt < 0 || pt > 127) {
        return fail(Errc::invalid_argument,
                    where(line) + "\"" + std::string(w[i]) + "\" is not an RTP payload type");
      }
      s.payload_types.push_back(static_cast<int>(pt));
    }
    s.line += " " + std::string(w[i]);
  }
  return s;
}

std::optional<Direction> direction_of(std::string_view attribute) {
  if (same_text(attribute, "sendrecv")) return Direction::sendrecv;
  if (same_text(attribute, "sendonly")) return Direction::sendonly;
  if (same_text(attribute, "recvonly")) return Direction::recvonly;
  if (same_text(attribute, "inactive")) return Direction::inactive;
  return std::nullopt;
}

// One a= line of a media section: direction, ptime and the T.38 attributes (names compared
// without case: peers write "T38FaxMaxDatagram", "t38faxmaxdatagram" and RFC 4612's
// "T38MaxDatagram"). Unknown or unparsable values are left at their defaults: an attribute a
// fax call does not need must not make the call fail.
void media_attribute(SdpStream& s, std::string_view value) {
  const auto colon = value.find(':');
  const auto name = value.substr(0, colon);
  const auto arg = colon == std::string_view::npos ? std::string_view() : value.substr(colon + 1);
  const auto trimmed = words(arg);
  const std::string_view first = trimmed.empty() ? std::string_view() : trimmed[0];
  if (auto d = direction_of(name); d && colon == std::string_view::npos) {
    s.direction = *d;
  } else if (same_text(name, "ptime")) {
    if (const auto v = number(first, 4); v > 0) s.ptime = static_cast<int>(v);
  } else if (same_text(name, "T38FaxVersion")) {
    if (const auto v = number(first, 2); v >= 0) s.t38.version = static_cast<int>(v);
  } else if (same_text(name, "T38MaxBitRate") || same_text(name, "T38FaxMaxRate")) {
    if (const auto v = number(first, 5); v > 0) s.t38.max_bit_rate = static_cast<int>(v);
  } else if (same_text(name, "T38FaxRateManagement")) {
    s.t38.local_tcf = same_text(first, "localTCF");
  } else if (same_text(name, "T38FaxMaxDatagram") || same_text(name, "T38MaxDatagram")) {
    if (const auto v = number(first, 5); v > 0) s.t38.max_datagram = static_cast<int>(v);
  } else if (same_text(name, "T38FaxMaxBuffer")) {
    if (const auto v = number(first, 6); v > 0) s.t38.max_buffer = static_cast<int>(v);
  } else if (same_text(name, "T38FaxUdpEC")) {
    s.t38.udp_ec_given = true;
    s.t38.redundancy = same_text(first, "t38UDPRedundancy");
  }
}

const char* direction_text(Direction d) {
  switch (d) {
    case Direction::sendonly:
      return "sendonly";
    case Direction::recvonly:
      return "recvonly";
    case Direction::inactive:
      return "inactive";
    case Direction::sendrecv:
      break;
  }
  return "sendrecv";
}

}  // namespace

Direction answer_direction(Direction offered) {
  switch (offered) {
    case Direction::sendonly:
      return Direction::recvonly;
    case Direction::recvonly:
      return Direction::sendonly;
    case Direction::inactive:
      return Direction::inactive;
    case Direction::sendrecv:
      break;
  }
  return Direction::sendrecv;
}

T38Params our_t38_offer() {
  T38Params p;
  p.version = 0;
  p.max_bit_rate = 14400;
  p.local_tcf = false;
  p.max_datagram = 1400;
  p.max_buffer = 2000;
  p.redundancy = true;
  p.udp_ec_given = true;
  return p;
}

T38Params answer_t38(const T38Params& offered) {
  T38Params p = our_t38_offer();
  p.version = std::min(p.version, offered.version);
  p.max_bit_rate = std::min(p.max_bit_rate, offered.max_bit_rate);
  p.local_tcf = offered.local_tcf;
  // atdesk sends redundancy and no FEC: an offer of FEC is answered with redundancy, which
  // every UDPTL receiver understands (T.38 Annex D: the answer names the scheme used).
  p.redundancy = true;
  return p;
}

// The lines atdesk needs (c= and m=) are read here, strictly; the rest is skipped. sofia-sip's
// sdp_parse (1.12.11) corrupted its own heap on malformed m= lines ("m=audio00 0D 4RTP/AVP (0",
// or a non-ASCII protocol) and then asked for 2 GB; found by the sdp fuzz target.
Result<SessionDescription> parse_sdp(std::string_view text) {
  if (text.empty()) return fail(Errc::invalid_argument, "SDP: empty body");
  if (auto ok = check_sdp_bytes(text); !ok) return fail(ok.error());
  SessionDescription out;
  std::string session_address;
  Direction session_direction = Direction::sendrecv;
  std::vector<bool> has_address;
  int line = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    auto l = text.substr(pos, end - pos);
    pos = end + 1;
    ++line;
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    if (l.empty()) continue;
    if (line == 1 && l != "v=0")
      return fail(Errc::invalid_argument, "SDP: does not start with v=0");
    if (l.size() < 2 || l[1] != '=' || l[0] < 'a' || l[0] > 'z') {
      return fail(Errc::invalid_argument, where(line) + "expected \"<letter>=<value>\"");
    }
    const auto value = l.substr(2);
    if (l[0] == 'm') {
      auto stream = media_line(value, line);
      if (!stream) return fail(stream.error());
      stream->direction = session_direction;
      out.streams.push_back(std::move(*stream));
      has_address.push_back(false);
    } else if (l[0] == 'c') {
      auto address = connection_address(value, line);
      if (!address) return fail(address.error());
      if (out.streams.empty()) {
        session_address = std::move(*address);
      } else {
        out.streams.back().address = std::move(*address);
        has_address.back() = true;
      }
    } else if (l[0] == 'a') {
      if (out.streams.empty()) {
        if (auto d = direction_of(value)) session_direction = *d;
      } else {
        media_attribute(out.streams.back(), value);
      }
    }
  }
  if (out.streams.empty()) return fail(Errc::invalid_argument, "SDP: no m= line");
  for (std::size_t i = 0; i < out.streams.size(); ++i) {
    auto& s = out.streams[i];
    if (!has_address[i]) s.address = session_address;
    if (s.address.empty() && s.port != 0) {
      return fail(Errc::invalid_argument, "SDP: no connection address (c=) for a m= line");
    }
  }
  return out;
}

std::string build_sdp(const SdpOrigin& origin, const std::vector<LocalStream>& streams) {
  const std::string ip = origin.address.find(':') != std::string::npos ? "IP6" : "IP4";
  std::string s = "v=0\r\n";
  s += "o=atdesk " + std::to_string(origin.session_id) + " " + std::to_string(origin.version) +
       " IN " + ip + " " + origin.address + "\r\n";
  s += "s=atdesk fax\r\n";
  s += "c=IN " + ip + " " + origin.address + "\r\n";
  s += "t=0 0\r\n";
  for (const auto& st : streams) {
    if (st.port == 0) {
      s += "m=" + st.rejected_line + "\r\n";
      continue;
    }
    if (st.kind == StreamKind::audio) {
      if (st.payload_type < 0) {
        s += "m=audio " + std::to_string(st.port) + " RTP/AVP 0 8\r\n";
        s += "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n";
      } else {
        s += "m=audio " + std::to_string(st.port) + " RTP/AVP " + std::to_string(st.payload_type) +
             "\r\n";
        s += st.payload_type == 0 ? "a=rtpmap:0 PCMU/8000\r\n" : "a=rtpmap:8 PCMA/8000\r\n";
      }
      s += "a=ptime:" + std::to_string(st.ptime > 0 ? st.ptime : 20) + "\r\n";
      s += std::string("a=") + direction_text(st.direction) + "\r\n";
    } else {
      const auto& t = st.t38;
      s += "m=image " + std::to_string(st.port) + " udptl t38\r\n";
      s += "a=T38FaxVersion:" + std::to_string(t.version) + "\r\n";
      s += "a=T38MaxBitRate:" + std::to_string(t.max_bit_rate) + "\r\n";
      s += std::string("a=T38FaxRateManagement:") + (t.local_tcf ? "localTCF" : "transferredTCF") +
           "\r\n";
      if (t.max_buffer > 0) s += "a=T38FaxMaxBuffer:" + std::to_string(t.max_buffer) + "\r\n";
      if (t.max_datagram > 0) {
        s += "a=T38FaxMaxDatagram:" + std::to_string(t.max_datagram) + "\r\n";
      }
      s += std::string("a=T38FaxUdpEC:") + (t.redundancy ? "t38UDPRedundancy" : "t38UDPFEC") +
           "\r\n";
    }
  }
  return s;
}

int first_g711_payload(const SdpStream& stream) {
  if (stream.kind != StreamKind::audio) return -1;
  for (int p : stream.payload_types) {
    if (p == kPayloadPcmu || p == kPayloadPcma) return p;
  }
  return -1;
}

std::optional<AnswerChoice> choose_answer(const SessionDescription& offer, bool allow_t38,
                                          int keep) {
  if (allow_t38) {
    for (std::size_t i = 0; i < offer.streams.size(); ++i) {
      if (offer.streams[i].kind == StreamKind::t38 && offer.streams[i].port != 0) {
        return AnswerChoice{i, StreamKind::t38, 0};
      }
    }
  }
  for (std::size_t i = 0; i < offer.streams.size(); ++i) {
    const auto& s = offer.streams[i];
    if (s.kind != StreamKind::audio || s.port == 0) continue;
    const auto& pts = s.payload_types;
    if (keep >= 0 && std::find(pts.begin(), pts.end(), keep) != pts.end()) {
      return AnswerChoice{i, StreamKind::audio, keep};
    }
    for (int pt : pts) {
      if (pt == kPayloadPcmu || pt == kPayloadPcma) return AnswerChoice{i, StreamKind::audio, pt};
    }
  }
  return std::nullopt;
}

std::optional<Endpoint> t38_endpoint_of_answer(std::string_view answer, T38Params* params) {
  auto sdp = parse_sdp(answer);
  if (!sdp) return std::nullopt;
  for (const auto& s : sdp->streams) {
    if (s.kind != StreamKind::t38 || s.port == 0) continue;
    auto remote = resolve_endpoint(s.address, s.port);
    if (!remote) return std::nullopt;
    if (params) *params = s.t38;
    return *remote;
  }
  return std::nullopt;
}

}  // namespace atdesk::fax_sip
