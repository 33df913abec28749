// The schedule that picks the active mode table by day of week, time of day and holiday dates,
// in local time of a configured time zone. Pure: the caller converts "now" to local time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "atdesk/core/clock.hpp"
#include "atdesk/core/error.hpp"

namespace atdesk {

using LocalTime = std::chrono::local_time<std::chrono::seconds>;

// Converts instants to the local time of one zone (an adapter wraps the tz database).
class TimeZone {
 public:
  virtual ~TimeZone() = default;
  TimeZone() = default;
  TimeZone(const TimeZone&) = delete;
  TimeZone& operator=(const TimeZone&) = delete;

  virtual const std::string& name() const = 0;
  virtual LocalTime to_local(Timestamp t) const = 0;
};

struct ScheduleRule {
  std::string table;                  // mode table name
  std::uint8_t days = 0x7f;           // bit 0 = Sunday ... bit 6 = Saturday
  std::chrono::minutes start{0};      // from, inclusive, minutes after local midnight
  std::chrono::minutes end{24 * 60};  // to, exclusive; end <= start wraps past midnight
  bool operator==(const ScheduleRule&) const = default;
};

// A holiday date that comes from outside the schedule: an iCalendar file or URL
// ([holidays] in atdesk.toml), with the event's name and where it was read, so the schedule can
// show where each date came from.
struct ImportedHoliday {
  std::chrono::year_month_day date;
  std::string name;    // the event's SUMMARY
  std::string source;  // the file or URL
  bool operator==(const ImportedHoliday&) const = default;
};

struct Schedule {
  std::string time_zone = "UTC";
  std::string default_table = "weekday";  // when no rule matches
  std::string holiday_table = "holiday";  // all day on a holiday date (empty: no holiday rule)
  std::vector<std::chrono::year_month_day> holidays;
  std::vector<ScheduleRule> rules;  // first match wins

  // The active table at a local time: holiday dates first, then the rules in order, then the
  // default. A rule that wraps past midnight belongs to the day it starts on.
  const std::string& active_table(LocalTime local) const;
  // The same with `imported` dates counted as holidays too.
  const std::string& active_table(LocalTime local,
                                  const std::vector<ImportedHoliday>& imported) const;
  bool operator==(const Schedule&) const = default;
};

}  // namespace atdesk
