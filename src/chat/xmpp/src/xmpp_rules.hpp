// Pure rules of the XMPP adapter, without libstrophe or I/O: JID parsing, the RFC 6121 <show/>
// to availability mapping, the choice among a user's resources, and the work-location keywords
// applied to the status text.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "atdesk/core/clock.hpp"
#include "atdesk/core/error.hpp"
#include "atdesk/core/presence.hpp"

namespace atdesk::chat::xmpp {

// The case mapping applied to the localpart and the domain of every JID atdesk reads (config,
// rules, rooms, stanzas), so that comparisons agree with the server's: RFC 7622 3.2.2/3.3.2 map
// both to lower case (ejabberd's nodeprep and Prosody's stringprep do the same). Lower case by
// the Unicode simple mapping of the C.UTF-8 locale; bytes that are not UTF-8 stay as they are.
std::string fold_case(std::string_view s);

// An XMPP address (RFC 7622), split into its parts. Only the checks that matter for atdesk are
// made (lengths, forbidden characters of the localpart, no whitespace or control characters);
// the localpart and the domain are case-folded (fold_case); the resource keeps its case, as
// RFC 7622 3.4 says. Other PRECIS normalisation is left to the server.
struct Jid {
  std::string local;
  std::string domain;
  std::string resource;

  static Result<Jid> parse(std::string_view text);
  std::string bare() const;  // local@domain, or domain
  std::string full() const;  // bare/resource when there is a resource
  bool operator==(const Jid&) const = default;
};

// A XEP-0082 DateTime ("2002-09-10T23:08:25Z", with optional fraction and "+hh:mm" offset), as
// in a XEP-0203 <delay stamp=.../>, or the legacy XEP-0091 form "20020910T23:08:25" (UTC).
std::optional<Timestamp> parse_xmpp_stamp(std::string_view text);

// A person's address: a bare JID with a localpart ("alice@example.org").
Result<Jid> parse_user_jid(std::string_view text);
// The bare part of a JID given by the server, or "" when it does not parse.
std::string bare_of(std::string_view jid);
std::string resource_of(std::string_view jid);

// RFC 6121 4.7.2.1: no <show/> or "chat" -> available, "away"/"xa" -> away, "dnd" ->
// do_not_disturb; a presence of type "unavailable" -> offline. An unknown <show/> value is
// unknown.
Availability availability_from_show(std::string_view type, std::string_view show);

// Lower is more available: available, busy, do_not_disturb, be_right_back, away, offline,
// unknown. Someone in do-not-disturb is at their device (and so at their desk) more often than
// someone away, which is why it ranks before away.
int availability_rank(Availability a);

// What one resource (device) of a user last said.
struct ResourcePresence {
  Availability availability = Availability::offline;
  std::string status_text;
  int priority = 0;
  std::uint64_t seq = 0;  // order of arrival: the latest wins a tie
};

// The most available resource: best rank, then highest priority, then the latest. Null when
// there is none.
const ResourcePresence* most_available(const std::map<std::string, ResourcePresence>& resources);

// The work-location rule: keywords per location, matched case-insensitively (ASCII letters)
// in the status text, as whole words where the keyword starts or ends with an ASCII letter or
// digit (so "home" does not match "homework", while "出社" matches inside Japanese text). The
// earliest match in the text wins, then the longest keyword. No match: the default.
struct LocationRule {
  std::vector<std::pair<WorkLocation, std::vector<std::string>>> keywords;
  WorkLocation default_location = WorkLocation::unknown;

  // office: office, in office, im büro, 出社; remote: home, wfh, remote, 在宅.
  static LocationRule defaults();
};

WorkLocation location_from_status(std::string_view status_text, const LocationRule& rule);

// The user's presence from their resources: the most available resource's availability and
// status text; offline when no resource is online.
Presence combine_presence(const std::map<std::string, ResourcePresence>& resources,
                          const LocationRule& rule, Timestamp observed_at);

}  // namespace atdesk::chat::xmpp
