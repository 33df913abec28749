// Presence of a chat user: availability x work location, as the chat service reports it.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "atdesk/core/clock.hpp"

namespace atdesk {

enum class Availability { available, busy, do_not_disturb, away, be_right_back, offline, unknown };
enum class WorkLocation { office, remote, time_off, unknown };

inline constexpr std::array kAllAvailabilities = {
    Availability::available, Availability::busy,          Availability::do_not_disturb,
    Availability::away,      Availability::be_right_back, Availability::offline,
    Availability::unknown};
inline constexpr std::array kAllWorkLocations = {WorkLocation::office, WorkLocation::remote,
                                                 WorkLocation::time_off, WorkLocation::unknown};

std::string_view to_string(Availability a);  // "available", "do_not_disturb", ...
std::string_view to_string(WorkLocation w);  // "office", "remote", "time_off", "unknown"
// Accept the snake_case names above, and also "dnd", "do-not-disturb", "brb", "be-right-back",
// "time-off", "home" (remote). Case-insensitive.
std::optional<Availability> parse_availability(std::string_view text);
std::optional<WorkLocation> parse_work_location(std::string_view text);

struct Presence {
  Availability availability = Availability::unknown;
  WorkLocation location = WorkLocation::unknown;
  std::string status_text;
  Timestamp observed_at{};

  // "busy, remote"
  std::string describe() const;
  bool operator==(const Presence&) const = default;
};

}  // namespace atdesk
