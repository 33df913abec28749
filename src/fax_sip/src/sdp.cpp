#include "sdp.hpp"

#include <sofia-sip/sdp.h>

#include <memory>

namespace atdesk::fax_sip {
namespace {

struct ParserDeleter {
  void operator()(sdp_parser_t* p) const { sdp_parser_free(p); }
};
using ParserPtr = std::unique_ptr<sdp_parser_t, ParserDeleter>;

std::string text_or_empty(const char* s) {
  return s ? std::string(s) : std::string();
}

}  // namespace

Result<SessionDescription> parse_sdp(std::string_view text) {
  if (text.empty()) return fail(Errc::invalid_argument, "SDP: empty body");
  ParserPtr parser(sdp_parse(nullptr, text.data(), static_cast<issize_t>(text.size()), 0));
  if (!parser) return fail(Errc::internal, "SDP: out of memory");
  if (const char* error = sdp_parsing_error(parser.get())) {
    return fail(Errc::invalid_argument, std::string("SDP: ") + error);
  }
  const sdp_session_t* session = sdp_session(parser.get());
  if (!session) return fail(Errc::invalid_argument, "SDP: no session description");
  const std::string session_address =
      session->sdp_connection ? text_or_empty(session->sdp_connection->c_address) : "";
  SessionDescription out;
  for (const sdp_media_t* m = session->sdp_media; m; m = m->m_next) {
    SdpStream s;
    s.port = static_cast<int>(m->m_port);
    if (s.port < 0 || s.port > 65535) {
      return fail(Errc::invalid_argument, "SDP: m= port " + std::to_string(m->m_port));
    }
    if (m->m_type == sdp_media_audio && m->m_proto == sdp_proto_rtp) {
      s.kind = StreamKind::audio;
      // sofia-sip keeps an RTP m= line's formats as rtpmaps (static types without a=rtpmap
      // too); m_format is the list for other protocols.
      for (const sdp_rtpmap_t* rm = m->m_rtpmaps; rm; rm = rm->rm_next) {
        s.payload_types.push_back(static_cast<int>(rm->rm_pt));
      }
      for (const sdp_list_t* f = m->m_format; f; f = f->l_next) {
        const std::string pt = text_or_empty(f->l_text);
        if (!pt.empty() && pt.size() <= 3 &&
            pt.find_first_not_of("0123456789") == std::string::npos) {
          s.payload_types.push_back(std::stoi(pt));
        }
      }
    } else if (m->m_type == sdp_media_image && m->m_proto == sdp_proto_udptl) {
      s.kind = StreamKind::t38;
    }
    s.address = m->m_connections ? text_or_empty(m->m_connections->c_address) : session_address;
    if (s.address.empty() && s.port != 0) {
      return fail(Errc::invalid_argument, "SDP: no connection address (c=) for a m= line");
    }
    s.line = text_or_empty(m->m_type_name) + " 0 " + text_or_empty(m->m_proto_name);
    for (const sdp_rtpmap_t* rm = m->m_rtpmaps; rm; rm = rm->rm_next) {
      s.line += " " + std::to_string(rm->rm_pt);
    }
    for (const sdp_list_t* f = m->m_format; f; f = f->l_next) {
      if (f->l_text) s.line += std::string(" ") + f->l_text;
    }
    out.streams.push_back(std::move(s));
  }
  if (out.streams.empty()) return fail(Errc::invalid_argument, "SDP: no m= line");
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
      s += "a=ptime:20\r\na=sendrecv\r\n";
    } else {
      s += "m=image " + std::to_string(st.port) + " udptl t38\r\n";
      s += "a=T38FaxVersion:0\r\n"
           "a=T38MaxBitRate:14400\r\n"
           "a=T38FaxRateManagement:transferredTCF\r\n"
           "a=T38FaxMaxBuffer:2000\r\n"
           "a=T38FaxMaxDatagram:400\r\n"
           "a=T38FaxUdpEC:t38UDPRedundancy\r\n";
    }
  }
  return s;
}

std::optional<AnswerChoice> choose_answer(const SessionDescription& offer, bool allow_t38) {
  if (allow_t38) {
    for (std::size_t i = 0; i < offer.streams.size(); ++i) {
      if (offer.streams[i].kind == StreamKind::t38 && offer.streams[i].port != 0) {
        return AnswerChoice{i, StreamKind::t38, 0};
      }
    }
  }
  for (int wanted : {0, 8}) {  // PCMU, PCMA {
    for (std::size_t i = 0; i < offer.streams.size(); ++i) {
      const auto& s = offer.streams[i];
      if (s.kind != StreamKind::audio || s.port == 0) continue;
      for (int pt : s.payload_types) {
        if (pt == wanted) return AnswerChoice{i, StreamKind::audio, wanted};
      }
    }
  }
  return std::nullopt;
}

}  // namespace atdesk::fax_sip
