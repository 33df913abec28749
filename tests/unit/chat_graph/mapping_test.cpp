// Presence mapping and throttling helpers (pure functions).
// Values follow the Graph v1.0 "presence resource type" page (availability, activity) and the
// "userWorkLocation resource type" page (workLocationType).
#include <gtest/gtest.h>

#include "atdesk/chat/graph/presence_mapping.hpp"
#include "atdesk/chat/graph/throttle.hpp"

namespace atdesk::chat::graph {
namespace {

TEST(GraphMapping, EveryDocumentedAvailability) {
  const std::pair<const char*, Availability> cases[] = {
      {"Available", Availability::available},
      {"AvailableIdle", Availability::available},
      {"Away", Availability::away},
      {"BeRightBack", Availability::be_right_back},
      {"Busy", Availability::busy},
      {"BusyIdle", Availability::busy},
      {"DoNotDisturb", Availability::do_not_disturb},
      {"Offline", Availability::offline},
      {"PresenceUnknown", Availability::unknown},
      {"SomethingNew", Availability::unknown},
      {"available", Availability::available},
      {"", Availability::unknown}};
  for (const auto& [value, expected] : cases) {
    EXPECT_EQ(map_availability(value, ""), expected) << value;
  }
}

TEST(GraphMapping, ActivitiesRefineAvailability) {
  EXPECT_EQ(map_availability("Busy", "Presenting"), Availability::do_not_disturb);
  EXPECT_EQ(map_availability("DoNotDisturb", "UrgentInterruptionsOnly"),
            Availability::do_not_disturb);
  EXPECT_EQ(map_availability("Busy", "InACall"), Availability::busy);
  EXPECT_EQ(map_availability("Busy", "InAMeeting"), Availability::busy);
  EXPECT_EQ(map_availability("Available", "Available"), Availability::available);
  EXPECT_EQ(map_availability("Offline", "OffWork"), Availability::offline);
  EXPECT_EQ(map_availability("Away", "OutOfOffice"), Availability::away);
}

TEST(GraphMapping, WorkLocations) {
  EXPECT_EQ(map_work_location("office", "", false), WorkLocation::office);
  EXPECT_EQ(map_work_location("remote", "", false), WorkLocation::remote);
  EXPECT_EQ(map_work_location("timeOff", "", false), WorkLocation::time_off);
  EXPECT_EQ(map_work_location("unspecified", "", false), WorkLocation::unknown);
  EXPECT_EQ(map_work_location("unknownFutureValue", "", false), WorkLocation::unknown);
  EXPECT_EQ(map_work_location("", "", false), WorkLocation::unknown);  // tenant without it
  EXPECT_EQ(map_work_location("", "OutOfOffice", false), WorkLocation::time_off);
  EXPECT_EQ(map_work_location("", "OffWork", false), WorkLocation::time_off);
  EXPECT_EQ(map_work_location("unspecified", "Available", true), WorkLocation::time_off);
  // An explicit location wins over the out-of-office fallback.
  EXPECT_EQ(map_work_location("remote", "OutOfOffice", true), WorkLocation::remote);
}

TEST(GraphThrottle, RetryAfterSeconds) {
  EXPECT_EQ(parse_retry_after("7"), std::chrono::seconds(7));
  EXPECT_EQ(parse_retry_after(" 0 "), std::chrono::seconds(0));
  EXPECT_FALSE(parse_retry_after(""));
  EXPECT_FALSE(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"));
  EXPECT_FALSE(parse_retry_after("-3"));
}

TEST(GraphThrottle, TokenBucketQueuesBeyondTheBurst) {
  const auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  TokenBucket bucket(10, 2, t0);
  EXPECT_EQ(bucket.reserve(t0).count(), 0);
  EXPECT_EQ(bucket.reserve(t0).count(), 0);
  EXPECT_EQ(bucket.reserve(t0).count(), 100);  // third waits one refill at 10/s
  EXPECT_EQ(bucket.reserve(t0).count(), 200);
  // After a second the bucket is full again (burst 2).
  const auto t1 = t0 + std::chrono::seconds(2);
  EXPECT_EQ(bucket.reserve(t1).count(), 0);
}

TEST(GraphThrottle, BackoffIsJitteredAndCapped) {
  std::mt19937_64 rng(42);
  for (unsigned attempt = 0; attempt < 30; ++attempt) {
    const auto d = backoff_delay(attempt, std::chrono::milliseconds(100),
                                 std::chrono::milliseconds(5000), rng);
    EXPECT_GE(d.count(), 0);
    EXPECT_LE(d.count(), std::min<long long>(5000, 100LL << std::min(attempt, 20U)));
  }
}

}  // namespace
}  // namespace atdesk::chat::graph
