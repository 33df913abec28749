// The recipient table (the seed's recipient user table 901): ordered rules sender-pattern ->
// recipient. Lookup picks the most specific matching rule(s), plus every `all` rule.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atdesk/core/error.hpp"
#include "atdesk/core/language.hpp"
#include "atdesk/core/recipient.hpp"
#include "atdesk/core/sender.hpp"

namespace atdesk {

enum class PatternKind {
  number,        // exact fax number of the sender
  prefix,        // leading digits of the sender's fax number (area code)
  called,        // exact number that was dialled (DID)
  sip_uri,       // exact SIP URI of the sender
  email_domain,  // domain of the sender's e-mail address
  ip_cidr,       // sender's IP address within a network
  ipp_user,      // requesting user of an IPP print job
  others,        // any sender no other rule matches
  all,           // every sender, in addition to the best match
};

std::string_view to_string(PatternKind k);

// A sender pattern. Text forms (what the CLI, API, UI and TOML use):
//   "+81 3-1234-5678" / "0312345678"   number (normalised with the NumberPlan)
//   "prefix:03"                         prefix (1 or more digits, normalised like a number)
//   "called:+81312340000"               called number
//   "sip:alice@example.org"             SIP URI
//   "@example.org" / "email:@example.org"  e-mail domain
//   "10.1.0.0/16" / "ip:fe80::/10" / "192.0.2.7"  IP network (a bare address is /32 or /128)
//   "ipp:alice"                         IPP requesting user
//   "others" / "all"
// Matching: "@example.org" also covers subdomains (mail.example.org), the most specific domain
// winning; SIP URIs compare without parameters, scheme and host case-insensitively; an
// IPv4-mapped IPv6 sender address (::ffff:192.0.2.7) matches IPv4 networks.
struct SenderPattern {
  PatternKind kind = PatternKind::others;
  std::string value;  // normalised: digits, lowercased URI/domain, canonical CIDR "addr/len"

  static Result<SenderPattern> parse(std::string_view text, const NumberPlan& plan);
  std::string to_string() const;  // parse(to_string()) round-trips
  bool operator==(const SenderPattern&) const = default;
};

struct RecipientRule {
  std::int64_t id = 0;  // assigned by the store; 0 for a rule not yet stored
  SenderPattern pattern;
  Recipient recipient;
  std::string printer;  // preferred printer for jobs of this rule; empty: the default
  std::string note;     // free text shown in the UI
  // The language of chat messages to this rule's recipient when the chat service does not say;
  // none: [general] language. Kept by the engine beside the rule (settings "rule.language").
  std::optional<Language> language = {};
  bool operator==(const RecipientRule&) const = default;
};

// Which pattern wins when a job matches both on its sender and on its called number.
enum class MatchPreference { sender_first, called_first };

struct Match {
  // Rules that matched: the most specific rule(s) (several when more than one rule has exactly
  // the same pattern), then every `all` rule. Empty when nothing matched.
  std::vector<const RecipientRule*> rules;
  bool by_others = false;  // the best match was the `others` rule
  bool empty() const { return rules.empty(); }
};

// Immutable index over a set of rules; lookups are O(digits + prefix lengths), independent of
// the number of rules. Build a new one when the rules change.
class RecipientTable {
 public:
  RecipientTable() = default;
  explicit RecipientTable(std::vector<RecipientRule> rules,
                          MatchPreference preference = MatchPreference::sender_first);

  Match match(const Sender& sender) const;
  const std::vector<RecipientRule>& rules() const { return rules_; }
  std::size_t size() const { return rules_.size(); }

 private:
  struct Index;
  std::vector<RecipientRule> rules_;
  MatchPreference preference_ = MatchPreference::sender_first;
  std::shared_ptr<const Index> index_;
};

}  // namespace atdesk
