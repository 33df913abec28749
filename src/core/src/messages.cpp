#include "atdesk/core/messages.hpp"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "text.hpp"

namespace atdesk {
namespace catalogue {
// Generated from data/messages/*.json (data/messages/catalogue.cmake).
extern const std::string_view kNames[kMessageKeyCount];
extern const std::string_view kTexts[kLanguages.size()][kMessageKeyCount];
}  // namespace catalogue

namespace {

const std::array<MessageKey, kMessageKeyCount> kAllKeys = [] {
  std::array<MessageKey, kMessageKeyCount> keys{};
  for (std::size_t i = 0; i < keys.size(); ++i) keys[i] = static_cast<MessageKey>(i);
  return keys;
}();

std::string two_digits(long n) {
  char buffer[24];
  std::snprintf(buffer, sizeof buffer, "%02ld", n);
  return buffer;
}

}  // namespace

std::string_view to_string(Language language) {
  switch (language) {
    case Language::en:
      return "en";
    case Language::ja:
      return "ja";
  }
  return "en";
}

std::optional<Language> parse_language(std::string_view tag) {
  tag = text::trim(tag);
  const auto end = tag.find_first_of("-_.@");
  const std::string primary = text::lower(tag.substr(0, end));
  if (primary == "en") return Language::en;
  if (primary == "ja") return Language::ja;
  return std::nullopt;
}

std::optional<Language> pick_language(std::string_view accept_language) {
  // "ja-JP,ja;q=0.9,en;q=0.8": the highest weight wins, the earlier one among equals.
  std::optional<Language> best;
  double best_weight = 0;
  while (!accept_language.empty()) {
    const auto comma = accept_language.find(',');
    std::string_view item = accept_language.substr(0, comma);
    accept_language.remove_prefix(comma == std::string_view::npos ? accept_language.size()
                                                                  : comma + 1);
    const auto semicolon = item.find(';');
    const auto tag = text::trim(item.substr(0, semicolon));
    double weight = 1;
    if (semicolon != std::string_view::npos) {
      auto params = text::trim(item.substr(semicolon + 1));
      if (params.size() >= 2 && (params[0] == 'q' || params[0] == 'Q') && params[1] == '=') {
        // qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
        const std::string q(text::trim(params.substr(2)).substr(0, 5));
        weight = 0;
        if (!q.empty() && (q[0] == '0' || q[0] == '1')) {
          weight = q[0] - '0';
          double scale = 0.1;
          for (std::size_t i = 2; i < q.size() && q[1] == '.' && text::is_digit(q[i]); ++i) {
            weight += (q[i] - '0') * scale;
            scale /= 10;
          }
        }
      }
    }
    const auto language = parse_language(tag);
    if (language && weight > best_weight) {
      best = language;
      best_weight = weight;
    }
  }
  return best;
}

std::string_view message_template(Language language, MessageKey key) {
  return catalogue::kTexts[static_cast<std::size_t>(language)][static_cast<std::size_t>(key)];
}

std::string_view message_name(MessageKey key) {
  return catalogue::kNames[static_cast<std::size_t>(key)];
}

std::span<const MessageKey> all_message_keys() {
  return kAllKeys;
}

std::string message(Language language, MessageKey key, std::initializer_list<MessageArg> args) {
  const std::string_view text = message_template(language, key);
  std::string out;
  out.reserve(text.size() + 32);
  std::size_t i = 0;
  while (i < text.size()) {
    const auto open = text.find('{', i);
    if (open == std::string_view::npos) break;
    const auto close = text.find('}', open);
    if (close == std::string_view::npos) break;
    const auto name = text.substr(open + 1, close - open - 1);
    const auto arg =
        std::find_if(args.begin(), args.end(), [&](const MessageArg& a) { return a.name == name; });
    out.append(text.substr(i, open - i));
    if (arg == args.end()) {
      out.append(text.substr(open, close + 1 - open));
    } else {
      out.append(arg->value);
    }
    i = close + 1;
  }
  out.append(text.substr(std::min(i, text.size())));
  return out;
}

std::string pages_text(Language language, int pages) {
  return message(language, pages == 1 ? MessageKey::pages_one : MessageKey::pages_other,
                 {{"count", std::to_string(pages)}});
}

std::string date_time_text(Language language, int year, unsigned month, unsigned day, long hour,
                           long minute) {
  return message(language, MessageKey::datetime,
                 {{"year", std::to_string(year)},
                  {"month", two_digits(month)},
                  {"day", two_digits(day)},
                  {"hour", two_digits(hour)},
                  {"minute", two_digits(minute)}});
}

}  // namespace atdesk
