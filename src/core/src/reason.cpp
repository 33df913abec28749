// localize_reason(): the stored English reason read back against the reason_ templates of the
// English catalogue (each placeholder typed: free words, a nested reason, a list of them, or a
// word of the catalogue) and rendered again from the same keys in another language.
#include "atdesk/core/reason.hpp"

#include <algorithm>
#include <optional>
#include <vector>

#include "atdesk/core/messages.hpp"

namespace atdesk {
namespace {

using enum MessageKey;

enum class SlotKind {
  words,     // kept as written (a sender, an address, a peer's own error text)
  optional,  // empty, or one of `keys` (" (table 'x')")
  one,       // one of `keys`, else words
  list,      // one or more of `keys` joined by `separator`
  word,      // exactly the English text of one of `keys` (a presence value, a policy)
};

struct Slot {
  std::string_view name;
  SlotKind kind = SlotKind::words;
  std::vector<MessageKey> keys = {};
  MessageKey separator = reason_separator;
};

struct Shape {
  MessageKey key;
  std::vector<Slot> slots;
};

const std::vector<MessageKey> kPresenceWords = {
    reason_presence_available, reason_presence_busy,          reason_presence_do_not_disturb,
    reason_presence_away,      reason_presence_be_right_back, reason_presence_offline,
    reason_presence_unknown,   reason_presence_office,        reason_presence_remote,
    reason_presence_time_off};

// What decide() (core/decide.cpp), the engine (job_flow.cpp, printing.cpp) write, outermost
// first. A key not listed here has no placeholders or is only a part of another.
const std::vector<Shape>& shapes() {
  static const std::vector<Shape> kShapes = [] {
    const std::vector<MessageKey> parts = {reason_unavailable, reason_no_members, reason_nobody_can,
                                           reason_member_in_channel, reason_member};
    const Slot table{"table", SlotKind::optional, {reason_table}};
    return std::vector<Shape>{
        {reason_stored, {}},
        {reason_unknown_sender_print, {{"sender"}}},
        {reason_unknown_sender_held, {{"sender"}}},
        {reason_paused, {{"names"}}},
        {reason_owner_unknown, {{"why"}}},
        {reason_retry, {{"why"}, {"attempt"}}},
        {reason_aborted, {{"why"}, {"failures"}, {"limit"}}},
        {reason_gave_up, {{"why"}, {"failures"}, {"limit"}}},
        {reason_unprintable, {{"why"}}},
        {reason_lost, {{"why"}}},
        {reason_print, {{"why", SlotKind::one, parts}, table}},
        {reason_held, {{"why", SlotKind::list, parts, reason_separator}, table}},
        {reason_held_plain, {{"why"}}},
        {reason_received, {{"pages"}, {"sender"}}},
        {reason_printing_on, {{"printer"}}},
        {reason_printed_on, {{"printer"}}},
        {reason_released_in_chat, {{"who"}}},
        {reason_released_by, {{"actor"}}},
        {reason_deleted_by, {{"actor"}}},
        {reason_expired, {}},
        {reason_resuming, {}},
        {reason_table, {{"table"}}},
        {reason_channel, {{"channel"}}},
        {reason_unavailable,
         {{"who", SlotKind::one, {reason_channel}},
          {"error", SlotKind::one, {reason_no_presence, reason_no_error}},
          {"policy", SlotKind::word, {reason_policy_print, reason_policy_hold}}}},
        {reason_no_members, {{"channel"}}},
        {reason_nobody_can,
         {{"channel"}, {"states", SlotKind::list, {reason_member}, reason_list_separator}}},
        {reason_member,
         {{"address"},
          {"availability", SlotKind::word, kPresenceWords},
          {"location", SlotKind::word, kPresenceWords}}},
        {reason_member_in_channel, {{"member", SlotKind::one, {reason_member}}, {"channel"}}},
    };
  }();
  return kShapes;
}

const Shape* shape_of(MessageKey key) {
  for (const auto& s : shapes()) {
    if (s.key == key) return &s;
  }
  return nullptr;
}

// A template cut into its literal texts and placeholders: "held: {why}{table}" ->
// "held: ", {why}, "", {table}, "".
struct Cut {
  std::vector<std::string_view> literals;  // one more than names
  std::vector<std::string_view> names;
};

Cut cut(std::string_view text) {
  Cut c;
  std::size_t from = 0;
  for (;;) {
    const auto open = text.find('{', from);
    const auto close = open == std::string_view::npos ? open : text.find('}', open);
    if (close == std::string_view::npos) {
      c.literals.push_back(text.substr(from));
      return c;
    }
    c.literals.push_back(text.substr(from, open - from));
    c.names.push_back(text.substr(open + 1, close - open - 1));
    from = close + 1;
  }
}

// The cut of every template, made once: reading a job list reads hundreds of reasons.
const Cut& cut_of(Language language, MessageKey key) {
  static const auto kCuts = [] {
    std::vector<std::vector<Cut>> cuts;
    for (const Language l : kLanguages) {
      auto& of = cuts.emplace_back();
      for (const MessageKey k : all_message_keys()) of.push_back(cut(message_template(l, k)));
    }
    return cuts;
  }();
  return kCuts[static_cast<std::size_t>(language)][static_cast<std::size_t>(key)];
}

// Whether a value of `slot` may begin at `rest`: an optional part is empty or begins with the
// first words of one of its templates. Used where a placeholder follows another directly
// ("{why}{table}"), so the first is not read at every length.
bool may_start(std::string_view rest, const Slot& slot) {
  if (slot.kind != SlotKind::optional || rest.empty()) return true;
  for (const MessageKey k : slot.keys) {
    const auto first = cut_of(Language::en, k).literals.front();
    if (first.empty() || rest.starts_with(first)) return true;
  }
  return false;
}

// What was read: a key and, per placeholder, the words or the parts it holds.
struct Node {
  MessageKey key = reason_stored;
  struct Value {
    std::string words;        // SlotKind::words, and `one` when no key matched
    std::vector<Node> parts;  // one node for optional/one/word, several for list
  };
  std::vector<std::pair<std::string_view, Value>> values;
};

std::optional<Node> read(std::string_view text, MessageKey key);

std::optional<Node::Value> read_slot(std::string_view text, const Slot& slot) {
  Node::Value v;
  const auto any_of = [&](std::string_view piece) -> std::optional<Node> {
    for (const MessageKey k : slot.keys) {
      if (auto n = read(piece, k)) return n;
    }
    return std::nullopt;
  };
  switch (slot.kind) {
    case SlotKind::words:
      if (text.empty()) return std::nullopt;
      v.words = std::string(text);
      return v;
    case SlotKind::optional:
      if (text.empty()) return v;
      if (auto n = any_of(text)) {
        v.parts.push_back(std::move(*n));
        return v;
      }
      return std::nullopt;
    case SlotKind::one:
      if (text.empty()) return std::nullopt;
      if (auto n = any_of(text)) {
        v.parts.push_back(std::move(*n));
      } else {
        v.words = std::string(text);
      }
      return v;
    case SlotKind::word:
      for (const MessageKey k : slot.keys) {
        if (text == message_template(Language::en, k)) {
          v.parts.push_back(Node{k, {}});
          return v;
        }
      }
      return std::nullopt;
    case SlotKind::list: {
      // Each piece between separators is a part; a separator may also occur inside a part
      // ("alice is busy, office, bob is away, remote"), so the cut that reads is searched.
      const std::string_view sep = message_template(Language::en, slot.separator);
      std::vector<Node> parts;
      const auto rest = [&](auto&& self, std::string_view left) -> bool {
        for (std::size_t end = left.find(sep);; end = left.find(sep, end + 1)) {
          const std::string_view piece = end == std::string_view::npos ? left : left.substr(0, end);
          if (auto n = any_of(piece)) {
            parts.push_back(std::move(*n));
            if (end == std::string_view::npos || self(self, left.substr(end + sep.size()))) {
              return true;
            }
            parts.pop_back();
          }
          if (end == std::string_view::npos) return false;
        }
      };
      if (text.empty() || !rest(rest, text)) return std::nullopt;
      v.parts = std::move(parts);
      return v;
    }
  }
  return std::nullopt;
}

std::optional<Node> read(std::string_view text, MessageKey key) {
  const Shape* shape = shape_of(key);
  const Cut& c = cut_of(Language::en, key);
  if (!text.starts_with(c.literals.front()) || !text.ends_with(c.literals.back())) {
    return std::nullopt;
  }
  if (c.names.empty()) {
    if (text != c.literals.front()) return std::nullopt;
    return Node{key, {}};
  }
  if (!shape) return std::nullopt;
  Node node{key, {}};
  // Placeholder i starts at `from`; try each end where the next literal follows.
  const auto match = [&](auto&& self, std::size_t i, std::size_t from) -> bool {
    if (i == c.names.size()) return from == text.size();
    const auto slot = std::find_if(shape->slots.begin(), shape->slots.end(),
                                   [&](const Slot& s) { return s.name == c.names[i]; });
    if (slot == shape->slots.end()) return false;
    const std::string_view next = c.literals[i + 1];
    const bool last = i + 1 == c.names.size();
    const Slot* following = nullptr;
    if (!last && next.empty()) {
      const auto f = std::find_if(shape->slots.begin(), shape->slots.end(),
                                  [&](const Slot& s) { return s.name == c.names[i + 1]; });
      if (f != shape->slots.end()) following = &*f;
    }
    // The last placeholder ends where the template's last words begin (checked above); any
    // other where its following words occur.
    const std::size_t first_end = last ? text.size() - next.size() : text.find(next, from);
    for (std::size_t end = first_end; end != std::string_view::npos && end >= from;
         end = last ? std::string_view::npos : text.find(next, end + 1)) {
      if (following && !may_start(text.substr(end), *following)) continue;
      auto value = read_slot(text.substr(from, end - from), *slot);
      if (!value) continue;
      node.values.emplace_back(c.names[i], std::move(*value));
      if (self(self, i + 1, end + next.size())) return true;
      node.values.pop_back();
    }
    return false;
  };
  if (!match(match, 0, c.literals.front().size())) return std::nullopt;
  return node;
}

std::string render(const Node& node, Language language) {
  const Shape* shape = shape_of(node.key);
  std::string out;
  const Cut& c = cut_of(language, node.key);
  for (std::size_t i = 0; i < c.names.size(); ++i) {
    out += c.literals[i];
    const auto it = std::find_if(node.values.begin(), node.values.end(),
                                 [&](const auto& v) { return v.first == c.names[i]; });
    if (it == node.values.end()) continue;
    const auto& value = it->second;
    if (value.parts.empty()) {
      out += value.words;
      continue;
    }
    MessageKey separator = reason_separator;
    if (shape) {
      for (const auto& s : shape->slots) {
        if (s.name == c.names[i]) separator = s.separator;
      }
    }
    for (std::size_t p = 0; p < value.parts.size(); ++p) {
      if (p) out += message_template(language, separator);
      out += render(value.parts[p], language);
    }
  }
  out += c.literals.back();
  return out;
}

}  // namespace

std::string presence_word(Language language, Availability availability) {
  static constexpr MessageKey kKeys[] = {reason_presence_available,      reason_presence_busy,
                                         reason_presence_do_not_disturb, reason_presence_away,
                                         reason_presence_be_right_back,  reason_presence_offline,
                                         reason_presence_unknown};
  return std::string(message_template(language, kKeys[static_cast<int>(availability)]));
}

std::string presence_word(Language language, WorkLocation location) {
  static constexpr MessageKey kKeys[] = {reason_presence_office, reason_presence_remote,
                                         reason_presence_time_off, reason_presence_unknown};
  return std::string(message_template(language, kKeys[static_cast<int>(location)]));
}

std::string localize_reason(std::string_view stored, Language language) {
  if (language == Language::en) return std::string(stored);
  for (const auto& shape : shapes()) {
    if (auto node = read(stored, shape.key)) return render(*node, language);
  }
  return std::string(stored);
}

}  // namespace atdesk
