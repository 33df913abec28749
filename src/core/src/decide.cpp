#include "atdesk/core/decide.hpp"

namespace atdesk {
namespace {

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

std::string verb(Action a) {
  return a == Action::print ? "print" : "held";
}

}  // namespace

Decision decide(const Job& job, std::span<const Recipient> recipients, const PresenceMap& presences,
                const ModeTable& table, const Policy& policy, const std::string& printer) {
  Decision d;
  d.printer = printer;
  const std::string by_table = " (table '" + table.name() + "')";

  // S1603: no user information for this sender.
  if (recipients.empty()) {
    d.action = policy.unknown_sender;
    d.reason = verb(d.action) + ": sender " + job.sender.display() +
               " is not in the recipient table (policy: " + std::string(to_string(d.action)) + ")";
    return d;
  }

  std::vector<std::string> holds;
  for (const auto& r : recipients) {
    auto it = presences.find(r.key());
    // S1605: status information could not be acquired.
    if (it == presences.end() || !it->second.available) {
      const std::string why =
          it == presences.end() || it->second.error.empty() ? "no presence" : it->second.error;
      const std::string part = "presence of " + r.address + " is unavailable (" + why +
                               "; policy: " + std::string(to_string(policy.presence_unavailable)) +
                               ")";
      if (policy.presence_unavailable == Action::print) {
        d.action = Action::print;
        d.reason = "print: " + part;
        return d;
      }
      holds.push_back(part);
      continue;
    }
    // S1606-S1607: the mode table. A channel prints when any member can pick the job up.
    std::vector<std::string> members;
    for (const auto& m : it->second.members) {
      const std::string state = m.address + " is " + m.presence.describe();
      if (table.lookup(m.presence) == Action::print) {
        d.action = Action::print;
        d.reason = "print: " + state +
                   (r.kind == RecipientKind::channel ? " (channel " + r.address + ")" : "") +
                   by_table;
        return d;
      }
      members.push_back(state);
    }
    holds.push_back(r.kind == RecipientKind::channel
                        ? "no member of channel " + r.address + " can pick it up (" +
                              join(members, "; ") + ")"
                        : join(members, "; "));
  }
  d.action = Action::hold;
  d.reason = "held: " + join(holds, "; ") + by_table;
  return d;
}

}  // namespace atdesk
