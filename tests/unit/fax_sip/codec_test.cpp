// UDPTL framing and recovery (ITU-T T.38 §9.1 / Annex A), RTP parsing (RFC 3550) and the SDP
// offer/answer choices of a fax call; malformed input of each is refused with a reason.
#include <gtest/gtest.h>

#include "rtp.hpp"
#include "sdp.hpp"
#include "udptl.hpp"

namespace atdesk::fax_sip {
namespace {

std::vector<std::uint8_t> bytes(std::initializer_list<int> list) {
  std::vector<std::uint8_t> out;
  for (int b : list) out.push_back(static_cast<std::uint8_t>(b));
  return out;
}

TEST(Udptl, FramesSequenceNumberPrimaryAndNewestFirstRedundancy) {
  UdptlSender sender(2);
  const auto a = bytes({0x01});
  const auto b = bytes({0x02, 0x03});
  const auto c = bytes({0x04});
  EXPECT_EQ(sender.frame(a), bytes({0x00, 0x00, 0x01, 0x01, 0x00, 0x00}));
  EXPECT_EQ(sender.frame(b), bytes({0x00, 0x01, 0x02, 0x02, 0x03, 0x00, 0x01, 0x01, 0x01}));
  EXPECT_EQ(sender.frame(c),
            bytes({0x00, 0x02, 0x01, 0x04, 0x00, 0x02, 0x02, 0x02, 0x03, 0x01, 0x01}));
  auto parsed = parse_udptl(sender.frame(a));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->seq, 3);
  EXPECT_EQ(parsed->primary, a);
  ASSERT_EQ(parsed->secondary.size(), 2u);
  EXPECT_EQ(parsed->secondary[0], c);
  EXPECT_EQ(parsed->secondary[1], b);
}

TEST(Udptl, LongPacketsUseTwoOctetLengths) {
  UdptlSender sender(1);
  std::vector<std::uint8_t> big(300, 0xaa);
  auto parsed = parse_udptl(sender.frame(big));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->primary, big);
}

TEST(Udptl, RecoversLostPacketsFromRedundancyAndDropsLateOnes) {
  UdptlSender sender(3);
  std::vector<std::vector<std::uint8_t>> frames;
  for (int i = 0; i < 6; ++i) frames.push_back(sender.frame(bytes({i + 1})));
  UdptlReceiver receiver;
  std::vector<int> delivered;
  auto feed = [&](int index) {
    auto p = parse_udptl(frames[static_cast<std::size_t>(index)]);
    ASSERT_TRUE(p);
    for (const auto& ifp : receiver.receive(*p)) delivered.push_back(ifp.data.at(0));
  };
  feed(0);
  feed(3);  // 1 and 2 lost: recovered from 3's redundancy
  feed(1);  // late: dropped
  feed(5);  // 4 lost: recovered
  feed(4);  // late
  EXPECT_EQ(delivered, (std::vector<int>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(receiver.recovered(), 3u);
  EXPECT_EQ(receiver.late(), 2u);  // counted for /metrics
}

TEST(Udptl, MalformedDatagramsAreRefused) {
  EXPECT_FALSE(parse_udptl(bytes({})));
  EXPECT_FALSE(parse_udptl(bytes({0x00, 0x01, 0x05, 0x01})));        // 5 announced, 1 present
  EXPECT_FALSE(parse_udptl(bytes({0x00, 0x01, 0x00, 0x00})));        // empty primary
  EXPECT_FALSE(parse_udptl(bytes({0x00, 0x01, 0x01, 0x07})));        // no error recovery
  EXPECT_FALSE(parse_udptl(bytes({0x00, 0x01, 0xc1, 0x07, 0x00})));  // fragmented length
  EXPECT_FALSE(parse_udptl(bytes({0x00, 0x01, 0x01, 0x07, 0x00, 0x02, 0x01})));
  auto fec = parse_udptl(bytes({0x00, 0x01, 0x01, 0x07, 0x80, 0x01, 0x01}));
  ASSERT_TRUE(fec);  // fec-info is ignored, the primary kept
  EXPECT_EQ(fec->primary, bytes({0x07}));
}

TEST(Rtp, ParsesWhatItBuildsAndSkipsCsrcAndExtension) {
  RtpSender sender(kPayloadPcma, 0x01020304);
  const auto payload = std::vector<std::uint8_t>(160, 0xd5);
  sender.frame(payload);
  const auto packet = sender.frame(payload);
  auto p = parse_rtp(packet);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->payload_type, kPayloadPcma);
  EXPECT_EQ(p->seq, 1);
  EXPECT_EQ(p->timestamp, 160u);
  EXPECT_EQ(p->ssrc, 0x01020304u);
  EXPECT_EQ(p->payload.size(), 160u);

  auto with_ext = bytes(
      {0x91, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 9, 9, 9, 9, 0xbe, 0xde, 0, 1, 1, 2, 3, 4, 0x55});
  auto q = parse_rtp(with_ext);
  ASSERT_TRUE(q) << q.error().message;
  ASSERT_EQ(q->payload.size(), 1u);
  EXPECT_EQ(q->payload[0], 0x55);
}

TEST(Rtp, MalformedPacketsAreRefused) {
  EXPECT_FALSE(parse_rtp(bytes({0x80, 0x00, 0x00})));
  EXPECT_FALSE(parse_rtp(bytes({0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})));     // version 1
  EXPECT_FALSE(parse_rtp(bytes({0x8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})));     // 15 CSRCs missing
  EXPECT_FALSE(parse_rtp(bytes({0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff})));  // padding
}

constexpr const char* kAudioOffer =
    "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
    "m=audio 4000 RTP/AVP 18 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";

TEST(Sdp, TakesTheOffersFirstG711CodecAndT38WhenAllowed) {
  auto offer = parse_sdp(kAudioOffer);
  ASSERT_TRUE(offer) << offer.error().message;
  ASSERT_EQ(offer->streams.size(), 1u);
  EXPECT_EQ(offer->streams[0].address, "192.0.2.1");
  EXPECT_EQ(offer->streams[0].port, 4000);
  EXPECT_EQ(offer->streams[0].payload_types, (std::vector<int>{18, 8, 0, 101}));
  auto choice = choose_answer(*offer, true);
  ASSERT_TRUE(choice);
  EXPECT_EQ(choice->payload_type, 8);  // "18 8 0": PCMA comes first of the two

  auto both = parse_sdp(
      "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"
      "m=audio 4000 RTP/AVP 8\r\nc=IN IP4 192.0.2.1\r\n"
      "m=image 4002 udptl t38\r\nc=IN IP4 192.0.2.2\r\na=T38FaxVersion:0\r\n");
  ASSERT_TRUE(both) << both.error().message;
  auto t38 = choose_answer(*both, true);
  ASSERT_TRUE(t38);
  EXPECT_EQ(t38->kind, StreamKind::t38);
  EXPECT_EQ(t38->index, 1u);
  EXPECT_EQ(both->streams[1].address, "192.0.2.2");
  auto audio = choose_answer(*both, false);
  ASSERT_TRUE(audio);
  EXPECT_EQ(audio->kind, StreamKind::audio);
  EXPECT_EQ(audio->payload_type, 8);

  // The answer keeps one m= line per offered line, the refused one with port 0.
  LocalStream refused;
  refused.rejected_line = both->streams[0].line;
  LocalStream t38_stream;
  t38_stream.kind = StreamKind::t38;
  t38_stream.port = 5000;
  const auto answer = build_sdp(SdpOrigin{"127.0.0.1", 5, 2}, {refused, t38_stream});
  auto parsed = parse_sdp(answer);
  ASSERT_TRUE(parsed) << parsed.error().message << "\n" << answer;
  ASSERT_EQ(parsed->streams.size(), 2u);
  EXPECT_EQ(parsed->streams[0].port, 0);
  EXPECT_EQ(parsed->streams[1].kind, StreamKind::t38);
  EXPECT_EQ(parsed->streams[1].port, 5000);
}

// The answer to a T.38 re-INVITE: the first accepted T.38 stream is where T.38 goes; a refused
// one (port 0), an audio-only answer or broken SDP keeps the call on audio.
TEST(Sdp, T38EndpointOfAnAnswer) {
  const std::string head =
      "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n";
  auto remote =
      t38_endpoint_of_answer(head + "m=image 40000 udptl t38\r\nm=image 40002 udptl t38\r\n");
  ASSERT_TRUE(remote);
  EXPECT_EQ(remote->port(), 40000);
  EXPECT_EQ(remote->host(), "127.0.0.1");
  EXPECT_FALSE(t38_endpoint_of_answer(head + "m=image 0 udptl t38\r\n"));
  EXPECT_FALSE(t38_endpoint_of_answer(head + "m=audio 40000 RTP/AVP 0\r\n"));
  EXPECT_FALSE(t38_endpoint_of_answer("m=image 40000"));
}

TEST(Sdp, RefusesWhatAFaxCallCannotUse) {
  EXPECT_FALSE(parse_sdp(""));
  EXPECT_FALSE(parse_sdp("this is not SDP"));
  EXPECT_FALSE(
      parse_sdp("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"
                "m=audio 4000 RTP/AVP 0\r\n"));  // no c=
  auto gsm = parse_sdp(
      "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
      "m=audio 4000 RTP/AVP 3\r\n");
  ASSERT_TRUE(gsm);
  EXPECT_FALSE(choose_answer(*gsm, true));
}

// Fuzz target sdp, corpus non-ascii-protocol-2gb.sdp and bad-media-line-2gb.sdp: malformed m=
// lines made sofia-sip's sdp_parse corrupt its heap and ask for 2 GB. parse_sdp now reads c= and
// m= itself, strictly, and refuses bytes other than US-ASCII text outside s= and i= (RFC 4566 §5).
TEST(Sdp, MalformedMediaLinesAndNonAsciiAreRefusedWithTheLine) {
  const std::string head = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n";
  const std::string tail = "c=IN IP4 192.0.2.1\r\nt=0 0\r\n";
  auto bad =
      parse_sdp(head + "s=-\r\n" + tail + "m=audio 4000 X/" + std::string(75, '\x86') + " 8\r\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("line 6"), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find("0x86"), std::string::npos) << bad.error().message;
  EXPECT_FALSE(parse_sdp(head + "s=-\r\n" + tail + "m=audio 4000 RTP/AVP 0\r\n" +
                         std::string("a=x\0y\r\n", 8)));  // NUL
  auto bad_media =
      parse_sdp("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio00 0D 4RTP/AVP (0\r\n");
  ASSERT_FALSE(bad_media);
  EXPECT_NE(bad_media.error().message.find("line 5: m= port \"0D\""), std::string::npos)
      << bad_media.error().message;
  EXPECT_FALSE(parse_sdp(head + "s=-\r\n" + tail + "m=audio 70000 RTP/AVP 0\r\n"));
  EXPECT_FALSE(parse_sdp(head + "s=-\r\n" + tail + "m=audio 4000 RTP/AVP 0 x\r\n"));
  EXPECT_FALSE(parse_sdp(head + "s=-\r\n" + tail + "m=audio 4000\r\n"));
  EXPECT_FALSE(parse_sdp(head + "s=-\r\nc=IN IP4\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"));
  // A media-level c= wins; the rejected line keeps the offered formats.
  auto two = parse_sdp(head + "s=-\r\n" + tail +
                       "m=video 0 RTP/AVP 31\r\nm=audio 4000/2 RTP/AVP 8 0\r\n"
                       "c=IN IP6 2001:db8::1\r\n");
  ASSERT_TRUE(two) << two.error().message;
  EXPECT_EQ(two->streams[0].line, "video 0 RTP/AVP 31");
  EXPECT_EQ(two->streams[0].address, "192.0.2.1");
  EXPECT_EQ(two->streams[1].address, "2001:db8::1");
  EXPECT_EQ(two->streams[1].port, 4000);
  EXPECT_EQ(two->streams[1].payload_types, (std::vector<int>{8, 0}));
  // UTF-8 in the session name is fine.
  auto named = parse_sdp(head +
                         "s=T\xc3\xa9l\xc3\xa9"
                         "copie\r\n" +
                         tail + "m=audio 4000 RTP/AVP 0\r\n");
  ASSERT_TRUE(named) << named.error().message;
  EXPECT_EQ(named->streams.size(), 1u);
}

}  // namespace
}  // namespace atdesk::fax_sip
