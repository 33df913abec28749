#include "atdesk/core/presence.hpp"

#include <algorithm>

#include "text.hpp"

namespace atdesk {
namespace {

// Lowercase, '-' and ' ' as '_': "Do-Not-Disturb" and "do not disturb" read as "do_not_disturb".
std::string canonical(std::string_view text) {
  auto t = text::lower(text::trim(text));
  std::replace(t.begin(), t.end(), '-', '_');
  std::replace(t.begin(), t.end(), ' ', '_');
  return t;
}

std::string spaced(std::string_view name) {
  std::string s(name);
  std::replace(s.begin(), s.end(), '_', ' ');
  return s;
}

}  // namespace

std::string_view to_string(Availability a) {
  switch (a) {
    case Availability::available:
      return "available";
    case Availability::busy:
      return "busy";
    case Availability::do_not_disturb:
      return "do_not_disturb";
    case Availability::away:
      return "away";
    case Availability::be_right_back:
      return "be_right_back";
    case Availability::offline:
      return "offline";
    case Availability::unknown:
      return "unknown";
  }
  return "unknown";
}

std::string_view to_string(WorkLocation w) {
  switch (w) {
    case WorkLocation::office:
      return "office";
    case WorkLocation::remote:
      return "remote";
    case WorkLocation::time_off:
      return "time_off";
    case WorkLocation::unknown:
      return "unknown";
  }
  return "unknown";
}

std::optional<Availability> parse_availability(std::string_view text) {
  const auto t = canonical(text);
  for (auto a : kAllAvailabilities) {
    if (t == to_string(a)) return a;
  }
  if (t == "dnd" || t == "donotdisturb") return Availability::do_not_disturb;
  if (t == "brb" || t == "berightback") return Availability::be_right_back;
  return std::nullopt;
}

std::optional<WorkLocation> parse_work_location(std::string_view text) {
  const auto t = canonical(text);
  for (auto w : kAllWorkLocations) {
    if (t == to_string(w)) return w;
  }
  if (t == "home") return WorkLocation::remote;
  if (t == "timeoff") return WorkLocation::time_off;
  return std::nullopt;
}

std::string Presence::describe() const {
  return spaced(to_string(availability)) + ", " + spaced(to_string(location));
}

}  // namespace atdesk
