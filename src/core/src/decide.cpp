// decide(): the seed's steps S1602-S1608 as a pure function with a reason people can read.
#include "atdesk/core/decide.hpp"

#include <algorithm>

#include "atdesk/core/messages.hpp"
#include "atdesk/core/reason.hpp"

namespace atdesk {
namespace {

// The reasons are written in English from the catalogue (the stored text; core/reason.hpp shows
// it in the reader's language).
constexpr Language kStored = Language::en;

std::string join(const std::vector<std::string>& parts, MessageKey separator) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += message_template(kStored, separator);
    out += p;
  }
  return out;
}

std::string policy_word(Action a) {
  return message(kStored, a == Action::print ? MessageKey::reason_policy_print
                                             : MessageKey::reason_policy_hold);
}

struct Outcome {
  Action action = Action::hold;
  std::string why;
  bool by_table = false;  // the mode table was consulted (the reason names it)
};

std::string unavailable(const std::string& who, const std::string& error, Action policy) {
  return message(kStored, MessageKey::reason_unavailable,
                 {{"who", who}, {"error", error}, {"policy", policy_word(policy)}});
}

// One recipient's answer: its presence through the mode table, or the policy when the chat
// service could not say. A channel prints when any member can pick the job up.
Outcome evaluate(const Recipient& r, const PresenceMap& presences, const ModeTable& table,
                 const Policy& policy) {
  const auto it = presences.find(r.key());
  const bool channel = r.kind == RecipientKind::channel;
  const std::string who =
      channel ? message(kStored, MessageKey::reason_channel, {{"channel", r.address}}) : r.address;
  // S1605: status information could not be acquired.
  if (it == presences.end() || !it->second.available) {
    const std::string error =
        it == presences.end()      ? message(kStored, MessageKey::reason_no_presence)
        : it->second.error.empty() ? message(kStored, MessageKey::reason_no_error)
                                   : it->second.error;
    return {policy.presence_unavailable, unavailable(who, error, policy.presence_unavailable)};
  }
  const auto& members = it->second.members;
  if (members.empty()) {
    if (channel) {
      return {Action::hold,
              message(kStored, MessageKey::reason_no_members, {{"channel", r.address}})};
    }
    return {policy.presence_unavailable,
            unavailable(who, message(kStored, MessageKey::reason_no_presence),
                        policy.presence_unavailable)};
  }
  // S1606-S1607: the mode table.
  std::vector<std::string> states;
  for (const auto& m : members) {
    std::string state = message(kStored, MessageKey::reason_member,
                                {{"address", m.address},
                                 {"availability", presence_word(kStored, m.presence.availability)},
                                 {"location", presence_word(kStored, m.presence.location)}});
    if (table.lookup(m.presence) == Action::print) {
      if (channel) {
        state = message(kStored, MessageKey::reason_member_in_channel,
                        {{"member", state}, {"channel", r.address}});
      }
      return {Action::print, std::move(state), true};
    }
    states.push_back(std::move(state));
  }
  if (channel) {
    return {Action::hold,
            message(kStored, MessageKey::reason_nobody_can,
                    {{"channel", r.address},
                     {"states", join(states, MessageKey::reason_list_separator)}}),
            true};
  }
  return {Action::hold, join(states, MessageKey::reason_list_separator), true};
}

}  // namespace

Decision decide(const Job& job, std::span<const Recipient> recipients, const PresenceMap& presences,
                const ModeTable& table, const Policy& policy, const std::string& printer) {
  Decision d;
  d.printer = printer;

  // S1603: no user information for this sender.
  if (recipients.empty()) {
    d.action = policy.unknown_sender;
    d.reason = message(kStored,
                       d.action == Action::print ? MessageKey::reason_unknown_sender_print
                                                 : MessageKey::reason_unknown_sender_held,
                       {{"sender", job.sender.display()}});
    return d;
  }

  const std::string table_note =
      message(kStored, MessageKey::reason_table, {{"table", table.name()}});
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
      d.reason = message(kStored, MessageKey::reason_print,
                         {{"why", outcome.why}, {"table", outcome.by_table ? table_note : ""}});
      return d;
    }
    by_table = by_table || outcome.by_table;
    holds.push_back(std::move(outcome.why));
  }
  d.action = Action::hold;
  d.reason = message(
      kStored, MessageKey::reason_held,
      {{"why", join(holds, MessageKey::reason_separator)}, {"table", by_table ? table_note : ""}});
  return d;
}

}  // namespace atdesk
