#include "holidays.hpp"

#include <curl/curl.h>
#include <libical/ical.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "atdesk/handles/curl.hpp"

namespace atdesk::app {
namespace {

using namespace std::chrono;

constexpr std::size_t kMaxCalendarBytes = 4u << 20;

struct ComponentFree {
  void operator()(icalcomponent* c) const { icalcomponent_free(c); }
};
using ComponentPtr = std::unique_ptr<icalcomponent, ComponentFree>;

icaltimetype to_ical(year_month_day d) {
  icaltimetype t = icaltime_null_date();
  t.year = static_cast<int>(d.year());
  t.month = static_cast<int>(static_cast<unsigned>(d.month()));
  t.day = static_cast<int>(static_cast<unsigned>(d.day()));
  t.is_date = 1;
  return t;
}

std::string text_of(const char* s) {
  return s == nullptr ? std::string() : std::string(s);
}

struct Expansion {
  std::map<sys_days, ImportedHoliday>* out;
  const std::string* name;
  const std::string* source;
  sys_days from, to;
  bool all_day = false;  // DTSTART is a DATE
};

// One occurrence: every day it covers (an all-day event's end is exclusive; a timed event counts
// for the day it starts on and every later day it reaches).
void add_occurrence(icalcomponent* /*event*/, struct icaltime_span* span, void* data) {
  auto& e = *static_cast<Expansion*>(data);
  const auto first = floor<days>(sys_seconds{seconds{span->start}});
  // libical's span of an all-day event runs to the end of its (exclusive) DTEND day: one day
  // less is the last day off. A timed event's end is an instant; the day it falls in counts.
  auto last = e.all_day ? floor<days>(sys_seconds{seconds{span->end}}) - days{1}
                        : floor<days>(sys_seconds{
                              seconds{span->end > span->start ? span->end - 1 : span->start}});
  if (last < first) last = first;
  for (auto d = first; d <= last; d += days{1}) {
    if (d < e.from || d > e.to) continue;
    e.out->try_emplace(d, ImportedHoliday{year_month_day{d}, *e.name, *e.source});
  }
}

}  // namespace

Result<std::vector<ImportedHoliday>> holidays_from_ics(std::string_view ics_text,
                                                       const std::string& source,
                                                       year_month_day from, year_month_day to) {
  const std::string text(ics_text);
  if (text.find("BEGIN:VCALENDAR") == std::string::npos) {
    return fail(
        Errc::invalid_argument,
        source + ": expected an iCalendar file (RFC 5545: BEGIN:VCALENDAR ... END:VCALENDAR)");
  }
  ComponentPtr calendar(icalparser_parse_string(text.c_str()));
  if (!calendar) {
    return fail(Errc::invalid_argument, source + ": not a readable iCalendar object");
  }
  icalcomponent* root = calendar.get();
  if (icalcomponent_isa(root) != ICAL_VCALENDAR_COMPONENT) {
    root = icalcomponent_get_first_component(calendar.get(), ICAL_VCALENDAR_COMPONENT);
  }
  if (root == nullptr) return fail(Errc::invalid_argument, source + ": no VCALENDAR in it");

  std::map<sys_days, ImportedHoliday> dates;
  int index = 0;
  for (icalcomponent* event = icalcomponent_get_first_component(root, ICAL_VEVENT_COMPONENT);
       event != nullptr; event = icalcomponent_get_next_component(root, ICAL_VEVENT_COMPONENT)) {
    ++index;
    const icaltimetype start = icalcomponent_get_dtstart(event);
    const std::string name = text_of(icalcomponent_get_summary(event));
    if (icaltime_is_null_time(start) || !icaltime_is_valid_time(start)) {
      return fail(Errc::invalid_argument,
                  source + ": event " + std::to_string(index) +
                      (name.empty() ? std::string() : " (" + name + ")") +
                      ": DTSTART: expected a date (DTSTART;VALUE=DATE:20260101) or a date-time");
    }
    if (const auto status = icalcomponent_get_status(event); status == ICAL_STATUS_CANCELLED) {
      continue;  // a cancelled holiday is a working day again
    }
    Expansion e{&dates, &name, &source, sys_days{from}, sys_days{to}, start.is_date != 0};
    // The window is widened by a day each side: occurrences are asked for by instants.
    icaltimetype lo = to_ical(year_month_day{sys_days{from} - days{1}});
    icaltimetype hi = to_ical(year_month_day{sys_days{to} + days{2}});
    icalcomponent_foreach_recurrence(event, lo, hi, add_occurrence, &e);
  }
  // libical marks what it could not parse with X-LIC-ERROR properties instead of failing.
  if (icalproperty* error = icalcomponent_get_first_property(root, ICAL_XLICERROR_PROPERTY)) {
    return fail(Errc::invalid_argument, source + ": " + text_of(icalproperty_get_xlicerror(error)));
  }
  std::vector<ImportedHoliday> out;
  out.reserve(dates.size());
  for (auto& [day, holiday] : dates) out.push_back(std::move(holiday));
  return out;
}

namespace {

std::size_t collect(char* data, std::size_t size, std::size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  if (body->size() + size * count > kMaxCalendarBytes) return 0;  // stops the transfer
  body->append(data, size * count);
  return size * count;
}

Result<std::string> fetch(const std::string& url) {
  handles::CurlPtr curl(curl_easy_init());
  if (!curl) return fail(Errc::internal, url + ": cannot create a libcurl handle");
  std::string body;
  char error[CURL_ERROR_SIZE] = {};
  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 3L);
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_USERAGENT, "atdeskd (holiday calendar)");
  const CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    if (rc == CURLE_WRITE_ERROR) {
      return fail(Errc::limit_exceeded,
                  url + ": larger than " + std::to_string(kMaxCalendarBytes) + " bytes");
    }
    return fail(Errc::unavailable, url + ": " + (error[0] ? error : curl_easy_strerror(rc)));
  }
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    return fail(Errc::unavailable,
                url + ": expected HTTP 200 with the calendar, got " + std::to_string(status));
  }
  return body;
}

}  // namespace

Result<std::string> read_calendar(const std::string& file_or_url) {
  if (file_or_url.starts_with("https://") || file_or_url.starts_with("http://")) {
    return fetch(file_or_url);
  }
  std::ifstream in(file_or_url, std::ios::binary);
  if (!in) return fail(Errc::not_found, file_or_url + ": cannot open the holiday calendar");
  std::string text;
  text.resize(kMaxCalendarBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxCalendarBytes) {
    return fail(Errc::limit_exceeded,
                file_or_url + ": larger than " + std::to_string(kMaxCalendarBytes) + " bytes");
  }
  return text;
}

Result<std::vector<ImportedHoliday>> load_holidays(const std::vector<std::string>& calendars,
                                                   year_month_day today) {
  const auto from = year_month_day{sys_days{today} - days{366}};
  const auto to = year_month_day{sys_days{today} + days{2 * 366}};
  std::vector<ImportedHoliday> all;
  for (const auto& calendar : calendars) {
    auto text = read_calendar(calendar);
    if (!text) return fail(text.error());
    auto dates = holidays_from_ics(*text, calendar, from, to);
    if (!dates) return fail(dates.error());
    all.insert(all.end(), dates->begin(), dates->end());
  }
  std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return sys_days{a.date} < sys_days{b.date};
  });
  return all;
}

}  // namespace atdesk::app
