// decide(): the seed's steps S1602-S1608 as a pure function with a reason people can read.
#include "atdesk/core/decide.hpp"

#include <algorithm>

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

// "print: ..." / "held: ...": the decision, not its outcome (printing may still fail).
std::string verb(Action a) {
  return a == Action::print ? "print" : "held";
}

struct Outcome {
  Action action = Action::hold;
  std::string why;
  bool by_table = false;  // the mode table was consulted (the reason names it)
};

// One recipient's answer: its presence through the mode table, or the policy when the chat
// service could not say. A channel prints when any member can pick the job up.
Outcome evaluate(const Recipient& r, const PresenceMap& presences, const ModeTable& table,
                 const Policy& policy) {
  const auto it = presences.find(r.key());
  const bool channel = r.kind == RecipientKind::channel;
  const std::string who = channel ? "channel " + r.address : r.address;
  // S1605: status information could not be acquired.
  if (it == presences.end() || !it->second.available) {
    const std::string error = it == presences.end()      ? "no presence was reported"
                              : it->second.error.empty() ? "the chat service gave no reason"
                                                         : it->second.error;
    return {policy.presence_unavailable,
            "presence of " + who + " is unavailable (" + error +
                "; policy: " + std::string(to_string(policy.presence_unavailable)) + ")"};
  }
  const auto& members = it->second.members;
  if (members.empty()) {
    if (channel) return {Action::hold, "channel " + r.address + " has no members"};
    return {policy.presence_unavailable,
            "presence of " + who + " is unavailable (no presence was reported; policy: " +
                std::string(to_string(policy.presence_unavailable)) + ")"};
  }
  // S1606-S1607: the mode table.
  std::vector<std::string> states;
  for (const auto& m : members) {
    std::string state = m.address + " is " + m.presence.describe();
    if (table.lookup(m.presence) == Action::print) {
      return {Action::print, channel ? state + " (channel " + r.address + ")" : state, true};
    }
    states.push_back(std::move(state));
  }
  if (channel) {
    return {Action::hold,
            "no member of channel " + r.address + " can pick it up (" + join(states, ", ") + ")",
            true};
  }
  return {Action::hold, join(states, ", "), true};
}

}  // namespace

Decision decide(const Job& job, std::span<const Recipient> recipients, const PresenceMap& presences,
                const ModeTable& table, const Policy& policy, const std::string& printer) {
  Decision d;
  d.printer = printer;

  // S1603: no user information for this sender.
  if (recipients.empty()) {
    d.action = policy.unknown_sender;
    d.reason = verb(d.action) + ": sender " + job.sender.display() +
               " is not in the recipient table (policy: " + std::string(to_string(d.action)) + ")";
    return d;
  }

  const std::string table_note = " (table '" + table.name() + "')";
  std::vector<std::string> holds;
  bool by_table = false;
  std::vector<std::string> seen;  // a recipient matched by two rules counts once
  for (const auto& r : recipients) {
    auto key = r.key();
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
    seen.push_back(std::move(key));
    auto outcome = evaluate(r, presences, table, policy);
    if (outcome.action == Action::print) {
      d.action = Action::print;
      d.reason = "print: " + outcome.why + (outcome.by_table ? table_note : "");
      return d;
    }
    by_table = by_table || outcome.by_table;
    holds.push_back(std::move(outcome.why));
  }
  d.action = Action::hold;
  d.reason = "held: " + join(holds, "; ") + (by_table ? table_note : "");
  return d;
}

}  // namespace atdesk
