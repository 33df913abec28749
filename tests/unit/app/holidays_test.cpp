// [holidays]: iCalendar (RFC 5545) files read with libical into holiday dates.
// tests/data/holidays/japan-office.ics is written as RFC 5545 (§3.6.1 VEVENT, §3.8.5.3 RRULE,
// §3.8.5.1 EXDATE, §3.8.1.11 STATUS:CANCELLED; CRLF line ends) in the shape published Japanese
// holiday calendars use (all-day events with DTSTART;VALUE=DATE): New Year's Day recurring
// yearly, Coming of Age Day as the second Monday of January (RRULE BYDAY=2MO), the substitute
// holiday of 2026-05-06 (Constitution Day 2026-05-03 is a Sunday; the Cabinet Office's list of
// national holidays), a company year-end closure over the turn of the year, a founding day with
// one year excepted, a cancelled event and a timed one.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "holidays.hpp"

namespace atdesk::app {
namespace {

using namespace std::chrono;

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string text(const ImportedHoliday& h) {
  char date[16];
  std::snprintf(date, sizeof date, "%04d-%02u-%02u", static_cast<int>(h.date.year()),
                static_cast<unsigned>(h.date.month()), static_cast<unsigned>(h.date.day()));
  return std::string(date) + " " + h.name;
}

const std::string kFile = std::string(ATDESK_TEST_DATA) + "/holidays/japan-office.ics";

TEST(Holidays, OneOffRecurringMultiDayExceptedAndCancelledEvents) {
  auto dates = holidays_from_ics(read(kFile), kFile, 2026y / 1 / 1, 2027y / 1 / 31);
  ASSERT_TRUE(dates) << dates.error().message;
  std::vector<std::string> got;
  for (const auto& d : *dates) {
    got.push_back(text(d));
    EXPECT_EQ(d.source, kFile);
  }
  const std::vector<std::string> want = {
      "2026-01-01 元日",         "2026-01-12 成人の日",     "2026-05-06 休日 (振替休日)",
      "2026-09-30 棚卸し",  // a timed event counts for its day
      "2026-12-29 年末年始休業", "2026-12-30 年末年始休業", "2026-12-31 年末年始休業",
      "2027-01-01 元日",  // two events on one day: the first read names it
      "2027-01-02 年末年始休業",
      "2027-01-03 年末年始休業",  // DTEND 2027-01-04 is exclusive
      "2027-01-11 成人の日",      // the second Monday of January 2027
  };
  EXPECT_EQ(got, want);
  // 2026-06-01 is excepted (EXDATE); the founding day recurs in 2025 and 2027, outside here.
  // 2026-08-05 was cancelled.
}

TEST(Holidays, TheWindowBoundsTheExpansion) {
  auto dates = holidays_from_ics(read(kFile), kFile, 2027y / 6 / 1, 2028y / 6 / 30);
  ASSERT_TRUE(dates) << dates.error().message;
  std::vector<std::string> got;
  for (const auto& d : *dates) got.push_back(text(d));
  EXPECT_EQ(got, (std::vector<std::string>{"2027-06-01 創立記念日", "2028-01-01 元日",
                                           "2028-01-10 成人の日", "2028-06-01 創立記念日"}));
}

TEST(Holidays, WhatIsNotACalendarIsRefusedNamingTheSource) {
  auto r = holidays_from_ics("Date,Name\n2026-01-01,元日\n", "/etc/atdesk/syukujitsu.csv",
                             2026y / 1 / 1, 2026y / 12 / 31);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("/etc/atdesk/syukujitsu.csv"), std::string::npos);
  EXPECT_NE(r.error().message.find("BEGIN:VCALENDAR"), std::string::npos) << r.error().message;

  r = holidays_from_ics(
      "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\nSUMMARY:no start\r\n"
      "END:VEVENT\r\nEND:VCALENDAR\r\n",
      "cal.ics", 2026y / 1 / 1, 2026y / 12 / 31);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("event 1 (no start): DTSTART"), std::string::npos)
      << r.error().message;

  auto missing = read_calendar("/nonexistent/holidays.ics");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("/nonexistent/holidays.ics"), std::string::npos);
}

}  // namespace
}  // namespace atdesk::app
