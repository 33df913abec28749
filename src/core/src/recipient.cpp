#include "atdesk/core/recipient.hpp"

#include "text.hpp"

namespace atdesk {

std::string_view to_string(RecipientKind k) {
  return k == RecipientKind::user ? "user" : "channel";
}

std::string Recipient::key() const {
  return std::string(to_string(kind)) + ":" + service + ":" + address;
}

Result<Recipient> Recipient::parse_key(std::string_view key) {
  auto bad = [&](std::string_view what) {
    return fail(Errc::invalid_argument,
                "recipient: expected \"user:<service>:<address>\" or "
                "\"channel:<service>:<address>\" (" +
                    std::string(what) + "), got " + text::quote(key, 300));
  };
  const auto first = key.find(':');
  const auto second = first == std::string_view::npos ? first : key.find(':', first + 1);
  if (second == std::string_view::npos) return bad("two ':' separators");
  Recipient r;
  const auto kind = key.substr(0, first);
  if (kind == "user") {
    r.kind = RecipientKind::user;
  } else if (kind == "channel") {
    r.kind = RecipientKind::channel;
  } else {
    return bad("kind user or channel");
  }
  // The address may itself contain ':' (Matrix room ids, SIP-like addresses): only the first
  // two separators count.
  r.service = std::string(key.substr(first + 1, second - first - 1));
  r.address = std::string(key.substr(second + 1));
  if (r.service.empty() || r.service.size() > 64 ||
      r.service.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") != std::string::npos) {
    return bad("service of 1-64 characters a-z 0-9 _ -");
  }
  if (r.address.empty() || r.address.size() > 256 || !text::printable(r.address)) {
    return bad("address of 1-256 printable characters");
  }
  return r;
}

}  // namespace atdesk
