// The TimeZone port over Howard Hinnant's date/tz and the system tz database (/usr/share/zoneinfo).
#include "atdesk/tz/zone.hpp"

#include <date/tz.h>

#include <algorithm>
#include <exception>

namespace atdesk::tz {
namespace {

class DateTimeZone final : public TimeZone {
 public:
  DateTimeZone(const date::time_zone* zone, std::string name)
      : zone_(zone), name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  LocalTime to_local(Timestamp t) const override {
    const auto seconds = std::chrono::floor<std::chrono::seconds>(t);
    const auto info = zone_->get_info(date::sys_seconds{seconds.time_since_epoch()});
    return LocalTime{seconds.time_since_epoch() + info.offset};
  }

 private:
  const date::time_zone* zone_;  // owned by the tz database, which lives until exit
  std::string name_;
};

// IANA names are short and of a small alphabet ("America/Argentina/Buenos_Aires", "Etc/GMT+9").
bool plausible(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' ||
           c == '_' || c == '-' || c == '+';
  });
}

}  // namespace

Result<std::unique_ptr<TimeZone>> load_time_zone(std::string_view name) {
  const auto unknown = [&](std::string why) {
    return fail(Errc::invalid_argument,
                "time zone: \"" + std::string(name.substr(0, 64)) + "\" " + why +
                    " (expected an IANA name like \"Asia/Tokyo\" or \"UTC\")");
  };
  if (!plausible(name)) return unknown("is not a time zone name");
  try {
    const auto* zone = date::locate_zone(name);
    return std::unique_ptr<TimeZone>(std::make_unique<DateTimeZone>(zone, std::string(name)));
  } catch (const std::exception& e) {
    // date throws for an unknown name, and when the tz database itself cannot be read.
    return unknown(std::string("is not in the tz database: ") + e.what());
  }
}

}  // namespace atdesk::tz
