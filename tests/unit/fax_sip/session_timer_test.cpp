// Who refreshes a session and how often (RFC 4028 §7-§9), as sofia-sip's nua decides it
// (nua_session.c, session_timer_negotiate): the receiver sends its own refreshes on these
// figures, so they must agree with the headers nua puts on the wire.
#include <gtest/gtest.h>

#include "session_timer.hpp"

namespace atdesk::fax_sip {
namespace {

using namespace std::chrono_literals;
using Refresher = SessionTimerHeaders::Refresher;

const SessionTimerPolicy kPolicy{1800, 90};

TEST(SessionTimer, APeerWithoutTimersIsRefreshedByUsAtOurInterval) {
  const auto r = negotiate_as_uas({}, false, kPolicy);
  EXPECT_TRUE(r.we_refresh);
  EXPECT_FALSE(r.peer_refreshes);
  EXPECT_EQ(r.interval, 1800s);
  EXPECT_EQ(refresh_after(r.interval), 450s);
}

TEST(SessionTimer, AUacWithTimersRefreshesUnlessItAsksUsTo) {
  // Asterisk (pjsip) and FreeSWITCH (sofia-sip) send Supported: timer and Session-Expires
  // without a refresher: the UAS leaves it to the UAC.
  SessionTimerHeaders h{true, false, 600, Refresher::none, 90};
  auto r = negotiate_as_uas(h, false, kPolicy);
  EXPECT_TRUE(r.peer_refreshes);
  EXPECT_EQ(r.interval, 600s);  // the shorter of theirs and ours
  h.refresher = Refresher::uas;
  r = negotiate_as_uas(h, false, kPolicy);
  EXPECT_TRUE(r.we_refresh);
  h.refresher = Refresher::uac;
  EXPECT_TRUE(negotiate_as_uas(h, false, kPolicy).peer_refreshes);
}

TEST(SessionTimer, TheIntervalIsNeverAboveOursNorBelowEitherMinSe) {
  SessionTimerHeaders h{true, false, 7200, Refresher::uac, 0};
  EXPECT_EQ(negotiate_as_uas(h, false, kPolicy).interval, 1800s);
  h.expires = 100;
  h.min_se = 120;
  EXPECT_EQ(negotiate_as_uas(h, false, kPolicy).interval, 120s);
  const SessionTimerPolicy raised{1800, 300};  // after a 422 with Min-SE: 300
  EXPECT_EQ(negotiate_as_uas(h, false, raised).interval, 300s);
}

TEST(SessionTimer, AnswersToOurRefreshNameTheRefresherFromOurSide) {
  // In a response, refresher=uac is us (we sent the request).
  SessionTimerHeaders h{true, true, 900, Refresher::uac, 0};
  auto r = negotiate_as_uac(h, true, kPolicy);
  EXPECT_TRUE(r.we_refresh);
  EXPECT_EQ(r.interval, 900s);
  h.refresher = Refresher::uas;
  EXPECT_TRUE(negotiate_as_uac(h, true, kPolicy).peer_refreshes);
  // A 200 without Session-Expires from a peer without timers: we go on refreshing.
  r = negotiate_as_uac({}, false, kPolicy);
  EXPECT_TRUE(r.we_refresh);
  EXPECT_EQ(r.interval, 1800s);
}

TEST(SessionTimer, RefreshesComeAtAQuarterOfTheInterval) {
  EXPECT_EQ(refresh_after(8s), 2000ms);
  EXPECT_EQ(refresh_after(90s), 22500ms);
  EXPECT_EQ(refresh_after(1s), 500ms);
}

}  // namespace
}  // namespace atdesk::fax_sip
