// Who sent a job, and the number it was sent to. Fax numbers are normalised to international
// digits (no '+') so that "+81 3-1234-5678", "0312345678" and "81312345678" compare equal.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "atdesk/core/error.hpp"

namespace atdesk {

// How national numbers are written where atdesk runs.
struct NumberPlan {
  std::string country_code;                 // e.g. "81"; empty: numbers are kept as written
  std::string trunk_prefix = "0";           // national prefix replaced by the country code
  std::string international_prefix = "00";  // dialled before a country code
};

class FaxNumber {
 public:
  FaxNumber() = default;
  // Accepts digits with spaces, dashes, dots, slashes and parentheses, an optional leading '+'.
  // Rules: '+' or the international prefix -> the digits that follow are international;
  // the trunk prefix -> country code + the rest; otherwise the digits as written.
  static Result<FaxNumber> parse(std::string_view text, const NumberPlan& plan);

  const std::string& digits() const { return digits_; }
  // "+81312345678" (or the bare digits when no country code could be known).
  std::string display() const;
  bool empty() const { return digits_.empty(); }
  auto operator<=>(const FaxNumber&) const = default;

 private:
  explicit FaxNumber(std::string digits) : digits_(std::move(digits)) {}
  std::string digits_;
};

struct Sender {
  std::optional<FaxNumber> fax;     // from the TSI or the caller ID, normalised
  std::string tsi;                  // as the remote fax sent it (free text, up to 20 chars)
  std::string caller_id;            // as the line presented it
  std::string sip_uri;              // "sip:user@host", lowercased scheme and host
  std::string email;                // "user@example.com"
  std::string ip;                   // textual IPv4 or IPv6 address of the peer
  std::string ipp_user;             // requesting-user-name of an IPP print job
  std::optional<FaxNumber> called;  // the number dialled (DID)

  // A short human description: the best identifier present ("+81312345678", "alice@..", ...).
  std::string display() const;
};

// Reads a sender given as text by an operator or an upload form: a fax number (normalised with
// `plan`), a "sip:"/"sips:" URI, an e-mail address, or an IPv4/IPv6 address. `field` names the
// input in error messages.
Result<Sender> parse_sender(std::string_view text, const NumberPlan& plan,
                            std::string_view field = "sender");

// True when a caller ID or TSI says that no number is given: what modems, ISDN cards and Asterisk
// put there when the caller withholds it or the network does not pass it on ("P" private, "O" out
// of area, "anonymous", "Restricted", "unavailable", "<UNSPECIFIED>"; case and blanks ignored).
bool is_withheld_caller_id(std::string_view text);

// The canonical text of an IPv4 or IPv6 address ("2001:DB8::1" -> "2001:db8::1"), or nothing when
// `text` is not one.
std::optional<std::string> canonical_ip(const std::string& text);

// The sender of a received fax from what the line presented: the caller ID (a number, or a
// withheld marker) and the TSI the remote fax sent. Never fails, because a fax is never refused
// for its metadata: a caller ID that is withheld or not a number leaves `fax` to the TSI (when the
// TSI is a number) or unknown (the recipient table's `others` rule decides). A caller ID that is
// not withheld is kept in `caller_id` as presented; a withheld TSI is kept as none.
Sender fax_sender(std::string_view caller_id, std::string_view tsi, const NumberPlan& plan);

}  // namespace atdesk
