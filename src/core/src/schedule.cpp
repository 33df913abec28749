#include <algorithm>

#include "atdesk/core/schedule.hpp"

namespace atdesk {

const std::string& Schedule::active_table(LocalTime local) const {
  return active_table(local, {});
}

const std::string& Schedule::active_table(LocalTime local,
                                          const std::vector<ImportedHoliday>& imported) const {
  using namespace std::chrono;
  const auto day = floor<days>(local);
  const year_month_day date{day};
  if (!holiday_table.empty() &&
      (std::find(holidays.begin(), holidays.end(), date) != holidays.end() ||
       std::any_of(imported.begin(), imported.end(),
                   [&](const ImportedHoliday& h) { return h.date == date; }))) {
    return holiday_table;
  }
  const auto minute = duration_cast<minutes>(local - day);
  const unsigned today = weekday{day}.c_encoding();  // 0 = Sunday
  const unsigned yesterday = (today + 6) % 7;
  for (const auto& rule : rules) {
    const bool wraps = rule.end <= rule.start;
    if (!wraps) {
      if ((rule.days >> today & 1u) && minute >= rule.start && minute < rule.end) {
        return rule.table;
      }
      continue;
    }
    // A rule past midnight belongs to the day it starts on: its evening part today, its
    // morning part on the next day.
    if ((rule.days >> today & 1u) && minute >= rule.start) return rule.table;
    if ((rule.days >> yesterday & 1u) && minute < rule.end) return rule.table;
  }
  return default_table;
}

}  // namespace atdesk
