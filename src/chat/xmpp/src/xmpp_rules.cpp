#include "xmpp_rules.hpp"

#include <algorithm>
#include <tuple>

namespace atdesk::chat::xmpp {
namespace {

constexpr std::size_t kMaxPart = 1023;  // RFC 7622 3.1: each part at most 1023 octets

bool is_control_or_space(unsigned char c) {
  return c <= 0x20 || c == 0x7f;
}

bool ascii_alnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

Result<Jid> Jid::parse(std::string_view text) {
  const auto bad = [&](std::string_view why) {
    return fail(Errc::invalid_argument,
                "XMPP address '" + std::string(text.substr(0, 300)) + "': " + std::string(why));
  };
  if (text.empty()) return bad("expected local@domain");
  Jid jid;
  std::string_view rest = text;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    jid.resource = std::string(rest.substr(slash + 1));
    rest = rest.substr(0, slash);
    if (jid.resource.empty()) return bad("empty resource after '/'");
    if (jid.resource.size() > kMaxPart) return bad("resource longer than 1023 bytes");
    if (std::any_of(jid.resource.begin(), jid.resource.end(),
                    [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
      return bad("control character in the resource");
    }
  }
  if (const auto at = rest.find('@'); at != std::string_view::npos) {
    jid.local = std::string(rest.substr(0, at));
    rest = rest.substr(at + 1);
    if (jid.local.empty()) return bad("empty localpart before '@'");
    if (jid.local.size() > kMaxPart) return bad("localpart longer than 1023 bytes");
    for (unsigned char c : jid.local) {
      if (is_control_or_space(c) || c == '"' || c == '&' || c == '\'' || c == '/' || c == ':' ||
          c == '<' || c == '>' || c == '@') {
        return bad("forbidden character in the localpart");
      }
    }
  }
  if (rest.empty()) return bad("empty domain");
  if (rest.size() > kMaxPart) return bad("domain longer than 1023 bytes");
  for (unsigned char c : rest) {
    if (is_control_or_space(c) || c == '@' || c == '/' || c == '"' || c == '\'' || c == '<' ||
        c == '>' || c == '&') {
      return bad("forbidden character in the domain");
    }
  }
  if (rest.front() == '.' || rest.back() == '.' || rest.find("..") != std::string_view::npos) {
    return bad("malformed domain");
  }
  jid.domain = ascii_lower(rest);
  return jid;
}

std::string Jid::bare() const {
  return local.empty() ? domain : local + "@" + domain;
}

std::string Jid::full() const {
  return resource.empty() ? bare() : bare() + "/" + resource;
}

Result<Jid> parse_user_jid(std::string_view text) {
  auto jid = Jid::parse(text);
  if (!jid) return jid;
  if (jid->local.empty()) {
    return fail(Errc::invalid_argument,
                "XMPP address '" + std::string(text) + "': expected local@domain for a person");
  }
  if (!jid->resource.empty()) {
    return fail(Errc::invalid_argument, "XMPP address '" + std::string(text) +
                                            "': expected a bare address without '/resource'");
  }
  return jid;
}

std::string bare_of(std::string_view jid) {
  auto parsed = Jid::parse(jid);
  return parsed ? parsed->bare() : std::string();
}

std::string resource_of(std::string_view jid) {
  auto parsed = Jid::parse(jid);
  return parsed ? parsed->resource : std::string();
}

Availability availability_from_show(std::string_view type, std::string_view show) {
  if (type == "unavailable") return Availability::offline;
  if (!type.empty()) return Availability::unknown;  // error, subscribe, probe...: no presence
  if (show.empty() || show == "chat") return Availability::available;
  if (show == "away" || show == "xa") return Availability::away;
  if (show == "dnd") return Availability::do_not_disturb;
  return Availability::unknown;
}

int availability_rank(Availability a) {
  switch (a) {
    case Availability::available:
      return 0;
    case Availability::busy:
      return 1;
    case Availability::do_not_disturb:
      return 2;
    case Availability::be_right_back:
      return 3;
    case Availability::away:
      return 4;
    case Availability::offline:
      return 5;
    case Availability::unknown:
      return 6;
  }
  return 6;
}

const ResourcePresence* most_available(const std::map<std::string, ResourcePresence>& resources) {
  const ResourcePresence* best = nullptr;
  for (const auto& [name, r] : resources) {
    if (!best) {
      best = &r;
      continue;
    }
    const auto key = [](const ResourcePresence& p) {
      // Lexicographic: lower rank, higher priority, later arrival.
      return std::tuple(-availability_rank(p.availability), p.priority, p.seq);
    };
    if (key(r) > key(*best)) best = &r;
  }
  return best;
}

LocationRule LocationRule::defaults() {
  LocationRule rule;
  rule.keywords = {
      {WorkLocation::office, {"office", "in office", "im büro", "出社"}},
      {WorkLocation::remote, {"home", "wfh", "remote", "在宅"}},
  };
  return rule;
}

WorkLocation location_from_status(std::string_view status_text, const LocationRule& rule) {
  const std::string text = ascii_lower(status_text);
  std::size_t best_pos = std::string::npos;
  std::size_t best_len = 0;
  WorkLocation best = rule.default_location;
  for (const auto& [location, words] : rule.keywords) {
    for (const auto& word : words) {
      const std::string w = ascii_lower(word);
      if (w.empty()) continue;
      const bool word_start = ascii_alnum(static_cast<unsigned char>(w.front()));
      const bool word_end = ascii_alnum(static_cast<unsigned char>(w.back()));
      for (auto pos = text.find(w); pos != std::string::npos; pos = text.find(w, pos + 1)) {
        const bool start_ok =
            !word_start || pos == 0 || !ascii_alnum(static_cast<unsigned char>(text[pos - 1]));
        const auto after = pos + w.size();
        const bool end_ok = !word_end || after == text.size() ||
                            !ascii_alnum(static_cast<unsigned char>(text[after]));
        if (!start_ok || !end_ok) continue;
        if (pos < best_pos || (pos == best_pos && w.size() > best_len)) {
          best_pos = pos;
          best_len = w.size();
          best = location;
        }
        break;
      }
    }
  }
  return best;
}

Presence combine_presence(const std::map<std::string, ResourcePresence>& resources,
                          const LocationRule& rule, Timestamp observed_at) {
  Presence p;
  p.observed_at = observed_at;
  const auto* best = most_available(resources);
  if (!best) {
    p.availability = Availability::offline;
    p.location = rule.default_location;
    return p;
  }
  p.availability = best->availability;
  p.status_text = best->status_text;
  p.location = location_from_status(best->status_text, rule);
  return p;
}

}  // namespace atdesk::chat::xmpp
