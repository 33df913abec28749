// Fax numbers (normalised to international digits) and senders read from operator input.
#include "atdesk/core/sender.hpp"

#include <arpa/inet.h>

#include <algorithm>

#include "sip_uri.hpp"
#include "text.hpp"
#include "unicode.hpp"

namespace atdesk {
namespace {

constexpr std::size_t kMaxDigits = 20;

bool is_separator(char c) {
  return c == ' ' || c == '\t' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')';
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

namespace {

// A tel: URI (RFC 3966) as the digits FaxNumber::parse reads: "tel:+81-3-1234-5678" gives
// "+81-3-1234-5678"; a local number takes its ;phone-context: a global prefix is put in front
// ("tel:03-1234-5678;phone-context=+81" is +81 03...: the trunk prefix is dropped as a plan
// does), a domain leaves the number national. Visual separators stay; other parameters (isub,
// ext) are refused: a fax cannot dial them.
Result<std::string> tel_uri_digits(std::string_view uri, const NumberPlan& plan) {
  const auto bad = [&](const std::string& what) {
    return fail(Errc::invalid_argument,
                "fax number: tel: URI: " + what + " (RFC 3966), got " + text::quote(uri));
  };
  auto rest = uri.substr(4);  // after "tel:"
  const auto semi = rest.find(';');
  std::string number(rest.substr(0, semi));
  std::optional<std::string> context;
  for (auto params = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
       !params.empty();) {
    const auto next = params.find(';');
    const auto param = params.substr(0, next);
    params = next == std::string_view::npos ? std::string_view{} : params.substr(next + 1);
    const auto eq = param.find('=');
    const auto name = text::lower(param.substr(0, eq));
    const auto value = eq == std::string_view::npos ? std::string_view{} : param.substr(eq + 1);
    if (name == "phone-context") {
      if (value.empty()) return bad("phone-context without a value");
      context = std::string(value);
    } else if (name == "ext" || name == "isub") {
      return bad("';" + name + "=' cannot be dialled by a fax machine");
    } else if (name.empty()) {
      return bad("an empty parameter");
    }  // other parameters (npdi, rn, cic, ...) do not change the number
  }
  if (number.starts_with('+')) return number;
  if (!context) return bad("a local number needs ;phone-context");
  if (context->starts_with('+')) {
    // The context's digits are the country (and area) in front of the local number; a national
    // trunk prefix written in the local number is not dialled internationally.
    if (!plan.trunk_prefix.empty() && number.starts_with(plan.trunk_prefix)) {
      number.erase(0, plan.trunk_prefix.size());
    }
    return *context + number;
  }
  return number;  // a domain as context: a number of this network, read with the plan
}

}  // namespace

Result<FaxNumber> FaxNumber::parse(std::string_view raw, const NumberPlan& plan) {
  // Full-width digits and dashes, the ideographic space, dash look-alikes: as their ASCII forms.
  auto folded = unicode::fold_for_numbers(raw);
  if (!folded) {
    return fail(Errc::invalid_argument,
                "fax number: " + folded.error().message + ", got " + text::quote(raw));
  }
  std::string_view text = *folded;
  const auto expected = [&](std::string what) {
    return fail(Errc::invalid_argument,
                "fax number: " + what +
                    " (expected digits with an optional leading '+', spaces, dashes, dots, "
                    "slashes or parentheses, or a tel: URI), got " +
                    text::quote(raw));
  };
  std::string from_uri;
  if (text::lower(text::trim(text).substr(0, 4)) == "tel:") {
    auto digits = tel_uri_digits(text::trim(text), plan);
    if (!digits) return fail(digits.error());
    from_uri = std::move(*digits);
    text = from_uri;
  }
  std::string digits;
  bool plus = false;
  bool too_long = false;  // digits beyond any plausible number are counted, not kept
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
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
      return expected("unexpected character " + unicode::describe_character(text, i));
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
    return fail(
        Errc::invalid_argument,
        where + ": expected a fax number, tel: or sip: URI, e-mail or IP address, got nothing");
  }
  if (trimmed.size() > 256 || !text::printable(trimmed)) {
    return fail(Errc::invalid_argument,
                where + ": expected at most 256 printable characters, got " + text::quote(trimmed));
  }
  Sender s;
  // Full-width forms (ｓｉｐ：, ０３－…, ＠) read as their ASCII forms.
  auto folded = unicode::fold_for_numbers(trimmed);
  if (!folded) return fail(Errc::invalid_argument, where + ": " + folded.error().message);
  const std::string text(text::trim(*folded));
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
                where + ": expected a fax number, tel: or sip: URI, e-mail or IP address; " +
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

}  // namespace atdesk
