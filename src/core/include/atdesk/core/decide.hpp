// The decision (the seed's steps S1602-S1608): print now or hold, with a reason people can read.
#pragma once

#include <map>
#include <span>
#include <string>
#include <vector>

#include "atdesk/core/job.hpp"
#include "atdesk/core/mode_table.hpp"
#include "atdesk/core/presence.hpp"
#include "atdesk/core/recipient.hpp"

namespace atdesk {

struct Policy {
  Action unknown_sender = Action::print;       // no rule and no `others` rule (seed: print)
  Action presence_unavailable = Action::hold;  // chat service failing or presence missing
};

// What is known about one recipient's presence. For a user: one member, the user. For a
// channel: its members. `available == false` when the chat service could not say.
struct RecipientPresence {
  struct Member {
    std::string address;
    Presence presence;
  };
  bool available = false;
  std::string error;  // why not available, for the reason text
  std::vector<Member> members;
};

// Keyed by Recipient::key().
using PresenceMap = std::map<std::string, RecipientPresence>;

struct Decision {
  Action action = Action::hold;
  std::string printer;  // empty: the default printer
  std::string reason;   // "held: alice is busy, remote (table 'weekday')"
};

// `recipients` are those the recipient table found for the job; empty means the sender is
// unknown. The job prints when any recipient (any member of a channel) maps to print; a
// recipient whose presence is unavailable counts by policy.presence_unavailable.
// `printer` is the preferred printer of the matched rule, passed through to the decision.
Decision decide(const Job& job, std::span<const Recipient> recipients, const PresenceMap& presences,
                const ModeTable& table, const Policy& policy, const std::string& printer = {});

}  // namespace atdesk
