#include "xmpp_rules.hpp"

#include <locale.h>
#include <wctype.h>

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

// Appends the UTF-8 encoding of `cp`.
void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

// The lower-case mapping of the C.UTF-8 locale, made once (an immutable table, not state).
locale_t utf8_ctype() {
  static const locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  return loc;
}

}  // namespace

std::string fold_case(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  const locale_t loc = utf8_ctype();
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c);
      ++i;
      continue;
    }
    const std::size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
    char32_t cp = len == 4 ? (c & 0x07) : len == 3 ? (c & 0x0f) : (c & 0x1f);
    bool ok = len != 0 && i + len <= s.size();
    for (std::size_t k = 1; ok && k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      ok = (cc & 0xc0) == 0x80;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (!ok) {  // not UTF-8: kept as it is
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    const auto lower = loc ? static_cast<char32_t>(towlower_l(static_cast<wint_t>(cp), loc)) : cp;
    append_utf8(out, lower);
    i += len;
  }
  return out;
}

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
  jid.local = fold_case(jid.local);
  jid.domain = fold_case(rest);
  return jid;
}

std::string Jid::bare() const {
  return local.empty() ? domain : local + "@" + domain;
}

std::string Jid::full() const {
  return resource.empty() ? bare() : bare() + "/" + resource;
}

std::optional<Timestamp> parse_xmpp_stamp(std::string_view text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  std::string_view rest;
  const auto digits = [](std::string_view s, std::size_t pos, std::size_t n, int& out) {
    if (pos + n > s.size()) return false;
    out = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  if (text.size() >= 17 && text[8] == 'T' && text[4] != '-') {  // legacy 20020910T23:08:25
    if (!digits(text, 0, 4, y) || !digits(text, 4, 2, mo) || !digits(text, 6, 2, d) ||
        !digits(text, 9, 2, h) || text[11] != ':' || !digits(text, 12, 2, mi) || text[14] != ':' ||
        !digits(text, 15, 2, sec)) {
      return std::nullopt;
    }
    rest = text.substr(17);
    if (!rest.empty()) return std::nullopt;
    rest = "Z";
  } else {
    if (text.size() < 20 || !digits(text, 0, 4, y) || text[4] != '-' || !digits(text, 5, 2, mo) ||
        text[7] != '-' || !digits(text, 8, 2, d) || text[10] != 'T' || !digits(text, 11, 2, h) ||
        text[13] != ':' || !digits(text, 14, 2, mi) || text[16] != ':' ||
        !digits(text, 17, 2, sec)) {
      return std::nullopt;
    }
    rest = text.substr(19);
  }
  int millis = 0;
  if (!rest.empty() && rest.front() == '.') {
    std::size_t n = 1;
    int scale = 100;
    while (n < rest.size() && rest[n] >= '0' && rest[n] <= '9') {
      millis += (rest[n] - '0') * scale;
      scale /= 10;
      ++n;
    }
    if (n == 1) return std::nullopt;
    rest = rest.substr(n);
  }
  int offset_min = 0;
  if (rest == "Z") {
    offset_min = 0;
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    int oh = 0, om = 0;
    if (!digits(rest, 1, 2, oh) || !digits(rest, 4, 2, om)) return std::nullopt;
    offset_min = (rest[0] == '-' ? -1 : 1) * (oh * 60 + om);
  } else {
    return std::nullopt;
  }
  using namespace std::chrono;
  const year_month_day date{year{y}, month{static_cast<unsigned>(mo)},
                            day{static_cast<unsigned>(d)}};
  if (!date.ok() || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  return time_point_cast<milliseconds>(sys_days{date}) + hours{h} + minutes{mi} + seconds{sec} +
         milliseconds{millis} - minutes{offset_min};
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
