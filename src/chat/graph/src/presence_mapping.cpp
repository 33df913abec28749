#include "atdesk/chat/graph/presence_mapping.hpp"

#include <algorithm>
#include <cctype>
#include <string>

namespace atdesk::chat::graph {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

Availability map_availability(std::string_view availability, std::string_view activity) {
  const auto a = lower(availability);
  const auto act = lower(activity);
  // Teams shows "Presenting" and "Urgent interruptions only" as do not disturb, whatever the
  // base availability says: nobody should be expected at the printer then.
  if (act == "presenting" || act == "urgentinterruptionsonly") return Availability::do_not_disturb;
  if (a == "available" || a == "availableidle") return Availability::available;
  if (a == "busy" || a == "busyidle" || a == "inacall" || a == "inameeting") {
    return Availability::busy;
  }
  if (a == "donotdisturb" || a == "presenting" || a == "focusing") {
    return Availability::do_not_disturb;
  }
  if (a == "away") return Availability::away;
  if (a == "berightback") return Availability::be_right_back;
  if (a == "offline") return Availability::offline;
  return Availability::unknown;  // PresenceUnknown and values added after this was written
}

WorkLocation map_work_location(std::string_view work_location_type, std::string_view activity,
                               bool out_of_office) {
  const auto w = lower(work_location_type);
  if (w == "office") return WorkLocation::office;
  if (w == "remote") return WorkLocation::remote;
  if (w == "timeoff") return WorkLocation::time_off;
  const auto act = lower(activity);
  if (out_of_office || act == "outofoffice" || act == "offwork") return WorkLocation::time_off;
  return WorkLocation::unknown;  // unspecified, absent (tenants without work location), unknown
}

}  // namespace atdesk::chat::graph
