// SDP of an INVITE or re-INVITE from a SIP peer: fax_sip's parse_sdp (sofia-sip's parser), then
// choose_answer and build_sdp for what atdesk would answer.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "sdp.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto offer = atdesk::fax_sip::parse_sdp(text);
  atdesk::fuzz::check_error(offer);
  if (!offer) return 0;
  FUZZ_CHECK(!offer->streams.empty());
  for (const auto& s : offer->streams) FUZZ_CHECK(s.port >= 0 && s.port <= 65535);
  for (const bool t38 : {false, true}) {
    const auto choice = atdesk::fax_sip::choose_answer(*offer, t38);
    if (!choice) continue;
    FUZZ_CHECK(choice->index < offer->streams.size());
    const auto& chosen = offer->streams[choice->index];
    FUZZ_CHECK(chosen.port != 0);
    if (choice->kind == atdesk::fax_sip::StreamKind::t38) {
      FUZZ_CHECK(t38 && chosen.kind == atdesk::fax_sip::StreamKind::t38);
    } else {
      FUZZ_CHECK(choice->payload_type == 0 || choice->payload_type == 8);
    }
    // The answer atdesk builds from it is SDP that its own parser reads.
    std::vector<atdesk::fax_sip::LocalStream> streams;
    for (std::size_t i = 0; i < offer->streams.size(); ++i) {
      atdesk::fax_sip::LocalStream l;
      if (i == choice->index) {
        l.kind = choice->kind;
        l.port = 40000;
        l.payload_type = choice->payload_type;
      } else {
        l.rejected_line = offer->streams[i].line;
      }
      streams.push_back(std::move(l));
    }
    const auto answer =
        atdesk::fax_sip::build_sdp(atdesk::fax_sip::SdpOrigin{"192.0.2.20", 1, 2}, streams);
    auto again = atdesk::fax_sip::parse_sdp(answer);
    FUZZ_CHECK(again);
    FUZZ_CHECK(again->streams.size() == streams.size());
    FUZZ_CHECK(again->streams[choice->index].port == 40000);
  }
  return 0;
}
