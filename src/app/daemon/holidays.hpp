// [holidays]: holiday dates from iCalendar (RFC 5545) files and URLs, so that an office imports
// its national and company holidays (substitute holidays included) instead of typing them. Each
// calendar's events (all-day or timed, one-off or recurring with RRULE/RDATE/EXDATE, several
// days long) are expanded over a window around today with libical into one date per day, named
// by the event's SUMMARY and tagged with the file or URL it came from. The engine counts them as
// holidays beside the schedule's own dates (Engine::set_imported_holidays).
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "atdesk/core/error.hpp"
#include "atdesk/core/schedule.hpp"

namespace atdesk::app {

// The dates of `ics_text`'s events that fall in [from, to], sorted, one per day (the first
// event's name when two fall on one day). `source` names the calendar in errors and in every
// date. Text that is not an iCalendar object, or an event without DTSTART, is
// Errc::invalid_argument naming the source and what was expected.
Result<std::vector<ImportedHoliday>> holidays_from_ics(std::string_view ics_text,
                                                       const std::string& source,
                                                       std::chrono::year_month_day from,
                                                       std::chrono::year_month_day to);

// Reads a file (at most 4 MiB) or fetches an http(s) URL (at most 4 MiB, 30 s, redirects only
// to https) and gives its text; errors name the file or URL.
Result<std::string> read_calendar(const std::string& file_or_url);

// Every calendar of [holidays] read and expanded from a year before `today` to two years after.
// A calendar that cannot be read is an error naming it: the caller keeps the previous dates.
Result<std::vector<ImportedHoliday>> load_holidays(const std::vector<std::string>& calendars,
                                                   std::chrono::year_month_day today);

}  // namespace atdesk::app
