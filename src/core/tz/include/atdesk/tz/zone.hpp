// Loads a TimeZone by IANA name ("Asia/Tokyo") from the system tz database.
#pragma once

#include <memory>
#include <string_view>

#include "atdesk/core/schedule.hpp"

namespace atdesk::tz {

Result<std::unique_ptr<TimeZone>> load_time_zone(std::string_view name);

}  // namespace atdesk::tz
