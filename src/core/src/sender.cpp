// Fax numbers (normalised to international digits) and senders read from operator input.
#include "atdesk/core/sender.hpp"

#include <arpa/inet.h>

#include <algorithm>

#include "sip_uri.hpp"
#include "text.hpp"

namespace atdesk {
namespace {

constexpr std::size_t kMaxDigits = 20;

bool is_separator(char c) {
  return c == ' ' || c == '\t' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')';
}

// The canonical text of an IPv4 or IPv6 address, or nothing when `text` is not one.
std::optional<std::string> canonical_ip(const std::string& text) {
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN] = {};
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) {
    inet_ntop(AF_INET, buf, out, sizeof out);
    return std::string(out);
  }
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1) {
    inet_ntop(AF_INET6, buf, out, sizeof out);
    return std::string(out);
  }
  return std::nullopt;
}

}  // namespace

namespace detail {

std::optional<std::string> normalize_sip_uri(std::string_view text) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const auto scheme = text::lower(text.substr(0, colon));
  if (scheme != "sip" && scheme != "sips") return std::nullopt;
  auto rest = text.substr(colon + 1);
  rest = rest.substr(0, rest.find_first_of(";?"));
  const auto at = rest.find('@');
  const auto user = at == std::string_view::npos ? std::string_view{} : rest.substr(0, at);
  const auto host = at == std::string_view::npos ? rest : rest.substr(at + 1);
  const bool bad_user = at != std::string_view::npos && user.empty();
  if (bad_user || host.empty() || host.find_first_of("@ \t") != std::string_view::npos ||
      user.find_first_of(" \t") != std::string_view::npos || !text::printable(rest)) {
    return std::nullopt;
  }
  std::string out = scheme + ":";
  if (at != std::string_view::npos) out += std::string(user) + "@";
  out += text::lower(host);
  return out;
}

}  // namespace detail

Result<FaxNumber> FaxNumber::parse(std::string_view text, const NumberPlan& plan) {
  const auto expected = [&](std::string what) {
    return fail(Errc::invalid_argument,
                "fax number: " + what +
                    " (expected digits with an optional leading '+', spaces, dashes, dots, "
                    "slashes or parentheses), got " +
                    text::quote(text));
  };
  std::string digits;
  bool plus = false;
  bool too_long = false;  // digits beyond any plausible number are counted, not kept
  for (char c : text) {
    if (text::is_digit(c)) {
      if (digits.size() < 4 * kMaxDigits) {
        digits += c;
      } else {
        too_long = true;
      }
    } else if (c == '+') {
      if (plus || !digits.empty()) return expected("'+' only at the start");
      plus = true;
    } else if (!is_separator(c)) {
      if (text::is_alnum(c)) return expected(std::string("letter '") + c + "'");
      return expected("unexpected character");
    }
  }
  if (digits.empty()) return expected("no digits");
  if (!plus) {
    if (!plan.international_prefix.empty() && digits.starts_with(plan.international_prefix)) {
      digits.erase(0, plan.international_prefix.size());
    } else if (!plan.trunk_prefix.empty() && !plan.country_code.empty() &&
               digits.starts_with(plan.trunk_prefix)) {
      // A national number: the trunk prefix becomes the country code. Without a country code
      // the number is kept as written.
      digits = plan.country_code + digits.substr(plan.trunk_prefix.size());
    }
  }
  if (digits.empty()) return expected("no digits after the international prefix");
  if (too_long || digits.size() > kMaxDigits) {
    return expected("more than " + std::to_string(kMaxDigits) + " digits");
  }
  return FaxNumber(std::move(digits));
}

std::string FaxNumber::display() const {
  // No country code starts with 0: such digits are a national number kept as written (no
  // country code was configured), shown without '+'.
  if (digits_.empty() || digits_.front() == '0') return digits_;
  return "+" + digits_;
}

std::string Sender::display() const {
  if (fax) return fax->display();
  if (!tsi.empty()) return tsi;
  if (!sip_uri.empty()) return sip_uri;
  if (!email.empty()) return email;
  if (!ipp_user.empty()) return ipp_user;
  if (!ip.empty()) return ip;
  if (!caller_id.empty()) return caller_id;
  return "an unknown sender";
}

Result<Sender> parse_sender(std::string_view raw, const NumberPlan& plan, std::string_view field) {
  const std::string where(field);
  const auto trimmed = text::trim(raw);
  if (trimmed.empty()) {
    return fail(Errc::invalid_argument,
                where + ": expected a fax number, sip: URI, e-mail or IP address, got nothing");
  }
  if (trimmed.size() > 256 || !text::printable(trimmed)) {
    return fail(Errc::invalid_argument,
                where + ": expected at most 256 printable characters, got " + text::quote(trimmed));
  }
  Sender s;
  const std::string text(trimmed);
  const std::string low = text::lower(text);
  if (low.starts_with("sip:") || low.starts_with("sips:")) {
    auto uri = detail::normalize_sip_uri(text);
    if (!uri) {
      return fail(
          Errc::invalid_argument,
          where + ": expected a SIP URI like sip:user@host or sip:host, got " + text::quote(text));
    }
    s.sip_uri = std::move(*uri);
    return s;
  }
  if (auto ip = canonical_ip(text)) {
    s.ip = *ip;
    return s;
  }
  if (const auto at = text.find('@'); at != std::string::npos) {
    const auto domain = low.substr(at + 1);
    if (at == 0 || domain.find('.') == std::string::npos || domain.front() == '.' ||
        domain.back() == '.' || domain.find_first_of("@ \t") != std::string::npos ||
        text.substr(0, at).find_first_of(" \t") != std::string::npos) {
      return fail(
          Errc::invalid_argument,
          where + ": expected an e-mail address like name@example.org, got " + text::quote(text));
    }
    s.email = text.substr(0, at + 1) + domain;
    return s;
  }
  auto number = FaxNumber::parse(text, plan);
  if (!number) {
    return fail(Errc::invalid_argument,
                where + ": expected a fax number, sip: URI, e-mail or IP address; " +
                    number.error().message);
  }
  s.fax = *number;
  s.caller_id = text;
  return s;
}

bool is_withheld_caller_id(std::string_view raw) {
  const auto low = text::lower(text::trim(raw));
  // Class 2/2.0 modems report "P" and "O" (TIA/EIA-777 caller ID: private, out of area); Asterisk
  // sends "anonymous" or "Restricted"; HylaFAX writes "<UNSPECIFIED>" for a missing TSI.
  for (std::string_view marker : {"p", "o", "anonymous", "restricted", "private", "unavailable",
                                  "unknown", "<unspecified>", "<unknown>", "withheld"}) {
    if (low == marker) return true;
  }
  return false;
}

Sender fax_sender(std::string_view caller_id, std::string_view tsi, const NumberPlan& plan) {
  Sender s;
  const auto cid = text::trim(caller_id);
  const auto station = text::trim(tsi);
  if (!station.empty() && !is_withheld_caller_id(station) && text::printable(station)) {
    s.tsi = std::string(station);
  }
  if (!cid.empty() && !is_withheld_caller_id(cid) && text::printable(cid) && cid.size() <= 256) {
    s.caller_id = std::string(cid);
    if (auto number = FaxNumber::parse(cid, plan)) s.fax = *number;
  }
  if (!s.fax && !s.tsi.empty()) {
    if (auto number = FaxNumber::parse(s.tsi, plan)) s.fax = *number;
  }
  return s;
}

}  // namespace atdesk
