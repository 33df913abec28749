#include "stanzas.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "strophe_handles.hpp"
#include "xmpp_rules.hpp"

namespace atdesk::chat::xmpp {
namespace {

bool is(xmpp_stanza_t* s, const char* name) {
  const char* n = s ? xmpp_stanza_get_name(s) : nullptr;
  return n && std::strcmp(n, name) == 0;
}

std::string type_of(xmpp_stanza_t* s) {
  const char* t = xmpp_stanza_get_type(s);
  return t ? std::string(t) : std::string();
}

std::string from_of(xmpp_stanza_t* s) {
  const char* f = xmpp_stanza_get_from(s);
  return f ? std::string(f) : std::string();
}

// Trims ASCII whitespace at both ends.
std::string trim(std::string s) {
  const auto not_space = [](unsigned char c) {
    return c != ' ' && c != '\t' && c != '\r' && c != '\n';
  };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

}  // namespace

std::optional<ContactPresence> parse_contact_presence(xmpp_stanza_t* presence) {
  if (!is(presence, "presence")) return std::nullopt;
  if (xmpp_stanza_get_child_by_name_and_ns(presence, "x", kNsMucUser)) return std::nullopt;
  auto jid = Jid::parse(from_of(presence));
  if (!jid) return std::nullopt;
  ContactPresence p;
  p.bare = jid->bare();
  p.resource = jid->resource;
  p.type = type_of(presence);
  p.show = trim(child_text(presence, "show"));
  p.status = child_text(presence, "status");
  const auto prio = trim(child_text(presence, "priority"));
  int value = 0;
  if (!prio.empty()) {
    const auto [ptr, ec] = std::from_chars(prio.data(), prio.data() + prio.size(), value);
    if (ec == std::errc() && ptr == prio.data() + prio.size()) {
      p.priority = std::clamp(value, -128, 127);
    }
  }
  return p;
}

std::optional<OccupantPresence> parse_occupant_presence(xmpp_stanza_t* presence) {
  if (!is(presence, "presence")) return std::nullopt;
  auto jid = Jid::parse(from_of(presence));
  if (!jid) return std::nullopt;
  OccupantPresence o;
  o.room = jid->bare();
  o.nick = jid->resource;
  const auto type = type_of(presence);
  if (type == "error") {
    o.error = true;
    o.error_condition = error_condition(presence);
    return o;
  }
  xmpp_stanza_t* x = xmpp_stanza_get_child_by_name_and_ns(presence, "x", kNsMucUser);
  if (!x || o.nick.empty()) return std::nullopt;
  o.unavailable = type == "unavailable";
  o.show = trim(child_text(presence, "show"));
  o.status = child_text(presence, "status");
  for (xmpp_stanza_t* c = xmpp_stanza_get_children(x); c; c = xmpp_stanza_get_next(c)) {
    if (is(c, "item")) {
      const auto real = attribute(c, "jid");
      if (!real.empty()) o.real_bare = bare_of(real);
      o.role = attribute(c, "role");
    } else if (is(c, "status") && attribute(c, "code") == "110") {
      o.self = true;
    } else if (is(c, "status") && attribute(c, "code") == "100") {
      o.non_anonymous = true;
    }
  }
  return o;
}

// The language a message is written in (RFC 6120 8.1.5 xml:lang on the stanza, which the body
// may override, RFC 6121 5.2.3): a language tag, kept only when it looks like one.
std::string language_of(xmpp_stanza_t* message, xmpp_stanza_t* body) {
  // libstrophe's parser keeps xml:lang under its local name, "lang".
  auto lang = [](xmpp_stanza_t* s) {
    std::string tag = attribute(s, "xml:lang");
    return tag.empty() ? attribute(s, "lang") : tag;
  };
  std::string tag = lang(body);
  if (tag.empty()) tag = lang(message);
  const bool tag_like = tag.size() <= 35 && std::all_of(tag.begin(), tag.end(), [](char c) {
                          return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                 (c >= '0' && c <= '9') || c == '-';
                        });
  return tag_like ? tag : std::string();
}

std::optional<ChatCommand> extract_command(xmpp_stanza_t* message, const std::string& service,
                                           const std::string& own_bare,
                                           const std::map<std::string, RoomState>& rooms) {
  auto c = read_command(message, service, own_bare, rooms);
  if (!c || c->sent_at) return std::nullopt;
  return std::move(c->command);
}

std::optional<IncomingCommand> read_command(xmpp_stanza_t* message, const std::string& service,
                                            const std::string& own_bare,
                                            const std::map<std::string, RoomState>& rooms) {
  if (!is(message, "message")) return std::nullopt;
  const auto type = type_of(message);
  if (type != "chat" && type != "groupchat") return std::nullopt;
  std::optional<Timestamp> sent_at;
  if (xmpp_stanza_t* delay = xmpp_stanza_get_child_by_name_and_ns(message, "delay", kNsDelay)) {
    sent_at = parse_xmpp_stamp(attribute(delay, "stamp")).value_or(Timestamp{});
  } else if (xmpp_stanza_t* legacy =
                 xmpp_stanza_get_child_by_name_and_ns(message, "x", kNsLegacyDelay)) {
    sent_at = parse_xmpp_stamp(attribute(legacy, "stamp")).value_or(Timestamp{});
  }
  if (sent_at && type == "groupchat") return std::nullopt;  // room history
  xmpp_stanza_t* body = xmpp_stanza_get_child_by_name(message, "body");
  if (!body) return std::nullopt;
  // Measure before copying: huge bodies are dropped without building a command.
  std::string text = take_string(xmpp_stanza_get_context(body), xmpp_stanza_get_text(body));
  if (text.size() > kMaxCommandBytes) return std::nullopt;
  text = trim(std::move(text));
  if (text.empty()) return std::nullopt;
  auto from = Jid::parse(from_of(message));
  if (!from) return std::nullopt;

  ChatCommand command;
  command.service = service;
  command.text = std::move(text);
  command.language = language_of(message, body);
  if (type == "groupchat") {
    const auto room = rooms.find(from->bare());
    if (room == rooms.end() || !room->second.joined) return std::nullopt;
    if (from->resource.empty() || from->resource == room->second.nick) return std::nullopt;
    const auto real = room->second.real_jids.find(from->resource);
    if (real == room->second.real_jids.end() || real->second.empty()) return std::nullopt;
    if (real->second == own_bare) return std::nullopt;
    command.from = real->second;
    command.channel = room->first;
    return IncomingCommand{std::move(command), std::nullopt};
  }
  // A private message through a room would carry the room's address, not a person's.
  if (rooms.contains(from->bare())) return std::nullopt;
  if (from->local.empty() || from->bare() == own_bare) return std::nullopt;
  command.from = from->bare();
  return IncomingCommand{std::move(command), sent_at};
}

bool DiscoInfo::has_feature(const std::string& f) const {
  return std::find(features.begin(), features.end(), f) != features.end();
}

DiscoInfo parse_disco_info(xmpp_stanza_t* iq) {
  DiscoInfo info;
  xmpp_stanza_t* query = xmpp_stanza_get_child_by_name_and_ns(iq, "query", kNsDiscoInfo);
  if (!query) return info;
  for (xmpp_stanza_t* c = xmpp_stanza_get_children(query); c; c = xmpp_stanza_get_next(c)) {
    if (is(c, "identity")) {
      info.identities.emplace_back(attribute(c, "category"), attribute(c, "type"));
    } else if (is(c, "feature")) {
      info.features.push_back(attribute(c, "var"));
    } else if (is(c, "x")) {
      bool upload_form = false;
      std::string max;
      for (xmpp_stanza_t* f = xmpp_stanza_get_children(c); f; f = xmpp_stanza_get_next(f)) {
        if (!is(f, "field")) continue;
        const auto var = attribute(f, "var");
        const auto value = trim(child_text(f, "value"));
        if (var == "FORM_TYPE" && value == kNsUpload) upload_form = true;
        if (var == "max-file-size") max = value;
      }
      std::size_t n = 0;
      if (upload_form && !max.empty() &&
          std::from_chars(max.data(), max.data() + max.size(), n).ec == std::errc()) {
        info.max_file_size = n;
      }
    }
  }
  return info;
}

std::vector<std::string> parse_disco_items(xmpp_stanza_t* iq) {
  std::vector<std::string> items;
  xmpp_stanza_t* query = xmpp_stanza_get_child_by_name_and_ns(iq, "query", kNsDiscoItems);
  if (!query) return items;
  for (xmpp_stanza_t* c = xmpp_stanza_get_children(query); c; c = xmpp_stanza_get_next(c)) {
    if (is(c, "item")) {
      auto jid = attribute(c, "jid");
      if (!jid.empty()) items.push_back(std::move(jid));
    }
  }
  return items;
}

std::optional<std::string> offline_node(xmpp_stanza_t* message) {
  xmpp_stanza_t* offline = xmpp_stanza_get_child_by_name_and_ns(message, "offline", kNsOffline);
  xmpp_stanza_t* item = offline ? xmpp_stanza_get_child_by_name(offline, "item") : nullptr;
  auto node = attribute(item, "node");
  if (node.empty()) return std::nullopt;
  return node;
}

StanzaPtr offline_fetch(xmpp_ctx_t* ctx) {
  auto offline = element(ctx, "offline", kNsOffline);
  append(offline.get(), element(ctx, "fetch"));
  return offline;
}

StanzaPtr offline_remove(xmpp_ctx_t* ctx, const std::vector<std::string>& nodes) {
  auto offline = element(ctx, "offline", kNsOffline);
  for (const auto& node : nodes) {
    auto item = element(ctx, "item");
    xmpp_stanza_set_attribute(item.get(), "action", "remove");
    xmpp_stanza_set_attribute(item.get(), "node", node.c_str());
    append(offline.get(), std::move(item));
  }
  return offline;
}

std::optional<UploadSlot> parse_upload_slot(xmpp_stanza_t* iq) {
  xmpp_stanza_t* slot = xmpp_stanza_get_child_by_name_and_ns(iq, "slot", kNsUpload);
  if (!slot) return std::nullopt;
  xmpp_stanza_t* put = xmpp_stanza_get_child_by_name(slot, "put");
  xmpp_stanza_t* get = xmpp_stanza_get_child_by_name(slot, "get");
  if (!put || !get) return std::nullopt;
  UploadSlot out;
  out.put_url = attribute(put, "url");
  out.get_url = attribute(get, "url");
  if (out.put_url.rfind("https://", 0) != 0 || out.get_url.rfind("https://", 0) != 0) {
    return std::nullopt;  // XEP-0363: both MUST be https
  }
  for (xmpp_stanza_t* h = xmpp_stanza_get_children(put); h; h = xmpp_stanza_get_next(h)) {
    if (!is(h, "header")) continue;
    const auto name = attribute(h, "name");
    // XEP-0363 allows only these; anything else is dropped (and newlines never reach curl).
    if (name != "Authorization" && name != "Cookie" && name != "Expires") continue;
    auto value = take_string(xmpp_stanza_get_context(h), xmpp_stanza_get_text(h));
    std::erase_if(value, [](char c) { return c == '\r' || c == '\n'; });
    out.headers.emplace_back(name, std::move(value));
  }
  return out;
}

std::map<std::string, std::string> parse_roster(xmpp_stanza_t* iq) {
  std::map<std::string, std::string> items;
  xmpp_stanza_t* query = xmpp_stanza_get_child_by_name_and_ns(iq, "query", kNsRoster);
  if (!query) return items;
  for (xmpp_stanza_t* c = xmpp_stanza_get_children(query); c; c = xmpp_stanza_get_next(c)) {
    if (!is(c, "item")) continue;
    auto bare = bare_of(attribute(c, "jid"));
    if (bare.empty()) continue;
    auto sub = attribute(c, "subscription");
    items[bare] = sub.empty() ? "none" : sub;
  }
  return items;
}

std::string error_condition(xmpp_stanza_t* stanza) {
  xmpp_stanza_t* error = xmpp_stanza_get_child_by_name(stanza, "error");
  if (!error) return {};
  for (xmpp_stanza_t* c = xmpp_stanza_get_children(error); c; c = xmpp_stanza_get_next(c)) {
    const char* name = xmpp_stanza_get_name(c);
    if (name && xmpp_stanza_is_tag(c) && std::strcmp(name, "text") != 0) return name;
  }
  return "undefined-condition";
}

}  // namespace atdesk::chat::xmpp
