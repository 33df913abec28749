// What real peers offer, and what atdesk answers: the bodies below follow the sources of the
// peers named on each (Asterisk's res_pjsip_sdp_rtp.c and res_pjsip_t38.c, FreeSWITCH's
// switch_core_media.c / sofia_glue.c), or ITU-T T.38 Annex D for the attribute forms an ATA
// uses. Also the UDPTL datagram size limit, the G.711 playout buffer, and CIDR ranges of
// allowed_peers.
#include <gtest/gtest.h>

#include "atdesk/fax_sip/media_timing.hpp"
#include "atdesk/fax_sip/receiver.hpp"
#include "media_session.hpp"
#include "sdp.hpp"
#include "udptl.hpp"

namespace atdesk::fax_sip {
namespace {

// Asterisk (chan_pjsip) calling with G.711: res_pjsip_session.c puts "s=Asterisk" and
// "o=- <id> <version>"; res_pjsip_sdp_rtp.c create_outgoing_sdp_stream lists the endpoint's
// allow= codecs in order (here allow=ulaw,alaw), telephone-event 101 with fmtp 0-16, a=ptime,
// a=maxptime:150 and a=sendrecv.
constexpr const char* kAsteriskInvite =
    "v=0\r\n"
    "o=- 1563913493 1563913493 IN IP4 127.0.0.1\r\n"
    "s=Asterisk\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "m=audio 10000 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=ptime:20\r\n"
    "a=maxptime:150\r\n"
    "a=sendrecv\r\n";

// Asterisk's answer to (or offer of) T.38: res_pjsip_t38.c create_outgoing_sdp_stream writes a
// media-level c=, then T38FaxVersion, T38MaxBitRate, T38FaxRateManagement, T38FaxMaxDatagram
// and T38FaxUdpEC, in this order; t38_reinvite_sdp_cb keeps only the image stream.
constexpr const char* kAsteriskT38 =
    "v=0\r\n"
    "o=- 1563913493 1563913495 IN IP4 127.0.0.1\r\n"
    "s=Asterisk\r\n"
    "t=0 0\r\n"
    "m=image 4000 udptl t38\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "a=T38FaxVersion:0\r\n"
    "a=T38MaxBitRate:14400\r\n"
    "a=T38FaxRateManagement:transferredTCF\r\n"
    "a=T38FaxMaxDatagram:400\r\n"
    "a=T38FaxUdpEC:t38UDPRedundancy\r\n";

// FreeSWITCH offering PCMA first (its default codec string "PCMA,PCMU" on many set-ups):
// switch_core_media_gen_local_sdp writes "o=FreeSWITCH", "s=FreeSWITCH", the codecs in the
// order of the codec string and telephone-event 101.
constexpr const char* kFreeSwitchInvite =
    "v=0\r\n"
    "o=FreeSWITCH 1700000000 1700000001 IN IP4 127.0.0.1\r\n"
    "s=FreeSWITCH\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "m=audio 16384 RTP/AVP 8 0 101\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=ptime:20\r\n";

// FreeSWITCH's T.38 (sofia_glue.c / switch_core_media.c set_image_sdp): bare "\n" line ends,
// T38FaxMaxBuffer, T38FaxMaxDatagram, T38FaxUdpEC and a T38VendorInfo line.
constexpr const char* kFreeSwitchT38 =
    "v=0\n"
    "o=FreeSWITCH 1700000000 1700000003 IN IP4 127.0.0.1\n"
    "s=FreeSWITCH\n"
    "c=IN IP4 127.0.0.1\n"
    "t=0 0\n"
    "m=image 16386 udptl t38\n"
    "a=T38FaxVersion:0\n"
    "a=T38MaxBitRate:14400\n"
    "a=T38FaxRateManagement:transferredTCF\n"
    "a=T38FaxMaxBuffer:2000\n"
    "a=T38FaxMaxDatagram:400\n"
    "a=T38FaxUdpEC:t38UDPRedundancy\n"
    "a=T38VendorInfo:0 0 0\n";

// An ATA offering T.38 at 9600 bit/s with local TCF and a small maximum datagram (ITU-T T.38
// Annex D.2.3 attribute forms, lower-case names as some ATAs write them).
constexpr const char* kAtaT38 =
    "v=0\r\n"
    "o=AudiocodesGW 1 2 IN IP4 127.0.0.1\r\n"
    "s=Phone-Call\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "m=image 4010 udptl t38\r\n"
    "a=t38faxversion:0\r\n"
    "a=t38maxbitrate:9600\r\n"
    "a=t38faxratemanagement:localTCF\r\n"
    "a=t38faxmaxbuffer:1024\r\n"
    "a=t38faxmaxdatagram:238\r\n"
    "a=t38faxudpec:t38UDPRedundancy\r\n";

// The payload type an answer (in a 200 or an ACK) settles on: its first G.711 format, in order.
TEST(Negotiation, FirstG711PayloadOfAnAnswer) {
  SdpStream audio;
  audio.kind = StreamKind::audio;
  audio.payload_types = {101, 8, 0};
  EXPECT_EQ(first_g711_payload(audio), 8);
  audio.payload_types = {0, 8};
  EXPECT_EQ(first_g711_payload(audio), 0);
  audio.payload_types = {18, 101};
  EXPECT_EQ(first_g711_payload(audio), -1);
  SdpStream t38;
  t38.kind = StreamKind::t38;
  t38.payload_types = {0};
  EXPECT_EQ(first_g711_payload(t38), -1);
}

TEST(Negotiation, CodecFollowsTheOffersOrder) {
  auto asterisk = parse_sdp(kAsteriskInvite);
  ASSERT_TRUE(asterisk) << asterisk.error().message;
  auto a = choose_answer(*asterisk, true);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->payload_type, kPayloadPcmu);
  EXPECT_EQ(asterisk->streams[0].ptime, 20);
  EXPECT_EQ(asterisk->streams[0].direction, Direction::sendrecv);

  auto freeswitch = parse_sdp(kFreeSwitchInvite);
  ASSERT_TRUE(freeswitch) << freeswitch.error().message;
  auto f = choose_answer(*freeswitch, true);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->payload_type, kPayloadPcma) << "\"8 0 101\": PCMA is the caller's first choice";
  // A re-INVITE listing both keeps the codec running on the call.
  auto keep = choose_answer(*freeswitch, true, kPayloadPcmu);
  ASSERT_TRUE(keep);
  EXPECT_EQ(keep->payload_type, kPayloadPcmu);
  // ... unless it is no longer offered.
  auto only_pcma = parse_sdp(
      "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
      "m=audio 16384 RTP/AVP 8 101\r\n");
  ASSERT_TRUE(only_pcma);
  EXPECT_EQ(choose_answer(*only_pcma, true, kPayloadPcmu)->payload_type, kPayloadPcma);
}

TEST(Negotiation, DirectionIsAnsweredAsRfc3264Says) {
  EXPECT_EQ(answer_direction(Direction::sendonly), Direction::recvonly);
  EXPECT_EQ(answer_direction(Direction::recvonly), Direction::sendonly);
  EXPECT_EQ(answer_direction(Direction::inactive), Direction::inactive);
  EXPECT_EQ(answer_direction(Direction::sendrecv), Direction::sendrecv);
  // Session-level a=sendonly applies to every stream without one of its own.
  auto hold = parse_sdp(
      "v=0\r\no=- 1 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\na=sendonly\r\n"
      "m=audio 10000 RTP/AVP 0\r\nm=audio 10002 RTP/AVP 0\r\na=inactive\r\n");
  ASSERT_TRUE(hold) << hold.error().message;
  EXPECT_EQ(hold->streams[0].direction, Direction::sendonly);
  EXPECT_EQ(hold->streams[1].direction, Direction::inactive);
  LocalStream answer;
  answer.port = 5000;
  answer.direction = answer_direction(hold->streams[0].direction);
  const auto text = build_sdp(SdpOrigin{"127.0.0.1", 1, 2}, {answer});
  EXPECT_NE(text.find("a=recvonly\r\n"), std::string::npos) << text;
  auto again = parse_sdp(text);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->streams[0].direction, Direction::recvonly);
}

TEST(Negotiation, T38AttributesOfAsteriskFreeSwitchAndAnAta) {
  auto asterisk = parse_sdp(kAsteriskT38);
  ASSERT_TRUE(asterisk) << asterisk.error().message;
  const auto& at = asterisk->streams[0].t38;
  EXPECT_EQ(asterisk->streams[0].kind, StreamKind::t38);
  EXPECT_EQ(at.max_bit_rate, 14400);
  EXPECT_FALSE(at.local_tcf);
  EXPECT_EQ(at.max_datagram, 400);
  EXPECT_TRUE(at.redundancy);

  auto freeswitch = parse_sdp(kFreeSwitchT38);
  ASSERT_TRUE(freeswitch) << freeswitch.error().message;
  EXPECT_EQ(freeswitch->streams[0].port, 16386);
  EXPECT_EQ(freeswitch->streams[0].t38.max_buffer, 2000);

  auto ata = parse_sdp(kAtaT38);
  ASSERT_TRUE(ata) << ata.error().message;
  const auto& t = ata->streams[0].t38;
  EXPECT_EQ(t.max_bit_rate, 9600);
  EXPECT_TRUE(t.local_tcf);
  EXPECT_EQ(t.max_datagram, 238);
}

// ITU-T T.38 Annex D: the answer echoes the rate management, takes the lower bit rate and
// version, and announces atdesk's own maximum datagram (1400: Asterisk derives its largest IFP
// from it).
TEST(Negotiation, T38AnswerIsDerivedFromTheOffer) {
  auto ata = parse_sdp(kAtaT38);
  ASSERT_TRUE(ata);
  const auto answer = answer_t38(ata->streams[0].t38);
  EXPECT_TRUE(answer.local_tcf);
  EXPECT_EQ(answer.max_bit_rate, 9600);
  EXPECT_EQ(answer.max_datagram, 1400);
  EXPECT_EQ(answer.version, 0);
  LocalStream s;
  s.kind = StreamKind::t38;
  s.port = 5002;
  s.t38 = answer;
  const auto text = build_sdp(SdpOrigin{"127.0.0.1", 1, 2}, {s});
  EXPECT_NE(text.find("a=T38FaxRateManagement:localTCF\r\n"), std::string::npos) << text;
  EXPECT_NE(text.find("a=T38MaxBitRate:9600\r\n"), std::string::npos) << text;
  EXPECT_NE(text.find("a=T38FaxMaxDatagram:1400\r\n"), std::string::npos) << text;
  EXPECT_NE(text.find("a=T38FaxUdpEC:t38UDPRedundancy\r\n"), std::string::npos) << text;

  T38Params fec;
  fec.version = 3;
  fec.max_bit_rate = 33600;
  fec.udp_ec_given = true;
  fec.redundancy = false;
  const auto to_fec = answer_t38(fec);
  EXPECT_EQ(to_fec.version, 0);
  EXPECT_EQ(to_fec.max_bit_rate, 14400);
  EXPECT_FALSE(to_fec.local_tcf);
  EXPECT_TRUE(to_fec.redundancy) << "atdesk sends no FEC";
}

// Redundancy is cut to what fits in the peer's T38FaxMaxDatagram, newest first; the primary is
// always sent.
TEST(Negotiation, UdptlRedundancyFitsThePeersMaximumDatagram) {
  UdptlSender sender(3, 60);
  const std::vector<std::uint8_t> ifp(20, 0x55);
  auto first = sender.frame(ifp);
  EXPECT_EQ(first.size(), 2u + 1 + 20 + 1 + 1);
  auto second = sender.frame(ifp);  // one secondary: 25 + 21 = 46
  auto third = sender.frame(ifp);   // a second one would make 67 > 60
  auto fourth = sender.frame(ifp);
  for (const auto* d : {&second, &third, &fourth}) EXPECT_LE(d->size(), 60u);
  auto parsed = parse_udptl(fourth);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->seq, 3);
  EXPECT_EQ(parsed->secondary.size(), 1u);
  UdptlSender unlimited(3);
  for (int i = 0; i < 3; ++i) (void)unlimited.frame(ifp);
  auto full = parse_udptl(unlimited.frame(ifp));
  ASSERT_TRUE(full);
  EXPECT_EQ(full->secondary.size(), 3u);
}

std::vector<std::int16_t> frame_of(std::int16_t value) {
  return std::vector<std::int16_t>(kSamplesPerFrame, value);
}

// What one pop() played, as values (0 for fill-in; each test frame is filled with its number).
std::vector<int> played(PlayoutBuffer& b) {
  std::vector<int> out;
  for (const auto& f : b.pop()) out.push_back(f.empty() ? 0 : f[0]);
  return out;
}

TEST(PlayoutBuffer, ReordersWaitsFortyMsAndFillsInLostFrames) {
  PlayoutBuffer b(2, 6, 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(played(b), (std::vector<int>{}));  // late, not lost
  EXPECT_EQ(played(b), (std::vector<int>{0}));  // nothing for 80 ms: fill-in keeps timers running
  ASSERT_TRUE(b.push(100, frame_of(1)));
  EXPECT_EQ(played(b), (std::vector<int>{0}));  // one frame: still filling the 40 ms
  ASSERT_TRUE(b.push(102, frame_of(3)));        // 101 late: comes after 102
  ASSERT_TRUE(b.push(101, frame_of(2)));
  EXPECT_EQ(b.reordered(), 1u);
  EXPECT_EQ(played(b), (std::vector<int>{1}));
  EXPECT_EQ(played(b), (std::vector<int>{2}));
  EXPECT_EQ(b.late(), 0u);
  EXPECT_FALSE(b.push(101, frame_of(2))) << "already played";
  EXPECT_EQ(b.late(), 1u);
  ASSERT_TRUE(b.push(104, frame_of(5)));  // 103 lost
  EXPECT_EQ(played(b), (std::vector<int>{3}));
  EXPECT_EQ(played(b), (std::vector<int>{0})) << "103: fill-in";
  EXPECT_FALSE(b.push(103, frame_of(4))) << "its 20 ms were filled in";
  EXPECT_EQ(b.late(), 2u);
  EXPECT_FALSE(b.push(104, frame_of(5))) << "twice: dropped, but not late";
  EXPECT_EQ(b.late(), 2u);
  EXPECT_EQ(played(b), (std::vector<int>{5}));
}

// The wake-up histogram of the media threads: each tick in the first bucket whose bound it does
// not exceed (Prometheus' `le`), later than every bound in the last; the sum in nanoseconds.
TEST(MediaTiming, WakeUpsGoIntoTheirBuckets) {
  using std::chrono::microseconds;
  MediaTiming t;
  t.observe_wake(microseconds(-5));      // woke early (clock granularity): 0
  t.observe_wake(microseconds(1000));    // exactly 1 ms: le 0.001
  t.observe_wake(microseconds(1001));    // le 0.002
  t.observe_wake(microseconds(25000));   // a whole frame late: le 0.05
  t.observe_wake(microseconds(250000));  // beyond 0.1
  std::vector<std::uint64_t> counts;
  for (const auto& c : t.wake_late) counts.push_back(c.load());
  EXPECT_EQ(counts, (std::vector<std::uint64_t>{2, 1, 0, 0, 0, 1, 0, 1}));
  EXPECT_EQ(t.wake_late_ns.load(), 277'001'000u);
}

// A peer that suppresses silence (VAD) stops sending and goes on with the next sequence number:
// fill-in meanwhile, nothing counted as lost, and the 40 ms are built up again.
TEST(PlayoutBuffer, SilenceSuppressionIsFilledInAndTheSequenceGoesOn) {
  PlayoutBuffer b(2, 6, 3);
  ASSERT_TRUE(b.push(7, frame_of(1)));
  ASSERT_TRUE(b.push(8, frame_of(2)));
  EXPECT_EQ(played(b), (std::vector<int>{1}));
  EXPECT_EQ(played(b), (std::vector<int>{2}));
  // 4 s of silence: 60 ms of waiting (a packet may be late), then fill-in.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(played(b), (std::vector<int>{}));
  for (int i = 0; i < 197; ++i) EXPECT_EQ(played(b), (std::vector<int>{0}));
  ASSERT_TRUE(b.push(9, frame_of(3)));
  EXPECT_EQ(played(b), (std::vector<int>{0}));
  ASSERT_TRUE(b.push(10, frame_of(4)));
  EXPECT_EQ(played(b), (std::vector<int>{3}));
  EXPECT_EQ(played(b), (std::vector<int>{4}));
}

// A burst (the peer's packets delayed, then all at once) is played at once down to the maximum
// depth; a jump of the sequence (a new stream) starts over.
// A packet late by less than the grace: nothing is inserted into the modem's signal.
TEST(PlayoutBuffer, ALatePacketWithinTheGraceInsertsNothing) {
  PlayoutBuffer b(2, 6, 3);
  ASSERT_TRUE(b.push(1, frame_of(1)));
  ASSERT_TRUE(b.push(2, frame_of(2)));
  EXPECT_EQ(played(b), (std::vector<int>{1}));
  EXPECT_EQ(played(b), (std::vector<int>{2}));
  EXPECT_EQ(played(b), (std::vector<int>{}));
  EXPECT_EQ(played(b), (std::vector<int>{}));
  ASSERT_TRUE(b.push(3, frame_of(3)));
  EXPECT_EQ(played(b), (std::vector<int>{3}));
}

TEST(PlayoutBuffer, CatchesUpAfterABurstAndRestartsOnANewStream) {
  PlayoutBuffer b(2, 4, 3);
  for (std::uint16_t s = 0; s < 8; ++s) ASSERT_TRUE(b.push(65532 + s, frame_of(s + 1)));
  EXPECT_EQ(played(b), (std::vector<int>{1, 2, 3, 4}));  // wraps through 65535 -> 0
  EXPECT_EQ(played(b), (std::vector<int>{5}));
  ASSERT_TRUE(b.push(30000, frame_of(9)));      // frames 6-8 of the old stream are dropped
  EXPECT_EQ(played(b), (std::vector<int>{0}));  // filling the 40 ms of the new stream
  ASSERT_TRUE(b.push(30001, frame_of(10)));
  EXPECT_EQ(played(b), (std::vector<int>{9}));
  EXPECT_EQ(played(b), (std::vector<int>{10}));
}

// Depth 1 (the default; calls use 40-60 ms): no added delay, each 20 ms plays what has arrived,
// in sequence order, with fill-in for a frame a later one shows lost.
TEST(PlayoutBuffer, DepthOnePlaysWhatArrivedInOrderWithoutDelay) {
  PlayoutBuffer b;
  ASSERT_TRUE(b.push(10, frame_of(1)));
  EXPECT_EQ(played(b), (std::vector<int>{1}));
  ASSERT_TRUE(b.push(12, frame_of(3)));  // 11 and 12 swapped on the way
  ASSERT_TRUE(b.push(11, frame_of(2)));
  EXPECT_EQ(played(b), (std::vector<int>{2, 3}));
  ASSERT_TRUE(b.push(14, frame_of(5)));  // 13 lost
  EXPECT_EQ(played(b), (std::vector<int>{0, 5}));
  EXPECT_FALSE(b.push(13, frame_of(4))) << "filled in already";
  EXPECT_EQ(played(b), (std::vector<int>{}));  // late: wait, do not cut a hole
}

TEST(AllowedPeers, AddressesAndCidrRanges) {
  EXPECT_TRUE(address_in_range("192.0.2.77", "192.0.2.0/24"));
  EXPECT_FALSE(address_in_range("192.0.3.1", "192.0.2.0/24"));
  EXPECT_TRUE(address_in_range("10.1.2.3", "10.0.0.0/8"));
  EXPECT_TRUE(address_in_range("203.0.113.9", "203.0.113.9"));
  EXPECT_FALSE(address_in_range("203.0.113.10", "203.0.113.9"));
  EXPECT_TRUE(address_in_range("203.0.113.10", "203.0.113.8/30"));
  EXPECT_TRUE(address_in_range("2001:db8::1", "2001:db8::/32"));
  EXPECT_FALSE(address_in_range("2001:db9::1", "2001:db8::/32"));
  EXPECT_FALSE(address_in_range("192.0.2.1", "2001:db8::/32"));
  EXPECT_TRUE(address_in_range("198.51.100.1", "0.0.0.0/0"));
  EXPECT_TRUE(is_address_range("192.0.2.0/24"));
  EXPECT_FALSE(is_address_range("192.0.2.0/33"));
  EXPECT_FALSE(is_address_range("192.0.2.0/"));
  EXPECT_FALSE(is_address_range("pbx.example.org"));
  EXPECT_FALSE(is_address_range("192.0.2.0/2x"));
}

}  // namespace
}  // namespace atdesk::fax_sip
