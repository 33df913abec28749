// The recipient table: pattern parsing and an index whose lookups do not depend on the number of
// rules (hash maps per pattern kind, per prefix length and per network length).
#include "atdesk/core/recipient_table.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <unordered_map>

namespace atdesk {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool printable(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
}

// An IP network as raw address bytes (4 or 16) masked to its length.
struct Network {
  std::string bytes;
  int length = 0;
};

std::string mask(std::string bytes, int length) {
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const int bits = std::clamp(length - static_cast<int>(i) * 8, 0, 8);
    bytes[i] = static_cast<char>(static_cast<unsigned char>(bytes[i]) & (0xff00 >> bits));
  }
  return bytes;
}

std::optional<std::string> address_bytes(const std::string& text) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) return std::string(buf, buf + 4);
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1) return std::string(buf, buf + 16);
  return std::nullopt;
}

std::optional<Network> parse_network(std::string_view text) {
  const auto slash = text.find('/');
  const std::string addr(text.substr(0, slash));
  auto bytes = address_bytes(addr);
  if (!bytes) return std::nullopt;
  const int max = static_cast<int>(bytes->size()) * 8;
  int length = max;
  if (slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3 ||
        !std::all_of(digits.begin(), digits.end(),
                     [](unsigned char c) { return std::isdigit(c); })) {
      return std::nullopt;
    }
    length = std::stoi(std::string(digits));
    if (length > max) return std::nullopt;
  }
  return Network{mask(*bytes, length), length};
}

std::string format_network(const Network& n) {
  char out[INET6_ADDRSTRLEN] = {};
  inet_ntop(n.bytes.size() == 4 ? AF_INET : AF_INET6, n.bytes.data(), out, sizeof out);
  return std::string(out) + "/" + std::to_string(n.length);
}

Result<std::string> number_digits(std::string_view text, const NumberPlan& plan,
                                  std::string_view what) {
  auto n = FaxNumber::parse(text, plan);
  if (!n) return fail(Errc::invalid_argument, std::string(what) + ": " + n.error().message);
  return n->digits();
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
  auto text = raw;
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  if (text.empty() || text.size() > 300 || !printable(text)) {
    return fail(Errc::invalid_argument,
                "pattern: expected a fax number, prefix:<digits>, called:<number>, sip:<uri>, "
                "@<domain>, <ip>[/<len>], ipp:<user>, others or all");
  }
  const std::string low = lower(text);
  SenderPattern p;
  if (low == "others" || low == "all") {
    p.kind = low == "all" ? PatternKind::all : PatternKind::others;
    return p;
  }
  if (low.starts_with("prefix:")) {
    auto d = number_digits(text.substr(7), plan, "pattern prefix");
    if (!d) return fail(d.error());
    p.kind = PatternKind::prefix;
    p.value = *d;
    return p;
  }
  if (low.starts_with("called:")) {
    auto d = number_digits(text.substr(7), plan, "pattern called number");
    if (!d) return fail(d.error());
    p.kind = PatternKind::called;
    p.value = *d;
    return p;
  }
  if (low.starts_with("sip:") || low.starts_with("sips:")) {
    auto s = parse_sender(text, plan, "pattern");
    if (!s) return fail(s.error());
    p.kind = PatternKind::sip_uri;
    p.value = s->sip_uri;
    return p;
  }
  if (low.starts_with("ipp:")) {
    if (text.size() == 4 || text.size() > 260) {
      return fail(Errc::invalid_argument, "pattern: expected ipp:<user name>");
    }
    p.kind = PatternKind::ipp_user;
    p.value = std::string(text.substr(4));
    return p;
  }
  if (low.starts_with("email:") || low.starts_with("@")) {
    auto domain = std::string_view(low).substr(low.starts_with("@") ? 1 : 6);
    if (domain.starts_with("@")) domain.remove_prefix(1);
    if (domain.empty() || domain.find('.') == std::string_view::npos ||
        domain.find_first_of("@ /") != std::string_view::npos || domain.front() == '.' ||
        domain.back() == '.') {
      return fail(Errc::invalid_argument,
                  "pattern: expected an e-mail domain like @example.org, got \"" +
                      std::string(text) + "\"");
    }
    p.kind = PatternKind::email_domain;
    p.value = std::string(domain);
    return p;
  }
  const auto ip_text = low.starts_with("ip:") ? std::string_view(text).substr(3) : text;
  if (low.starts_with("ip:") || ip_text.find(':') != std::string_view::npos ||
      ip_text.find('/') != std::string_view::npos ||
      std::count(ip_text.begin(), ip_text.end(), '.') == 3) {
    auto n = parse_network(ip_text);
    if (!n) {
      return fail(Errc::invalid_argument,
                  "pattern: expected an IP address or network like "
                  "192.0.2.0/24 or fe80::/10, got \"" +
                      std::string(text) + "\"");
    }
    p.kind = PatternKind::ip_cidr;
    p.value = format_network(*n);
    return p;
  }
  auto d = number_digits(text, plan, "pattern");
  if (!d) return fail(d.error());
  p.kind = PatternKind::number;
  p.value = *d;
  return p;
}

std::string SenderPattern::to_string() const {
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

struct RecipientTable::Index {
  using Bucket = std::vector<std::size_t>;  // rule positions, in table order
  using Map = std::unordered_map<std::string, Bucket>;
  Map number, called, sip, ipp_user, email_domain;
  std::map<std::size_t, Map, std::greater<>> prefix;  // by length, longest first
  std::map<int, Map, std::greater<>> v4, v6;          // by network length, longest first
  Bucket others, all;
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
        index->prefix[p.value.size()][p.value].push_back(i);
        break;
      case PatternKind::called:
        index->called[p.value].push_back(i);
        break;
      case PatternKind::sip_uri:
        index->sip[p.value].push_back(i);
        break;
      case PatternKind::email_domain:
        index->email_domain[p.value].push_back(i);
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
        if (auto n = parse_network(p.value)) {
          (n->bytes.size() == 4 ? index->v4 : index->v6)[n->length][n->bytes].push_back(i);
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
  auto find = [](const Index::Map& map, const std::string& key) -> const Index::Bucket* {
    auto it = map.find(key);
    return it == map.end() ? nullptr : &it->second;
  };

  constexpr int kExact = 3000, kPrefix = 2000, kNetwork = 1000, kDomain = 500;
  Best by_sender;
  if (sender.fax) {
    const auto& digits = sender.fax->digits();
    consider(by_sender, kExact, find(ix.number, digits));
    for (const auto& [length, map] : ix.prefix) {
      if (length > digits.size()) continue;
      if (auto* b = find(map, digits.substr(0, length))) {
        consider(by_sender, kPrefix + static_cast<int>(length), b);
        break;  // longest first: the first hit is the longest prefix
      }
    }
  }
  if (!sender.sip_uri.empty()) consider(by_sender, kExact, find(ix.sip, sender.sip_uri));
  if (!sender.ipp_user.empty()) consider(by_sender, kExact, find(ix.ipp_user, sender.ipp_user));
  if (!sender.ip.empty()) {
    if (auto bytes = address_bytes(sender.ip)) {
      const auto& nets = bytes->size() == 4 ? ix.v4 : ix.v6;
      for (const auto& [length, map] : nets) {
        if (auto* b = find(map, mask(*bytes, length))) {
          consider(by_sender, kNetwork + length, b);
          break;
        }
      }
    }
  }
  if (const auto at = sender.email.rfind('@'); at != std::string::npos) {
    // The most specific domain: mail.example.org before example.org.
    std::string domain = lower(sender.email.substr(at + 1));
    int labels = static_cast<int>(std::count(domain.begin(), domain.end(), '.'));
    while (!domain.empty()) {
      if (auto* b = find(ix.email_domain, domain)) {
        consider(by_sender, kDomain + labels, b);
        break;
      }
      const auto dot = domain.find('.');
      if (dot == std::string::npos) break;
      domain.erase(0, dot + 1);
      --labels;
    }
  }
  Best by_called;
  if (sender.called) consider(by_called, kExact, find(ix.called, sender.called->digits()));

  const Index::Bucket* winner = nullptr;
  if (preference_ == MatchPreference::called_first) {
    winner = by_called.bucket ? by_called.bucket : by_sender.bucket;
  } else {
    winner = by_sender.bucket ? by_sender.bucket : by_called.bucket;
  }
  if (!winner && !ix.others.empty()) {
    winner = &ix.others;
    result.by_others = true;
  }
  if (winner) {
    for (auto i : *winner) result.rules.push_back(&rules_[i]);
  }
  for (auto i : ix.all) result.rules.push_back(&rules_[i]);
  return result;
}

}  // namespace atdesk
