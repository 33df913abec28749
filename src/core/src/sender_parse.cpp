#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

#include "atdesk/core/sender.hpp"

namespace atdesk {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool is_ip(const std::string& text) {
  unsigned char buf[16];
  return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

}  // namespace

Result<Sender> parse_sender(std::string_view raw, const NumberPlan& plan, std::string_view field) {
  auto trimmed = raw;
  while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.front()))) {
    trimmed.remove_prefix(1);
  }
  while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.back()))) {
    trimmed.remove_suffix(1);
  }
  const std::string where(field);
  if (trimmed.empty()) {
    return fail(Errc::invalid_argument,
                where + ": expected a fax number, sip: URI, e-mail or IP address, got nothing");
  }
  if (trimmed.size() > 256 || std::any_of(trimmed.begin(), trimmed.end(),
                                          [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
    return fail(Errc::invalid_argument, where + ": expected at most 256 printable characters");
  }
  Sender s;
  const std::string text(trimmed);
  const std::string low = lower(text);
  if (low.starts_with("sip:") || low.starts_with("sips:")) {
    const auto at = low.find('@');
    const auto colon = low.find(':');
    if (at == std::string::npos || at == colon + 1 || at + 1 == low.size()) {
      return fail(Errc::invalid_argument,
                  where + ": expected a SIP URI like sip:user@host, got \"" + text + "\"");
    }
    // Scheme and host are case-insensitive; the user part is kept as sent.
    s.sip_uri = low.substr(0, colon + 1) + text.substr(colon + 1, at - colon - 1) + low.substr(at);
    return s;
  }
  if (is_ip(text)) {
    s.ip = text;
    return s;
  }
  if (const auto at = text.find('@'); at != std::string::npos) {
    const auto domain = low.substr(at + 1);
    if (at == 0 || domain.empty() || domain.find('.') == std::string::npos ||
        text.find('@', at + 1) != std::string::npos) {
      return fail(
          Errc::invalid_argument,
          where + ": expected an e-mail address like name@example.org, got \"" + text + "\"");
    }
    s.email = text.substr(0, at + 1) + domain;
    return s;
  }
  auto number = FaxNumber::parse(text, plan);
  if (!number) {
    return fail(Errc::invalid_argument,
                where + ": expected a fax number, sip: URI, e-mail or IP address: " +
                    number.error().message);
  }
  s.fax = *number;
  s.caller_id = text;
  return s;
}

}  // namespace atdesk
