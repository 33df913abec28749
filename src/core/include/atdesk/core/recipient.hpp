// A recipient: a chat user or a channel on a named chat service.
#pragma once

#include <compare>
#include <string>
#include <string_view>

#include "atdesk/core/error.hpp"

namespace atdesk {

enum class RecipientKind { user, channel };

std::string_view to_string(RecipientKind k);  // "user" | "channel"

struct Recipient {
  RecipientKind kind = RecipientKind::user;
  std::string service;  // the chat service's configured name, e.g. "local", "xmpp", "teams"
  std::string address;  // the user or channel on that service (JID, UPN, room, ...)

  // "user:local:alice" / "channel:xmpp:fax@rooms.example.org": a stable key for maps and storage.
  std::string key() const;
  static Result<Recipient> parse_key(std::string_view key);
  auto operator<=>(const Recipient&) const = default;
};

}  // namespace atdesk
