// Graph's presence values mapped onto atdesk's Presence (pure functions, no I/O).
#pragma once

#include <string_view>

#include "atdesk/core/presence.hpp"

namespace atdesk::chat::graph {

// presence.availability (Available, AvailableIdle, Away, BeRightBack, Busy, BusyIdle,
// DoNotDisturb, Offline, PresenceUnknown; case-insensitive) refined by presence.activity
// (Presenting, UrgentInterruptionsOnly, InACall, ...). Unknown values map to unknown.
Availability map_availability(std::string_view availability, std::string_view activity);

// presence.workLocation.workLocationType (office, remote, timeOff, unspecified), falling back to
// time off when the activity is OutOfOffice or OffWork or outOfOfficeSettings.isOutOfOffice is
// set. Everything else is unknown.
WorkLocation map_work_location(std::string_view work_location_type, std::string_view activity,
                               bool out_of_office);

}  // namespace atdesk::chat::graph
