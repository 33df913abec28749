// The message catalogues (data/messages/*.json, embedded at build time): every key rendered in
// every language, dates and pages per language, language tags and Accept-Language.
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <set>

#include "atdesk/core/messages.hpp"

namespace atdesk {
namespace {

std::set<std::string> placeholders(std::string_view text) {
  static const std::regex kPlaceholder("\\{([a-z_]+)\\}");
  std::set<std::string> out;
  const std::string s(text);
  for (auto it = std::sregex_iterator(s.begin(), s.end(), kPlaceholder);
       it != std::sregex_iterator(); ++it) {
    out.insert((*it)[1]);
  }
  return out;
}

TEST(Messages, EveryKeyRendersInEveryLanguageWithTheSamePlaceholders) {
  ASSERT_GT(all_message_keys().size(), 30u);
  for (const MessageKey key : all_message_keys()) {
    const auto name = std::string(message_name(key));
    const auto expected = placeholders(message_template(Language::en, key));
    for (const Language language : kLanguages) {
      const auto text = message_template(language, key);
      EXPECT_FALSE(text.empty()) << name << " in " << to_string(language);
      EXPECT_EQ(placeholders(text), expected) << name << " in " << to_string(language);
      // Rendered with a value for each placeholder, nothing of the template's syntax is left.
      const std::vector<std::string> names(expected.begin(), expected.end());
      std::string rendered(text);
      for (const auto& p : names) {
        // message() takes a fixed list; render one placeholder at a time through it.
        rendered = std::regex_replace(rendered, std::regex("\\{" + p + "\\}"), "<" + p + ">");
      }
      EXPECT_EQ(rendered.find('{'), std::string::npos) << name << " in " << to_string(language);
    }
  }
}

TEST(Messages, JapaneseIsJapanese) {
  // Each Japanese text that is prose (not a format) has characters beyond ASCII.
  for (const MessageKey key : all_message_keys()) {
    const auto en = message_template(Language::en, key);
    const auto ja = message_template(Language::ja, key);
    // Formats and the columns "ID" and "URI" are the same in both.
    if (key == MessageKey::cli_col_id || key == MessageKey::cli_field_id ||
        key == MessageKey::cli_col_uri || placeholders(en).size() * 3 >= en.size()) {
      continue;
    }
    EXPECT_NE(en, ja) << message_name(key);
    EXPECT_TRUE(std::any_of(ja.begin(), ja.end(), [](char c) { return (c & 0x80) != 0; }))
        << message_name(key) << ": " << ja;
  }
}

TEST(Messages, PlaceholdersAreReplacedOnceAndValuesAreNotScanned) {
  EXPECT_EQ(
      message(Language::en, MessageKey::reply_printing, {{"id", "3fa2c9d1"}, {"printer", "{id}"}}),
      "Printing job 3fa2c9d1 on {id}.");
  EXPECT_EQ(
      message(Language::ja, MessageKey::reply_printing, {{"id", "3fa2c9d1"}, {"printer", "lobby"}}),
      "ジョブ 3fa2c9d1 をプリンター lobby で印刷します。");
  // A placeholder without a value stays visible rather than vanishing.
  EXPECT_EQ(message(Language::en, MessageKey::reply_deleted), "Deleted job {id}.");
}

TEST(Messages, DatesPagesPerLanguage) {
  EXPECT_EQ(date_time_text(Language::en, 2026, 11, 30, 9, 38), "2026-11-30 09:38");
  EXPECT_EQ(date_time_text(Language::ja, 2026, 11, 30, 9, 38), "2026年11月30日 09:38");
  EXPECT_EQ(date_time_text(Language::ja, 2027, 1, 5, 23, 0), "2027年01月05日 23:00");
  EXPECT_EQ(pages_text(Language::en, 1), "1 page");
  EXPECT_EQ(pages_text(Language::en, 3), "3 pages");
  EXPECT_EQ(pages_text(Language::ja, 3), "3ページ");
}

TEST(Messages, LanguageTags) {
  EXPECT_EQ(parse_language("ja"), Language::ja);
  EXPECT_EQ(parse_language("ja-JP"), Language::ja);
  EXPECT_EQ(parse_language("ja_JP.UTF-8"), Language::ja);
  EXPECT_EQ(parse_language("EN-us"), Language::en);
  EXPECT_EQ(parse_language("en_GB@euro"), Language::en);
  EXPECT_EQ(parse_language("C.UTF-8"), std::nullopt);
  EXPECT_EQ(parse_language("POSIX"), std::nullopt);
  EXPECT_EQ(parse_language("de-DE"), std::nullopt);
  EXPECT_EQ(parse_language(""), std::nullopt);
  EXPECT_EQ(parse_language("jap"), std::nullopt);
  EXPECT_EQ(to_string(Language::ja), "ja");
  EXPECT_EQ(to_string(Language::en), "en");
}

TEST(Messages, AcceptLanguagePicksTheHighestWeightAtdeskSpeaks) {
  EXPECT_EQ(pick_language("ja-JP,ja;q=0.9,en-US;q=0.8,en;q=0.7"), Language::ja);
  EXPECT_EQ(pick_language("en-US,en;q=0.9,ja;q=0.8"), Language::en);
  EXPECT_EQ(pick_language("de-DE,de;q=0.9,ja;q=0.5,en;q=0.4"), Language::ja);
  EXPECT_EQ(pick_language("en;q=0.2, ja;q=0.7"), Language::ja);
  EXPECT_EQ(pick_language("ja;q=0, en"), Language::en);  // q=0: not acceptable
  EXPECT_EQ(pick_language("fr, de"), std::nullopt);
  EXPECT_EQ(pick_language(""), std::nullopt);
  EXPECT_EQ(pick_language(",,;;q=,"), std::nullopt);
}

}  // namespace
}  // namespace atdesk
