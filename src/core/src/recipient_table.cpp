// The recipient table: pattern parsing and an index whose lookups do not depend on the number of
// rules (hash maps per pattern kind, per prefix length and per network length).
#include "atdesk/core/recipient_table.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <map>
#include <optional>
#include <unordered_map>

#include "sip_uri.hpp"
#include "text.hpp"
#include "unicode.hpp"

namespace atdesk {
namespace {

constexpr std::string_view kPatternForms =
    "a fax number, prefix:<digits>, called:<number>, sip:<uri>, @<domain>, <ip>[/<length>], "
    "ipp:<user>, others or all";

// An IP network as raw address bytes (4 or 16), masked to its length.
struct Network {
  std::string bytes;
  int length = 0;
};

// The first 12 bytes of an IPv4-mapped IPv6 address (::ffff:0:0/96).
constexpr std::string_view kMappedPrefix{"\0\0\0\0\0\0\0\0\0\0\xff\xff", 12};

std::string mask(std::string bytes, int length) {
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const int bits = std::clamp(length - static_cast<int>(i) * 8, 0, 8);
    bytes[i] = static_cast<char>(static_cast<unsigned char>(bytes[i]) & (0xff00 >> bits));
  }
  return bytes;
}

// The address bytes of an IPv4 or IPv6 address. An IPv6 zone ("fe80::1%eth0") is ignored and
// an IPv4-mapped IPv6 address (::ffff:192.0.2.7, as dual-stack sockets report IPv4 peers) is
// read as the IPv4 address it carries.
std::optional<std::string> address_bytes(std::string_view text) {
  const std::string addr(text.substr(0, text.find('%')));
  unsigned char buf[16];
  if (inet_pton(AF_INET, addr.c_str(), buf) == 1) return std::string(buf, buf + 4);
  if (inet_pton(AF_INET6, addr.c_str(), buf) == 1) {
    std::string bytes(buf, buf + 16);
    if (bytes.starts_with(kMappedPrefix)) bytes.erase(0, 12);
    return bytes;
  }
  return std::nullopt;
}

// "addr" or "addr/length". Nothing when the address is not an IP address; an error when it is
// one but the length is not a number in range.
std::optional<Result<Network>> parse_network(std::string_view text) {
  const auto slash = text.find('/');
  const auto addr = text.substr(0, slash);
  if (addr.find('%') != std::string_view::npos) return std::nullopt;  // no zones in patterns
  unsigned char buf[16];
  const std::string a(addr);
  std::string bytes;
  if (inet_pton(AF_INET, a.c_str(), buf) == 1) {
    bytes.assign(buf, buf + 4);
  } else if (inet_pton(AF_INET6, a.c_str(), buf) == 1) {
    bytes.assign(buf, buf + 16);
  } else {
    return std::nullopt;
  }
  const int max = static_cast<int>(bytes.size()) * 8;
  int length = max;
  if (slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3 ||
        !std::all_of(digits.begin(), digits.end(), text::is_digit)) {
      return Result<Network>(fail(Errc::invalid_argument,
                                  "expected a network length after '/' in " + text::quote(text)));
    }
    length = std::stoi(std::string(digits));
    if (length > max) {
      return Result<Network>(
          fail(Errc::invalid_argument, "network length " + std::to_string(length) + " is over " +
                                           std::to_string(max) + " in " + text::quote(text)));
    }
  }
  if (bytes.size() == 16 && length >= 96 && bytes.starts_with(kMappedPrefix)) {
    // An IPv4-mapped network is the IPv4 network it carries (senders are read the same way).
    bytes.erase(0, 12);
    length -= 96;
  }
  return Result<Network>(Network{mask(std::move(bytes), length), length});
}

std::string format_network(const Network& n) {
  char out[INET6_ADDRSTRLEN] = {};
  inet_ntop(n.bytes.size() == 4 ? AF_INET : AF_INET6, n.bytes.data(), out, sizeof out);
  return std::string(out) + "/" + std::to_string(n.length);
}

Result<std::string> number_digits(std::string_view text, const NumberPlan& plan,
                                  std::string_view what) {
  auto n = FaxNumber::parse(text, plan);
  if (!n) {
    return fail(Errc::invalid_argument,
                what.empty() ? n.error().message : std::string(what) + ": " + n.error().message);
  }
  return n->digits();
}

Result<std::string> email_domain(std::string_view domain, std::string_view text) {
  const bool ok = !domain.empty() && domain.size() <= 253 &&
                  domain.find('.') != std::string_view::npos && domain.front() != '.' &&
                  domain.back() != '.' && domain.find("..") == std::string_view::npos &&
                  domain.find_first_of("@ \t/:") == std::string_view::npos;
  if (!ok) {
    return fail(Errc::invalid_argument,
                "expected an e-mail domain like @example.org, got " + text::quote(text));
  }
  return text::lower(domain);
}

}  // namespace

std::string_view to_string(PatternKind k) {
  switch (k) {
    case PatternKind::number:
      return "number";
    case PatternKind::prefix:
      return "prefix";
    case PatternKind::called:
      return "called";
    case PatternKind::sip_uri:
      return "sip_uri";
    case PatternKind::email_domain:
      return "email_domain";
    case PatternKind::ip_cidr:
      return "ip_cidr";
    case PatternKind::ipp_user:
      return "ipp_user";
    case PatternKind::others:
      return "others";
    case PatternKind::all:
      return "all";
  }
  return "others";
}

Result<SenderPattern> SenderPattern::parse(std::string_view raw, const NumberPlan& plan) {
  // Full-width forms (ｐｒｅｆｉｘ：０３, ＠example.org) read as their ASCII forms.
  auto folded = unicode::fold_for_numbers(raw);
  if (!folded) return fail(folded.error());
  const auto text = text::trim(*folded);
  if (text.empty()) {
    return fail(Errc::invalid_argument, "expected " + std::string(kPatternForms) + ", got nothing");
  }
  if (text.size() > 300 || !text::printable(text)) {
    return fail(Errc::invalid_argument,
                "expected at most 300 printable characters, got " + text::quote(text));
  }
  const std::string low = text::lower(text);
  SenderPattern p;
  auto with = [&p](PatternKind kind, std::string value) -> Result<SenderPattern> {
    p.kind = kind;
    p.value = std::move(value);
    return p;
  };
  if (low == "others") return with(PatternKind::others, {});
  if (low == "all") return with(PatternKind::all, {});
  if (low.starts_with("prefix:")) {
    auto d = number_digits(text.substr(7), plan, "prefix");
    if (!d) return fail(d.error());
    return with(PatternKind::prefix, std::move(*d));
  }
  if (low.starts_with("called:")) {
    auto d = number_digits(text.substr(7), plan, "called number");
    if (!d) return fail(d.error());
    return with(PatternKind::called, std::move(*d));
  }
  if (low.starts_with("sip:") || low.starts_with("sips:")) {
    auto uri = detail::normalize_sip_uri(text);
    if (!uri) {
      return fail(Errc::invalid_argument,
                  "expected a SIP URI like sip:user@host or sip:host, got " + text::quote(text));
    }
    return with(PatternKind::sip_uri, std::move(*uri));
  }
  if (low.starts_with("ipp:")) {
    const auto user = text.substr(4);
    if (user.empty() || user.size() > 255) {
      return fail(Errc::invalid_argument,
                  "expected ipp:<user name> of 1-255 characters, got " + text::quote(text));
    }
    return with(PatternKind::ipp_user, std::string(user));
  }
  if (low.starts_with("email:") || low.starts_with("@")) {
    auto domain = text.substr(low.starts_with("@") ? 1 : 6);
    if (domain.starts_with("@")) domain.remove_prefix(1);
    auto d = email_domain(domain, text);
    if (!d) return fail(d.error());
    return with(PatternKind::email_domain, std::move(*d));
  }
  if (low.starts_with("tel:")) {  // a fax number as an RFC 3966 URI (FaxNumber::parse reads it)
    auto d = number_digits(text, plan, {});
    if (!d) return fail(d.error());
    return with(PatternKind::number, std::move(*d));
  }
  // An IP network: "ip:<addr>[/len]", or text whose address part is an IP address. Numbers may
  // contain dots and slashes too ("03.1234.5678", "03/1234/5678") but never a valid address
  // followed by a length, and never ':'.
  const bool explicit_ip = low.starts_with("ip:");
  const auto ip_text = explicit_ip ? text.substr(3) : text;
  if (auto network = parse_network(ip_text)) {
    if (!*network) return fail(network->error());
    return with(PatternKind::ip_cidr, format_network(**network));
  }
  if (explicit_ip || ip_text.find(':') != std::string_view::npos) {
    return fail(Errc::invalid_argument,
                "expected an IP address or network like 192.0.2.0/24 or fe80::/10, "
                "got " +
                    text::quote(text));
  }
  auto d = number_digits(text, plan, {});
  if (!d) {
    return fail(Errc::invalid_argument,
                d.error().message + "; a pattern is " + std::string(kPatternForms));
  }
  return with(PatternKind::number, std::move(*d));
}

std::string SenderPattern::to_string() const {
  // Numbers are written with '+' so that reading them back does not apply a number plan again.
  switch (kind) {
    case PatternKind::number:
      return "+" + value;
    case PatternKind::prefix:
      return "prefix:+" + value;
    case PatternKind::called:
      return "called:+" + value;
    case PatternKind::sip_uri:
      return value;
    case PatternKind::email_domain:
      return "@" + value;
    case PatternKind::ip_cidr:
      return "ip:" + value;
    case PatternKind::ipp_user:
      return "ipp:" + value;
    case PatternKind::others:
      return "others";
    case PatternKind::all:
      return "all";
  }
  return "others";
}

// ---------------------------------------------------------------------------------------------

namespace {

// Hash maps keyed by std::string that can be probed with a std::string_view (no allocation per
// probed prefix).
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

}  // namespace

struct RecipientTable::Index {
  using Bucket = std::vector<std::size_t>;  // rule positions, in table order
  using Map = std::unordered_map<std::string, Bucket, StringHash, std::equal_to<>>;
  Map number, called, sip, ipp_user, email_domain;
  std::map<std::size_t, Map, std::greater<>> prefix;  // by length, longest first
  std::map<int, Map, std::greater<>> v4, v6;          // by network length, longest first
  Bucket others, all;

  static const Bucket* find(const Map& map, std::string_view key) {
    auto it = map.find(key);
    return it == map.end() ? nullptr : &it->second;
  }
};

RecipientTable::RecipientTable(std::vector<RecipientRule> rules, MatchPreference preference)
    : rules_(std::move(rules)), preference_(preference) {
  auto index = std::make_shared<Index>();
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    const auto& p = rules_[i].pattern;
    switch (p.kind) {
      case PatternKind::number:
        index->number[p.value].push_back(i);
        break;
      case PatternKind::prefix:
        if (!p.value.empty()) index->prefix[p.value.size()][p.value].push_back(i);
        break;
      case PatternKind::called:
        index->called[p.value].push_back(i);
        break;
      case PatternKind::sip_uri: {
        // Patterns built in code rather than parsed are normalised here too.
        const auto uri = detail::normalize_sip_uri(p.value);
        index->sip[uri ? *uri : p.value].push_back(i);
        break;
      }
      case PatternKind::email_domain:
        index->email_domain[text::lower(p.value)].push_back(i);
        break;
      case PatternKind::ipp_user:
        index->ipp_user[p.value].push_back(i);
        break;
      case PatternKind::others:
        index->others.push_back(i);
        break;
      case PatternKind::all:
        index->all.push_back(i);
        break;
      case PatternKind::ip_cidr:
        if (auto n = parse_network(p.value); n && *n) {
          auto& nets = (*n)->bytes.size() == 4 ? index->v4 : index->v6;
          nets[(*n)->length][(*n)->bytes].push_back(i);
        }
        break;
    }
  }
  index_ = std::move(index);
}

Match RecipientTable::match(const Sender& sender) const {
  Match result;
  if (!index_) return result;
  const Index& ix = *index_;

  // The best candidate: highest rank; equal ranks go to the rule that comes first in the table.
  struct Best {
    int rank = -1;
    const Index::Bucket* bucket = nullptr;
  };
  auto consider = [](Best& best, int rank, const Index::Bucket* bucket) {
    if (!bucket || bucket->empty()) return;
    if (rank > best.rank || (rank == best.rank && bucket->front() < best.bucket->front())) {
      best = {rank, bucket};
    }
  };

  // Exact values outrank any prefix, a longer prefix outranks a shorter one, then networks by
  // length, then e-mail domains (the more labels the more specific).
  constexpr int kExact = 3000, kPrefix = 2000, kNetwork = 1000, kDomain = 500;
  Best by_sender;
  if (sender.fax) {
    const std::string_view digits = sender.fax->digits();
    consider(by_sender, kExact, Index::find(ix.number, digits));
    for (const auto& [length, map] : ix.prefix) {
      if (length > digits.size()) continue;
      if (auto* b = Index::find(map, digits.substr(0, length))) {
        consider(by_sender, kPrefix + static_cast<int>(length), b);
        break;  // longest first: the first hit is the longest prefix
      }
    }
  }
  if (!sender.sip_uri.empty() && !ix.sip.empty()) {
    if (auto uri = detail::normalize_sip_uri(sender.sip_uri)) {
      consider(by_sender, kExact, Index::find(ix.sip, *uri));
    }
  }
  if (!sender.ipp_user.empty())
    consider(by_sender, kExact, Index::find(ix.ipp_user, sender.ipp_user));
  if (!sender.ip.empty() && !(ix.v4.empty() && ix.v6.empty())) {
    if (auto bytes = address_bytes(sender.ip)) {
      const auto& nets = bytes->size() == 4 ? ix.v4 : ix.v6;
      for (const auto& [length, map] : nets) {
        if (auto* b = Index::find(map, mask(*bytes, length))) {
          consider(by_sender, kNetwork + length, b);
          break;
        }
      }
    }
  }
  if (const auto at = sender.email.rfind('@');
      at != std::string::npos && !ix.email_domain.empty()) {
    // The most specific domain: a rule for mail.example.org before one for example.org, and a
    // rule for example.org covers its subdomains.
    const std::string domain = text::lower(std::string_view(sender.email).substr(at + 1));
    std::string_view probe = domain;
    int labels = static_cast<int>(std::count(domain.begin(), domain.end(), '.'));
    while (labels > 0) {
      if (auto* b = Index::find(ix.email_domain, probe)) {
        consider(by_sender, kDomain + labels, b);
        break;
      }
      probe.remove_prefix(probe.find('.') + 1);
      --labels;
    }
  }
  Best by_called;
  if (sender.called) consider(by_called, kExact, Index::find(ix.called, sender.called->digits()));

  const Best& first = preference_ == MatchPreference::called_first ? by_called : by_sender;
  const Best& second = preference_ == MatchPreference::called_first ? by_sender : by_called;
  const Index::Bucket* winner = first.bucket ? first.bucket : second.bucket;
  if (!winner && !ix.others.empty()) {
    winner = &ix.others;
    result.by_others = true;
  }
  if (winner) {
    result.rules.reserve(winner->size() + ix.all.size());
    for (auto i : *winner) result.rules.push_back(&rules_[i]);
  }
  for (auto i : ix.all) result.rules.push_back(&rules_[i]);
  return result;
}

}  // namespace atdesk
