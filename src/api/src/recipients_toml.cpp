// Recipient table <-> TOML. Writing is done by hand (fixed key order, basic strings with every
// control character escaped); reading uses toml11 after a UTF-8 check.
#include "atdesk/api/recipients_toml.hpp"

#include "atdesk/core/text.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <exception>
#include <optional>
#include <sstream>

#include <toml.hpp>

namespace atdesk::api {
namespace {

// A TOML basic string: "..." with \", \\ and control characters escaped.
std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += '"';
  return out;
}

std::string_view type_name(const toml::value& v) {
  switch (v.type()) {
    case toml::value_t::boolean:
      return "a boolean";
    case toml::value_t::integer:
      return "an integer";
    case toml::value_t::floating:
      return "a float";
    case toml::value_t::string:
      return "a string";
    case toml::value_t::offset_datetime:
    case toml::value_t::local_datetime:
    case toml::value_t::local_date:
    case toml::value_t::local_time:
      return "a date or time";
    case toml::value_t::array:
      return "an array";
    case toml::value_t::table:
      return "a table";
    default:
      return "nothing";
  }
}

std::unexpected<Error> bad(const std::string& where, const std::string& what) {
  return fail(Errc::invalid_argument, where + ": " + what);
}

// A string key of one [[rule]] table; nullopt when absent.
Result<std::optional<std::string>> string_key(const toml::table& t, const std::string& where,
                                              const std::string& key, std::size_t max) {
  const auto it = t.find(key);
  if (it == t.end()) return std::optional<std::string>{};
  if (!it->second.is_string()) {
    return bad(where + ": " + key, "expected a string, got " + std::string(type_name(it->second)));
  }
  std::string s = it->second.as_string().str;
  if (s.size() > max) {
    return bad(where + ": " + key, "expected at most " + std::to_string(max) + " bytes");
  }
  return std::optional<std::string>(std::move(s));
}

Result<RecipientRule> rule_from_table(const toml::value& v, const std::string& where,
                                      const NumberPlan& plan) {
  if (!v.is_table()) return bad(where, "expected a table, got " + std::string(type_name(v)));
  const auto& t = v.as_table();
  static constexpr std::array<std::string_view, 5> kKeys = {"pattern", "recipient", "printer",
                                                            "note", "language"};
  // Unknown keys are reported in name order, so the message does not depend on hashing.
  std::vector<std::string> unknown;
  for (const auto& [key, value] : t) {
    if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end()) unknown.push_back(key);
  }
  if (!unknown.empty()) {
    std::sort(unknown.begin(), unknown.end());
    return bad(where + ": " + unknown.front(),
               "unknown key (expected: pattern, recipient, printer, note, language)");
  }

  RecipientRule rule;
  auto pattern = string_key(t, where, "pattern", 512);
  if (!pattern) return fail(pattern.error());
  const std::optional<std::string>& pattern_text = *pattern;
  if (!pattern_text) {
    return bad(where + ": pattern",
               "missing (expected a sender pattern such as \"prefix:03\" or \"others\")");
  }
  auto parsed = SenderPattern::parse(*pattern_text, plan);
  if (!parsed) return bad(where + ": pattern", parsed.error().message);
  rule.pattern = std::move(*parsed);

  auto recipient = string_key(t, where, "recipient", 512);
  if (!recipient) return fail(recipient.error());
  const std::optional<std::string>& recipient_text = *recipient;
  if (!recipient_text) {
    return bad(where + ": recipient",
               "missing (expected a recipient key such as \"user:local:alice\")");
  }
  auto key = Recipient::parse_key(*recipient_text);
  if (!key) return bad(where + ": recipient", key.error().message);
  rule.recipient = std::move(*key);

  auto printer = string_key(t, where, "printer", 64);
  if (!printer) return fail(printer.error());
  rule.printer = printer->value_or("");
  auto note = string_key(t, where, "note", 1000);
  if (!note) return fail(note.error());
  rule.note = note->value_or("");
  auto language = string_key(t, where, "language", 16);
  if (!language) return fail(language.error());
  if (const std::optional<std::string>& tag = *language; tag && !tag->empty()) {
    if (*tag != "en" && *tag != "ja") {
      return bad(where + ": language",
                 "expected \"en\" or \"ja\" (or no key: the default), got " + quote(*tag, 16));
    }
    rule.language = parse_language(*tag);
  }
  return rule;
}

}  // namespace

std::string rules_to_toml(const std::vector<RecipientRule>& rules) {
  std::string out =
      "# atdesk recipient table: one [[rule]] per rule (pattern, recipient, printer, note, "
      "language).\n";
  for (const auto& rule : rules) {
    out += "\n[[rule]]\n";
    out += "pattern = " + toml_string(rule.pattern.to_string()) + "\n";
    out += "recipient = " + toml_string(rule.recipient.key()) + "\n";
    if (!rule.printer.empty()) out += "printer = " + toml_string(rule.printer) + "\n";
    if (!rule.note.empty()) out += "note = " + toml_string(rule.note) + "\n";
    if (rule.language)
      out += "language = " + toml_string(std::string(to_string(*rule.language))) + "\n";
  }
  return out;
}

Result<std::vector<RecipientRule>> rules_from_toml(std::string_view text, const NumberPlan& plan) {
  if (auto ok = check_utf8(text, "TOML"); !ok) return fail(ok.error());
  toml::value root;
  try {
    std::istringstream in{std::string(text)};
    root = toml::parse(in, "recipients.toml");
  } catch (const toml::exception& e) {
    return fail(Errc::invalid_argument, "TOML, line " + std::to_string(e.location().line()) +
                                            ": syntax error\n" + e.what());
  } catch (const std::exception& e) {
    return fail(Errc::invalid_argument, std::string("TOML: ") + e.what());
  }
  std::vector<RecipientRule> out;
  if (!root.is_table()) return out;
  for (const auto& [key, value] : root.as_table()) {
    if (key != "rule") {
      return bad(key, "unknown key (expected only [[rule]] tables)");
    }
  }
  const auto it = root.as_table().find("rule");
  if (it == root.as_table().end()) return out;
  if (!it->second.is_array()) {
    return bad("rule", "expected [[rule]] tables, got " + std::string(type_name(it->second)));
  }
  const auto& list = it->second.as_array();
  out.reserve(list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    auto rule = rule_from_table(list[i], "rule " + std::to_string(i + 1), plan);
    if (!rule) return fail(rule.error());
    out.push_back(std::move(*rule));
  }
  return out;
}

}  // namespace atdesk::api
