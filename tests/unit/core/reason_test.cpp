// localize_reason(): the stored English reasons of decide() and of the engine read back and shown
// in Japanese, the same text unchanged in English, and a text no template matches kept as it is.
#include <gtest/gtest.h>

#include "atdesk/core/decide.hpp"
#include "atdesk/core/messages.hpp"
#include "atdesk/core/reason.hpp"

namespace atdesk {
namespace {

Presence presence(Availability a, WorkLocation w) {
  Presence p;
  p.availability = a;
  p.location = w;
  return p;
}

class Reason : public ::testing::Test {
 protected:
  Reason() { job_.sender = parse_sender("03-1234-5678", NumberPlan{"81", "0", "00"}).value(); }

  // decide()'s stored reason for these recipients.
  std::string decided(std::vector<Recipient> recipients) {
    return decide(job_, recipients, presences_, table_, policy_).reason;
  }

  Job job_;
  PresenceMap presences_;
  ModeTable table_ = ModeTable::seed_default("weekday");
  Policy policy_;
  const Recipient alice_{RecipientKind::user, "local", "alice"};
  const Recipient bob_{RecipientKind::user, "local", "bob"};
  const Recipient room_{RecipientKind::channel, "local", "fax-room"};
};

TEST_F(Reason, HeldForSeveralRecipientsInJapanese) {
  presences_[alice_.key()] = {
      true, "", {{"alice", presence(Availability::busy, WorkLocation::remote)}}};
  presences_[bob_.key()] = {false, "", {}};
  const auto stored = decided({alice_, bob_});
  ASSERT_EQ(stored,
            "held: alice is busy, remote; presence of bob is unavailable (the chat service gave "
            "no reason; policy: hold) (table 'weekday')");
  EXPECT_EQ(
      localize_reason(stored, Language::ja),
      "保留: alice は取り込み中・リモート。bobの在席状況を取得できません（チャットサービスから"
      "理由の説明がありません。方針: 保留）（モード表「weekday」）");
  EXPECT_EQ(localize_reason(stored, Language::en), stored);
}

TEST_F(Reason, PrintAndUnknownSenderInJapanese) {
  presences_[alice_.key()] = {
      true, "", {{"alice", presence(Availability::available, WorkLocation::office)}}};
  EXPECT_EQ(localize_reason(decided({alice_}), Language::ja),
            "印刷: alice は連絡可能・オフィス（モード表「weekday」）");
  EXPECT_EQ(localize_reason(decided({}), Language::ja),
            "印刷: 送信者 +81312345678 は受信者表にありません（方針: 印刷）");
  policy_.unknown_sender = Action::hold;
  EXPECT_EQ(localize_reason(decided({}), Language::ja),
            "保留: 送信者 +81312345678 は受信者表にありません（方針: 保留）");
}

TEST_F(Reason, ChannelsInJapanese) {
  // A list inside a list: the members' states are separated by ", " as a presence is
  // ("busy, remote"), and the text is still read back.
  presences_[room_.key()] = {
      true,
      "",
      {{"alice", presence(Availability::busy, WorkLocation::remote)},
       {"carol", presence(Availability::do_not_disturb, WorkLocation::time_off)}}};
  EXPECT_EQ(
      localize_reason(decided({room_}), Language::ja),
      "保留: チャンネル fax-room には受け取れるメンバーがいません（alice は取り込み中・リモート、"
      "carol は応答不可・休暇）（モード表「weekday」）");
  presences_[room_.key()].members.push_back(
      {"bob", presence(Availability::available, WorkLocation::office)});
  EXPECT_EQ(localize_reason(decided({room_}), Language::ja),
            "印刷: bob は連絡可能・オフィス（チャンネル fax-room）（モード表「weekday」）");
  presences_[room_.key()] = {false, "matrix: 502", {}};
  // The chat service's own words stay as it said them.
  EXPECT_EQ(localize_reason(decided({room_}), Language::ja),
            "保留: チャンネル fax-roomの在席状況を取得できません（matrix: 502。方針: 保留）");
  presences_[room_.key()] = {true, "", {}};
  EXPECT_EQ(localize_reason(decided({room_}), Language::ja),
            "保留: チャンネル fax-room にはメンバーがいません");
}

TEST(ReasonText, TheEnginesReasonsInJapanese) {
  // As job_flow.cpp and printing.cpp write them (printing.cpp hold_for_print_problem).
  EXPECT_EQ(localize_reason(message(Language::en, MessageKey::reason_stored), Language::ja),
            "保存済み、判定待ち");
  EXPECT_EQ(
      localize_reason("held: alice, bob asked to hold everything until 'resume'", Language::ja),
      "保留: alice, bob が「再開」まですべて保留するよう求めています");
  EXPECT_EQ(
      localize_reason("held: printer offline; will retry by itself (attempt 3)", Language::ja),
      "保留: printer offline。自動で再試行します（3回目）");
  EXPECT_EQ(
      localize_reason("held: aborted by the printer (2 of 3); will retry by itself", Language::ja),
      "保留: aborted by the printer（3回中2回目）。自動で再試行します");
  EXPECT_EQ(
      localize_reason("held: jammed (3 of 3); not retried any more: release it to try again",
                      Language::ja),
      "保留: jammed（3回中3回目）。これ以上は再試行しません。もう一度試すには解放してください");
  EXPECT_EQ(localize_reason("held: owner unknown: x; it prints only when a person releases it, "
                            "whatever anyone's presence",
                            Language::ja),
            "保留: owner unknown: x。在席状況にかかわらず、人が解放したときだけ印刷します");
}

TEST(ReasonText, TheHistorysReasonsInJapanese) {
  // As job_flow.cpp, printing.cpp, chat_commands.cpp and engine.cpp write them.
  EXPECT_EQ(localize_reason("received 2 page(s) from +81312345678", Language::ja),
            "+81312345678 から 2 ページを受信");
  EXPECT_EQ(localize_reason("printing on demo", Language::ja), "demo で印刷中");
  EXPECT_EQ(localize_reason("printed on demo", Language::ja), "demo で印刷しました");
  EXPECT_EQ(localize_reason("released by alice in chat", Language::ja),
            "alice がチャットで解放しました");
  EXPECT_EQ(localize_reason("released by user:admin", Language::ja), "user:admin が解放しました");
  EXPECT_EQ(localize_reason("deleted by user:admin", Language::ja), "user:admin が削除しました");
  EXPECT_EQ(localize_reason("held longer than the retention period", Language::ja),
            "保存期間を過ぎても保留されていました");
}

TEST(ReasonText, TextsNoTemplateMatchesStayAsTheyAre) {
  for (const std::string_view text :
       {"printer said no", "", "print", "presence of alice is unavailable"}) {
    EXPECT_EQ(localize_reason(text, Language::ja), text);
  }
}

TEST(ReasonText, PresenceWordsInBothLanguages) {
  EXPECT_EQ(presence_word(Language::en, Availability::do_not_disturb), "do not disturb");
  EXPECT_EQ(presence_word(Language::ja, Availability::be_right_back), "一時退席中");
  EXPECT_EQ(presence_word(Language::en, WorkLocation::time_off), "time off");
  EXPECT_EQ(presence_word(Language::ja, WorkLocation::unknown), "不明");
}

}  // namespace
}  // namespace atdesk
