// The schedule (active mode table by local time) and the tz adapter, including DST change days.
#include <gtest/gtest.h>

#include <map>

#include "atdesk/core/decide.hpp"
#include "atdesk/core/schedule.hpp"
#include "atdesk/tz/zone.hpp"

namespace atdesk {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

constexpr std::uint8_t kSun = 1 << 0, kMon = 1 << 1, kSat = 1 << 6;
constexpr std::uint8_t kWeekdays = 0b0111110;

// A local time: 2024-06-03 is a Monday.
LocalTime at(year_month_day date, hours h, minutes m = 0min, seconds s = 0s) {
  return LocalTime{local_days{date}.time_since_epoch() + h + m + s};
}
constexpr year_month_day kMonday = 2024y / June / 3;
constexpr year_month_day kTuesday = 2024y / June / 4;
constexpr year_month_day kSunday = 2024y / June / 2;

Schedule office_schedule() {
  Schedule s;
  s.default_table = "closed";
  s.holiday_table = "holiday";
  s.rules = {{"weekday", kWeekdays, 9h, 17h}};
  return s;
}

TEST(Schedule, RuleBoundariesAreStartInclusiveEndExclusive) {
  const auto s = office_schedule();
  EXPECT_EQ(s.active_table(at(kMonday, 8h, 59min, 59s)), "closed");
  EXPECT_EQ(s.active_table(at(kMonday, 9h)), "weekday");
  EXPECT_EQ(s.active_table(at(kMonday, 16h, 59min, 59s)), "weekday");
  EXPECT_EQ(s.active_table(at(kMonday, 17h)), "closed");
  EXPECT_EQ(s.active_table(at(kSunday, 12h)), "closed");  // not a weekday
}

TEST(Schedule, Midnight) {
  Schedule s;
  s.default_table = "default";
  s.rules = {{"monday", kMon, 0min, 24h}};
  EXPECT_EQ(s.active_table(at(kMonday, 0h)), "monday");
  EXPECT_EQ(s.active_table(at(kMonday, 23h, 59min, 59s)), "monday");
  EXPECT_EQ(s.active_table(at(kSunday, 23h, 59min, 59s)), "default");
  EXPECT_EQ(s.active_table(at(kTuesday, 0h)), "default");
}

TEST(Schedule, RuleWrappingMidnightBelongsToTheDayItStarts) {
  Schedule s;
  s.default_table = "day";
  s.rules = {{"night", kMon, 22h, 6h}};
  EXPECT_EQ(s.active_table(at(kMonday, 21h, 59min)), "day");
  EXPECT_EQ(s.active_table(at(kMonday, 22h)), "night");
  EXPECT_EQ(s.active_table(at(kMonday, 23h, 59min, 59s)), "night");
  EXPECT_EQ(s.active_table(at(kTuesday, 0h)), "night");
  EXPECT_EQ(s.active_table(at(kTuesday, 2h)), "night");  // Tuesday 02:00: Monday's rule
  EXPECT_EQ(s.active_table(at(kTuesday, 5h, 59min, 59s)), "night");
  EXPECT_EQ(s.active_table(at(kTuesday, 6h)), "day");
  EXPECT_EQ(s.active_table(at(kTuesday, 22h)), "day");  // the rule is for Mondays only
  EXPECT_EQ(s.active_table(at(kMonday, 2h)), "day");    // Sunday night is not covered
}

TEST(Schedule, WrappingRuleFromSaturdayToSunday) {
  Schedule s;
  s.default_table = "day";
  s.rules = {{"night", kSat, 20h, 8h}};
  EXPECT_EQ(s.active_table(at(2024y / June / 1, 21h)), "night");  // Saturday
  EXPECT_EQ(s.active_table(at(kSunday, 7h)), "night");
  EXPECT_EQ(s.active_table(at(kSunday, 21h)), "day");
}

TEST(Schedule, EqualStartAndEndIsAWholeDayFromStart) {
  Schedule s;
  s.default_table = "day";
  s.rules = {{"all-day", kSun, 0min, 0min}};
  EXPECT_EQ(s.active_table(at(kSunday, 0h)), "all-day");
  EXPECT_EQ(s.active_table(at(kSunday, 23h)), "all-day");
  EXPECT_EQ(s.active_table(at(kMonday, 0h)), "day");
}

TEST(Schedule, FirstMatchingRuleWins) {
  Schedule s;
  s.rules = {{"lunch", kWeekdays, 12h, 13h}, {"weekday", kWeekdays, 9h, 17h}};
  EXPECT_EQ(s.active_table(at(kMonday, 12h, 30min)), "lunch");
  EXPECT_EQ(s.active_table(at(kMonday, 13h)), "weekday");
  EXPECT_EQ(s.active_table(at(kMonday, 18h)), "weekday");  // the default of a Schedule{}
}

TEST(Schedule, HolidayWinsAllDay) {
  auto s = office_schedule();
  s.holidays = {kTuesday};
  EXPECT_EQ(s.active_table(at(kTuesday, 0h)), "holiday");
  EXPECT_EQ(s.active_table(at(kTuesday, 10h)), "holiday");
  EXPECT_EQ(s.active_table(at(kTuesday, 23h, 59min, 59s)), "holiday");
  EXPECT_EQ(s.active_table(at(kMonday, 10h)), "weekday");
  EXPECT_EQ(s.active_table(at(2024y / June / 5, 0h)), "closed");
  s.holiday_table.clear();  // no holiday rule: the day is an ordinary Tuesday
  EXPECT_EQ(s.active_table(at(kTuesday, 10h)), "weekday");
}

TEST(TimeZone, UnknownZoneIsAClearError) {
  for (std::string_view bad : {"Mars/Olympus_Mons", "", "../../etc/passwd", "Europe/Berlin\n"}) {
    auto zone = tz::load_time_zone(bad);
    ASSERT_FALSE(zone) << bad;
    EXPECT_EQ(zone.error().code, Errc::invalid_argument);
    EXPECT_NE(zone.error().message.find("time zone"), std::string::npos) << zone.error().message;
  }
}

TEST(TimeZone, ConvertsInstantsToLocalTime) {
  auto tokyo = tz::load_time_zone("Asia/Tokyo");
  ASSERT_TRUE(tokyo) << tokyo.error().describe();
  EXPECT_EQ((*tokyo)->name(), "Asia/Tokyo");
  const Timestamp instant{sys_days{2024y / January / 1}.time_since_epoch() + 15h + 500ms};
  EXPECT_EQ((*tokyo)->to_local(instant), at(2024y / January / 2, 0h));
}

// The schedule, the tz adapter and decide() together: a 09:00-17:00 rule picks a table that
// prints for someone available at the office; outside it everything holds.
class DstDay : public ::testing::Test {
 protected:
  Action action_at(const TimeZone& zone, sys_seconds instant) {
    Schedule s;
    s.time_zone = zone.name();
    s.default_table = "closed";
    s.rules = {{"weekday", 0x7f, 9h, 17h}};
    const auto& name = s.active_table(zone.to_local(Timestamp{instant}));
    const auto table = tables_.at(name);
    Job job;
    const std::vector<Recipient> recipients = {{RecipientKind::user, "local", "alice"}};
    Presence p;
    p.availability = Availability::available;
    p.location = WorkLocation::office;
    PresenceMap presences{{recipients[0].key(), {true, "", {{"alice", p}}}}};
    return decide(job, recipients, presences, table, Policy{}).action;
  }
  static sys_seconds utc(year_month_day d, hours h, minutes m = 0min, seconds s = 0s) {
    return sys_days{d} + h + m + s;
  }

  std::map<std::string, ModeTable> tables_ = {{"weekday", ModeTable::seed_default("weekday")},
                                              {"closed", ModeTable("closed")}};
};

TEST_F(DstDay, EuropeBerlinSpringForward) {
  // 2024-03-31: 02:00 CET -> 03:00 CEST at 01:00 UTC. 09:00 local is 07:00 UTC that day.
  auto zone = tz::load_time_zone("Europe/Berlin");
  ASSERT_TRUE(zone) << zone.error().describe();
  const auto day = 2024y / March / 31;
  EXPECT_EQ((*zone)->to_local(Timestamp{utc(day, 0h, 59min, 59s)}), at(day, 1h, 59min, 59s));
  EXPECT_EQ((*zone)->to_local(Timestamp{utc(day, 1h)}), at(day, 3h));
  EXPECT_EQ(action_at(**zone, utc(day, 6h, 59min, 59s)), Action::hold);  // 08:59:59 CEST
  EXPECT_EQ(action_at(**zone, utc(day, 7h)), Action::print);             // 09:00 CEST
  EXPECT_EQ(action_at(**zone, utc(day, 14h, 59min, 59s)), Action::print);
  EXPECT_EQ(action_at(**zone, utc(day, 15h)), Action::hold);  // 17:00 CEST
  // The day before, 07:00 UTC was 08:00 CET: still closed.
  EXPECT_EQ(action_at(**zone, utc(2024y / March / 30, 7h)), Action::hold);
  EXPECT_EQ(action_at(**zone, utc(2024y / March / 30, 8h)), Action::print);
}

TEST_F(DstDay, EuropeBerlinFallBack) {
  // 2024-10-27: 03:00 CEST -> 02:00 CET at 01:00 UTC. 09:00 local is 08:00 UTC that day.
  auto zone = tz::load_time_zone("Europe/Berlin");
  ASSERT_TRUE(zone);
  const auto day = 2024y / October / 27;
  EXPECT_EQ((*zone)->to_local(Timestamp{utc(day, 0h, 30min)}), at(day, 2h, 30min));
  EXPECT_EQ((*zone)->to_local(Timestamp{utc(day, 1h, 30min)}), at(day, 2h, 30min));
  EXPECT_EQ(action_at(**zone, utc(day, 7h, 59min, 59s)), Action::hold);
  EXPECT_EQ(action_at(**zone, utc(day, 8h)), Action::print);
  EXPECT_EQ(action_at(**zone, utc(day, 15h, 59min, 59s)), Action::print);
  EXPECT_EQ(action_at(**zone, utc(day, 16h)), Action::hold);
}

TEST_F(DstDay, AmericaNewYorkSpringForward) {
  // 2024-03-10: 02:00 EST -> 03:00 EDT at 07:00 UTC. 09:00 local is 13:00 UTC that day.
  auto zone = tz::load_time_zone("America/New_York");
  ASSERT_TRUE(zone);
  const auto day = 2024y / March / 10;
  EXPECT_EQ((*zone)->to_local(Timestamp{utc(day, 6h, 59min, 59s)}), at(day, 1h, 59min, 59s));
  EXPECT_EQ((*zone)->to_local(Timestamp{utc(day, 7h)}), at(day, 3h));
  EXPECT_EQ(action_at(**zone, utc(day, 12h, 59min, 59s)), Action::hold);
  EXPECT_EQ(action_at(**zone, utc(day, 13h)), Action::print);
  EXPECT_EQ(action_at(**zone, utc(day, 20h, 59min, 59s)), Action::print);
  EXPECT_EQ(action_at(**zone, utc(day, 21h)), Action::hold);
}

TEST_F(DstDay, AmericaNewYorkFallBack) {
  // 2024-11-03: 02:00 EDT -> 01:00 EST at 06:00 UTC. 09:00 local is 14:00 UTC that day.
  auto zone = tz::load_time_zone("America/New_York");
  ASSERT_TRUE(zone);
  const auto day = 2024y / November / 3;
  EXPECT_EQ(action_at(**zone, utc(day, 13h, 59min, 59s)), Action::hold);
  EXPECT_EQ(action_at(**zone, utc(day, 14h)), Action::print);
  EXPECT_EQ(action_at(**zone, utc(day, 21h, 59min, 59s)), Action::print);
  EXPECT_EQ(action_at(**zone, utc(day, 22h)), Action::hold);
}

TEST(Schedule, WeekdayOfLocalTimeNotUtc) {
  // Monday 00:30 in Tokyo is still Sunday in UTC: a Monday rule applies.
  auto tokyo = tz::load_time_zone("Asia/Tokyo");
  ASSERT_TRUE(tokyo);
  Schedule s;
  s.default_table = "default";
  s.rules = {{"monday", kMon, 0min, 1h}};
  const Timestamp instant{sys_days{kSunday}.time_since_epoch() + 15h + 30min};
  EXPECT_EQ(s.active_table((*tokyo)->to_local(instant)), "monday");
}

}  // namespace
}  // namespace atdesk
