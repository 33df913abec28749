#include "atdesk/tz/zone.hpp"

#include <date/tz.h>

namespace atdesk::tz {
namespace {

class DateTimeZone final : public TimeZone {
 public:
  DateTimeZone(const date::time_zone* zone, std::string name)
      : zone_(zone), name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  LocalTime to_local(Timestamp t) const override {
    const auto info = zone_->get_info(
        date::sys_seconds{std::chrono::floor<std::chrono::seconds>(t).time_since_epoch()});
    return LocalTime{std::chrono::floor<std::chrono::seconds>(t).time_since_epoch() + info.offset};
  }

 private:
  const date::time_zone* zone_;
  std::string name_;
};

}  // namespace

Result<std::unique_ptr<TimeZone>> load_time_zone(std::string_view name) {
  try {
    const auto* zone = date::locate_zone(name);
    return std::unique_ptr<TimeZone>(std::make_unique<DateTimeZone>(zone, std::string(name)));
  } catch (const std::exception& e) {
    return fail(Errc::invalid_argument, "time zone: \"" + std::string(name) +
                                            "\" is not in the tz database (expected a name like "
                                            "\"Asia/Tokyo\" or \"UTC\")");
  }
}

}  // namespace atdesk::tz
