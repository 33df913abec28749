// Every command of the CLI with --lang ja (LANG=ja_JP.UTF-8 chooses the same): table headers,
// field names, confirmations and errors in Japanese, with the values people read (states,
// presence, actions, decision reasons) in Japanese too. atdeskd's answers follow docs/api.md.
#include <gtest/gtest.h>

#include "cli_test_support.hpp"

namespace atdesk::cli {
namespace {

using testing::FakeTransport;
using testing::kSampleJob;
using testing::Ran;
using testing::run_words;
using testing::TempDir;

// Runs `atdesk --lang ja <words>` against one answer; expects success.
std::string ja(std::vector<std::string> words, const std::string& answer = "{}",
               long status = 200) {
  FakeTransport t;
  t.answer(status, answer);
  words.insert(words.begin(), {"--lang", "ja"});
  Ran ran = run_words(words, t);
  EXPECT_EQ(ran.code, 0) << ran.err;
  return ran.out;
}

// Runs it and returns what went to stderr (a failure).
std::string ja_error(std::vector<std::string> words, FakeTransport& t) {
  words.insert(words.begin(), {"--lang", "ja"});
  Ran ran = run_words(words, t);
  EXPECT_NE(ran.code, 0);
  return ran.err;
}

bool has(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

const std::string kHeldJob = [] {
  auto job = nlohmann::json::parse(kSampleJob);
  job["reason"] = "held: alice is busy, remote (table 'weekday')";
  return job.dump();
}();

TEST(Japanese, JobCommands) {
  const std::string list = ja({"jobs"}, R"({"jobs":[)" + kHeldJob + "]}");
  EXPECT_TRUE(has(list, "受信日時")) << list;
  EXPECT_TRUE(has(list, "保留中")) << list;
  EXPECT_TRUE(has(list, "保留: alice は取り込み中・リモート（モード表「weekday」）")) << list;

  FakeTransport t;
  t.answer(200, kHeldJob);
  t.answer(200, R"j({"history":[{"at":"2026-11-24T09:30:00Z","from":"stored","to":"held",
      "actor":"engine","reason":"held: alice is busy, remote (table 'weekday')"}]})j");
  Ran shown = run_words({"--lang", "ja", "show", "7"}, t);
  ASSERT_EQ(shown.code, 0) << shown.err;
  for (const char* word : {"状態:", "理由:", "送信者:", "受信日時:", "モード表:", "印刷の試行回数:",
                           "履歴:", "変更前", "実行者", "保存済み", "保留: alice は取り込み中"}) {
    EXPECT_TRUE(has(shown.out, word)) << word << "\n" << shown.out;
  }
  EXPECT_TRUE(has(ja({"history", "7"}, R"({"history":[{"at":"x","from":"held","to":"printed",
      "actor":"user:admin","reason":"released"}]})"),
                  "印刷済み"));
  EXPECT_TRUE(has(ja({"release", "7"}, kSampleJob), "受信経路:"));
  EXPECT_TRUE(has(ja({"delete", "7"}, kSampleJob), "受信経路:"));
  TempDir dir;
  const auto out = (dir.path() / "p.png").string();
  EXPECT_TRUE(has(ja({"preview", "7", "-o", out}, "PNG"), "に書き込みました（3 バイト）"));
  EXPECT_TRUE(has(ja({"document", "7", "-o", out}, "PDF"), "に書き込みました"));
  const auto doc = dir.write("a.pdf", "%PDF-1.4\n");
  EXPECT_TRUE(has(ja({"submit", doc.string(), "--sender", "0312345678"}, kSampleJob), "文書:"));
}

TEST(Japanese, RecipientsAndRoute) {
  const std::string rules =
      R"({"rules":[{"id":1,"pattern":"prefix:03","recipient":"user:local:tanaka","printer":"",
          "note":"","language":"ja"}]})";
  EXPECT_TRUE(has(ja({"recipients", "list"}, rules), "パターン"));
  EXPECT_TRUE(has(ja({"recipients", "add", "prefix:03", "user:local:tanaka"},
                     R"({"id":1,"pattern":"prefix:03","recipient":"user:local:tanaka"})"),
                  "受信者"));
  EXPECT_EQ(ja({"recipients", "remove", "1"}, "", 204), "ルール 1 を削除しました\n");
  TempDir dir;
  EXPECT_TRUE(
      has(ja({"recipients", "import", dir.write("r.json", rules).string()}, rules), "パターン"));
  EXPECT_EQ(ja({"route", "--sender", "0312345678"}, R"({"recipients":[]})"), "（受信者なし）\n");
}

TEST(Japanese, ModesScheduleAndPresence) {
  const std::string modes = R"({"active":"weekday","tables":[{"name":"weekday","active":true,
      "cells":{"busy":{"office":"print"}}}]})";
  const std::string list = ja({"modes", "list"}, modes);
  EXPECT_TRUE(has(list, "印刷のセル") && has(list, "はい")) << list;
  const std::string grid = ja({"modes", "show", "weekday"}, modes);
  EXPECT_TRUE(has(grid, "モード表: weekday（有効）")) << grid;
  EXPECT_TRUE(has(grid, "在席状況") && has(grid, "取り込み中") && has(grid, "印刷") &&
              has(grid, "保留") && has(grid, "リモート"))
      << grid;
  FakeTransport t;
  t.answer(200, R"({"active":"weekday","tables":[]})");
  EXPECT_TRUE(has(ja_error({"modes", "set", "night", "busy", "office", "print"}, t),
                  "モード表 night はありません（作成するには --create を付けてください）"));
  FakeTransport t2;
  t2.answer(200, modes);
  EXPECT_TRUE(has(ja_error({"modes", "show", "night"}, t2), "モード表 night はありません"));
  EXPECT_EQ(ja({"modes", "delete", "night"}, "", 204), "モード表 night を削除しました\n");

  const std::string schedule = R"({"time_zone":"Asia/Tokyo","default_table":"weekday",
      "holiday_table":"","holidays":[],"rules":[{"table":"weekday","days":["mon"],
      "start":"08:00","end":"18:00"}]})";
  const std::string shown = ja({"schedule", "show"}, schedule);
  EXPECT_TRUE(has(shown, "タイムゾーン:") && has(shown, "曜日") && has(shown, "開始")) << shown;
  TempDir dir;
  EXPECT_TRUE(
      has(ja({"schedule", "set", dir.write("s.json", schedule).string()}, schedule), "既定の表:"));
  FakeTransport none;
  // A usage error (CLI11's detail names the option) with the Japanese words around it.
  const std::string missing =
      ja_error({"schedule", "set", (dir.path() / "missing.json").string()}, none);
  EXPECT_TRUE(has(missing, "atdesk: コマンドラインを受け付けられません: ")) << missing;
  EXPECT_TRUE(has(missing, "missing.json")) << missing;
  EXPECT_TRUE(has(missing, "使い方は --help で表示します。")) << missing;
  EXPECT_TRUE(none.requests.empty());
  EXPECT_TRUE(has(ja_error({"schedule", "set", dir.write("bad.json", "{").string()}, none),
                  "正しい JSON ではありません"));

  const std::string presence = ja({"presence", "list"}, R"({"recipients":[{"recipient":
      "user:local:alice","presence":{"availability":"busy","location":"office"},"action":"hold",
      "held_jobs":1,"error":""}]})");
  EXPECT_TRUE(has(presence, "在席状況") && has(presence, "取り込み中, オフィス") &&
              has(presence, "保留"))
      << presence;
  const std::string set = ja({"presence", "set", "alice", "busy", "office"},
                             R"({"availability":"busy","location":"office","status_text":""})");
  EXPECT_TRUE(has(set, "勤務場所:") && has(set, "取り込み中")) << set;
  EXPECT_EQ(ja({"channel", "members", "desk", "alice", "bob"}), "チャンネル desk: メンバー 2 人\n");
}

TEST(Japanese, MessagesCommandTokensPrintersAudit) {
  EXPECT_TRUE(has(ja({"messages", "--to", "user:local:alice"},
                     R"({"messages":[{"seq":1,"at":"x","to":"user:local:alice","job_id":"7",
                         "has_preview":true,"text":"hi"}]})"),
                  "宛先"));
  EXPECT_EQ(ja({"command", "--from", "alice", "一覧"}, "", 202), "受け付けました\n");
  EXPECT_EQ(ja({"ipp-token", "list"}, R"({"tokens":[]})"), "トークンはありません\n");
  EXPECT_TRUE(has(ja({"ipp-token", "add", "alice"}, R"({"id":"t1","user":"alice","path":"/q/x"})"),
                  "キューのパス（表示は今回だけです）: /q/x"));
  EXPECT_EQ(ja({"ipp-token", "revoke", "t1"}, "", 204), "トークン t1 を無効にしました\n");
  const std::string printers = ja({"printers"}, R"({"printers":[{"name":"office","uri":"ipp://x",
      "state":"idle","state_reasons":[],"message":"","default":true}]})");
  EXPECT_TRUE(has(printers, "既定") && has(printers, "待機中") && has(printers, "はい"))
      << printers;
  EXPECT_TRUE(has(ja({"audit"}, R"({"entries":[]})"), "実行者"));
}

TEST(Japanese, ErrorsFromAtdeskdAndTheNetwork) {
  FakeTransport t;
  t.answer(409, R"({"error":{"code":"conflict","message":"job 7 is not held"}})");
  const std::string refused = ja_error({"release", "7"}, t);
  EXPECT_TRUE(has(refused, "atdeskd がエラーを返しました: job 7 is not held（HTTP 409, conflict）"))
      << refused;
  FakeTransport down;
  down.fail_with(Errc::unavailable, "Connection refused");
  EXPECT_TRUE(has(ja_error({"jobs"}, down), "の atdeskd に接続できません: Connection refused"));
  FakeTransport garbage;
  garbage.answer(200, "<html>");
  EXPECT_TRUE(has(ja_error({"jobs"}, garbage), "の本文が JSON ではありません"));
  // The environment chooses Japanese as --lang does.
  Environment env = testing::token_env();
  env.language = "ja_JP.UTF-8";
  FakeTransport t2;
  t2.answer(200, R"({"entries":[]})");
  EXPECT_TRUE(has(run_words({"audit"}, t2, env).out, "実行者"));
}

}  // namespace
}  // namespace atdesk::cli
