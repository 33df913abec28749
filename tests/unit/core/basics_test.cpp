// Small value types: errors, job ids, job states and their transitions, presence, recipients.
#include <gtest/gtest.h>

#include <array>
#include <set>
#include <utility>

#include "atdesk/core/clock.hpp"
#include "atdesk/core/error.hpp"
#include "atdesk/core/ids.hpp"
#include "atdesk/core/job.hpp"
#include "atdesk/core/presence.hpp"
#include "atdesk/core/recipient.hpp"
#include "atdesk/core/text.hpp"
#include "atdesk/testing/manual_clock.hpp"

namespace atdesk {
namespace {

using namespace std::chrono_literals;

TEST(Error, DescribeNamesTheCode) {
  EXPECT_EQ(make_error(Errc::not_found, "job 12 not found").describe(),
            "not_found: job 12 not found");
  EXPECT_EQ(to_string(Errc::limit_exceeded), "limit_exceeded");
}

TEST(Clock, ManualClockMovesOnlyWhenTold) {
  ManualClock clock(Timestamp{1000ms});
  EXPECT_EQ(clock.now(), Timestamp{1000ms});
  clock.advance(250ms);
  EXPECT_EQ(clock.now(), Timestamp{1250ms});
  clock.set(Timestamp{5s});
  EXPECT_EQ(clock.now(), Timestamp{5000ms});
}

TEST(Clock, SystemClockIsAfter2020) {
  SystemClock clock;
  EXPECT_GT(clock.now().time_since_epoch(), 1'577'836'800'000ms);
}

TEST(JobId, ParsesThirtyTwoLowercaseHexDigits) {
  const std::string text = "0123456789abcdef0123456789abcdef";
  auto id = JobId::parse(text);
  ASSERT_TRUE(id) << id.error().describe();
  EXPECT_EQ(id->str(), text);
  EXPECT_EQ(id->short_id(), "01234567");
  EXPECT_FALSE(id->empty());
  EXPECT_TRUE(JobId{}.empty());
}

TEST(JobId, RejectsAnythingElseNamingTheField) {
  for (std::string_view bad :
       {"", "0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdef0",
        "0123456789ABCDEF0123456789abcdef", "0123456789abcdeg0123456789abcdef",
        " 123456789abcdef0123456789abcdef", "../../../../../../../../etc/pass"}) {
    auto id = JobId::parse(bad);
    ASSERT_FALSE(id) << bad;
    EXPECT_EQ(id.error().code, Errc::invalid_argument);
    EXPECT_NE(id.error().message.find("job id"), std::string::npos) << id.error().message;
  }
}

TEST(JobId, FromBytesIsHexAndParsesBack) {
  std::array<unsigned char, 16> bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<unsigned char>(i * 17);
  bytes[15] = 0xff;
  const auto id = JobId::from_bytes(bytes);
  EXPECT_EQ(id.str(), "00112233445566778899aabbccddeeff");
  EXPECT_EQ(JobId::parse(id.str()).value(), id);
  EXPECT_EQ(std::hash<JobId>{}(id), std::hash<std::string>{}(id.str()));
}

constexpr std::array kStates = {JobState::received,  JobState::stored,   JobState::held,
                                JobState::releasing, JobState::printing, JobState::printed,
                                JobState::deleted,   JobState::expired,  JobState::failed};

TEST(JobState, NamesRoundTrip) {
  for (auto s : kStates) EXPECT_EQ(parse_job_state(to_string(s)), s);
  EXPECT_EQ(to_string(JobState::releasing), "releasing");
  EXPECT_FALSE(parse_job_state("Held"));
  EXPECT_FALSE(parse_job_state(""));
}

TEST(JobState, FinalStates) {
  const std::set<JobState> finals = {JobState::printed, JobState::deleted, JobState::expired,
                                     JobState::failed};
  for (auto s : kStates) EXPECT_EQ(is_final(s), finals.contains(s)) << to_string(s);
}

TEST(JobState, TransitionsFollowTheLifecycle) {
  using S = JobState;
  std::set<std::pair<S, S>> allowed = {
      {S::received, S::stored},  {S::stored, S::printing},    {S::stored, S::held},
      {S::held, S::releasing},   {S::releasing, S::printing}, {S::releasing, S::held},
      {S::printing, S::printed}, {S::printing, S::held},
  };
  for (auto from : {S::received, S::stored, S::held, S::releasing, S::printing}) {
    for (auto to : {S::deleted, S::expired, S::failed}) allowed.insert({from, to});
  }
  for (auto from : kStates) {
    for (auto to : kStates) {
      EXPECT_EQ(can_transition(from, to), allowed.contains({from, to}))
          << to_string(from) << " -> " << to_string(to);
    }
  }
}

TEST(JobSourceAndFormat, Names) {
  for (auto s : {JobSource::upload, JobSource::inbox, JobSource::hylafax, JobSource::sip,
                 JobSource::webhook, JobSource::ipp}) {
    EXPECT_EQ(parse_job_source(to_string(s)), s);
  }
  EXPECT_EQ(to_string(JobSource::hylafax), "hylafax");
  EXPECT_FALSE(parse_job_source("email"));
  EXPECT_EQ(to_string(DocumentFormat::tiff), "tiff");
  EXPECT_EQ(to_string(DocumentFormat::pdf), "pdf");
  EXPECT_EQ(media_type(DocumentFormat::tiff), "image/tiff");
  EXPECT_EQ(media_type(DocumentFormat::pdf), "application/pdf");
}

TEST(Presence, NamesRoundTrip) {
  for (auto a : kAllAvailabilities) EXPECT_EQ(parse_availability(to_string(a)), a);
  for (auto w : kAllWorkLocations) EXPECT_EQ(parse_work_location(to_string(w)), w);
  EXPECT_EQ(to_string(Availability::do_not_disturb), "do_not_disturb");
  EXPECT_EQ(to_string(WorkLocation::time_off), "time_off");
}

TEST(Presence, AliasesAndCase) {
  EXPECT_EQ(parse_availability("dnd"), Availability::do_not_disturb);
  EXPECT_EQ(parse_availability("Do-Not-Disturb"), Availability::do_not_disturb);
  EXPECT_EQ(parse_availability("BRB"), Availability::be_right_back);
  EXPECT_EQ(parse_availability("be-right-back"), Availability::be_right_back);
  EXPECT_EQ(parse_availability("AVAILABLE"), Availability::available);
  EXPECT_EQ(parse_work_location("time-off"), WorkLocation::time_off);
  EXPECT_EQ(parse_work_location("Home"), WorkLocation::remote);
  EXPECT_EQ(parse_work_location("OFFICE"), WorkLocation::office);
  EXPECT_FALSE(parse_availability("sleeping"));
  EXPECT_FALSE(parse_availability(""));
  EXPECT_FALSE(parse_work_location("moon"));
}

TEST(Presence, Describe) {
  Presence p;
  p.availability = Availability::busy;
  p.location = WorkLocation::remote;
  EXPECT_EQ(p.describe(), "busy, remote");
  p.availability = Availability::do_not_disturb;
  p.location = WorkLocation::time_off;
  EXPECT_EQ(p.describe(), "do not disturb, time off");
}

TEST(Recipient, KeyRoundTrips) {
  const Recipient user{RecipientKind::user, "local", "alice"};
  EXPECT_EQ(user.key(), "user:local:alice");
  EXPECT_EQ(Recipient::parse_key("user:local:alice").value(), user);
  const Recipient room{RecipientKind::channel, "matrix", "!fax:example.org"};
  EXPECT_EQ(room.key(), "channel:matrix:!fax:example.org");
  EXPECT_EQ(Recipient::parse_key(room.key()).value(), room);
  EXPECT_EQ(to_string(RecipientKind::channel), "channel");
}

TEST(Recipient, ParseKeyRejectsMalformedKeys) {
  for (std::string_view bad :
       {"", "user", "user:local", "user::alice", "user:local:", "group:local:alice",
        "User:local:alice", "user:Lo cal:alice", "user:local:al\nice"}) {
    auto r = Recipient::parse_key(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("recipient"), std::string::npos);
  }
  EXPECT_FALSE(Recipient::parse_key("user:local:" + std::string(300, 'a')));
}

}  // namespace
}  // namespace atdesk

namespace atdesk {
namespace {

TEST(CheckUtf8, AcceptsUtf8AndNamesLineAndByteOfABadSequence) {
  EXPECT_TRUE(check_utf8("plain\n\xe5\xae\x9b\xe5\x85\x88 \xf0\x9f\x93\xa0\n", "f.toml"));
  auto truncated = check_utf8("a = 1\nb = '\xf3'\n", "f.toml");
  ASSERT_FALSE(truncated);
  EXPECT_EQ(truncated.error().code, Errc::invalid_argument);
  EXPECT_EQ(truncated.error().message,
            "f.toml, line 2: not UTF-8 (invalid byte sequence at byte 11)");
  EXPECT_FALSE(check_utf8("\xc3", "x"));                  // lead byte at the very end
  EXPECT_FALSE(check_utf8("\x80", "x"));                  // a continuation byte alone
  EXPECT_FALSE(check_utf8("\xf8\x88\x80\x80\x80", "x"));  // 5-byte form
}

}  // namespace
}  // namespace atdesk
