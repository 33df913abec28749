#include <algorithm>

#include "atdesk/core/sender.hpp"

namespace atdesk {

Result<FaxNumber> FaxNumber::parse(std::string_view text, const NumberPlan& plan) {
  std::string digits;
  bool plus = false;
  bool seen_digit = false;
  for (char c : text) {
    if (c >= '0' && c <= '9') {
      digits += c;
      seen_digit = true;
    } else if (c == '+' && !seen_digit && !plus) {
      plus = true;
    } else if (c == ' ' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')' || c == '\t') {
      continue;
    } else {
      return fail(Errc::invalid_argument,
                  "fax number: expected digits with optional '+', spaces, dashes, dots or "
                  "parentheses, got \"" +
                      std::string(text.substr(0, 64)) + "\"");
    }
  }
  if (digits.empty()) {
    return fail(Errc::invalid_argument,
                "fax number: expected digits, got \"" + std::string(text.substr(0, 64)) + "\"");
  }
  if (!plus) {
    if (!plan.international_prefix.empty() && digits.starts_with(plan.international_prefix)) {
      digits.erase(0, plan.international_prefix.size());
    } else if (!plan.trunk_prefix.empty() && digits.starts_with(plan.trunk_prefix)) {
      if (!plan.country_code.empty()) {
        digits = plan.country_code + digits.substr(plan.trunk_prefix.size());
      }
    }
  }
  if (digits.empty() || digits.size() > 20) {
    return fail(Errc::invalid_argument, "fax number: expected 1 to 20 digits, got \"" +
                                            std::string(text.substr(0, 64)) + "\"");
  }
  return FaxNumber(std::move(digits));
}

std::string FaxNumber::display() const {
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

}  // namespace atdesk
