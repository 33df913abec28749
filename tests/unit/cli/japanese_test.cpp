// Every command of the CLI with --lang ja (LANG=ja_JP.UTF-8 chooses the same): table headers,
// field names, confirmations and errors in Japanese, with the values people read (states,
// presence, actions, decision reasons) in Japanese too. atdeskd's answers follow docs/api.md.
// The --help of every command and the commands that work without atdeskd (fax send, backup,
// restore, migrate) run the real `atdesk` executable.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>

#include "atdesk/core/messages.hpp"
#include "atdesk/store/spool.hpp"
#include "atdesk/store/sqlite_store.hpp"
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

// Every help page: the top level, each command and subcommand, and the commands that work
// without atdeskd. A command missing here leaves its help texts unseen, which
// HelpCheckFindsEveryEnglishText below reports.
const std::vector<std::vector<std::string>> kHelpPages = {
    {},
    {"submit"},
    {"jobs"},
    {"show"},
    {"history"},
    {"release"},
    {"delete"},
    {"preview"},
    {"document"},
    {"recipients"},
    {"recipients", "list"},
    {"recipients", "add"},
    {"recipients", "remove"},
    {"recipients", "import"},
    {"recipients", "export"},
    {"route"},
    {"ipp-token"},
    {"ipp-token", "list"},
    {"ipp-token", "add"},
    {"ipp-token", "revoke"},
    {"modes"},
    {"modes", "list"},
    {"modes", "show"},
    {"modes", "set"},
    {"modes", "delete"},
    {"schedule"},
    {"schedule", "show"},
    {"schedule", "set"},
    {"presence"},
    {"presence", "list"},
    {"presence", "set"},
    {"channel"},
    {"channel", "members"},
    {"messages"},
    {"command"},
    {"printers"},
    {"audit"},
    {"health"},
    {"fax"},
    {"fax", "send"},
    {"backup"},
    {"restore"},
    {"migrate"},
};

// The --help of every page, one after the other, from `atdesk <lang> <page> --help`.
std::string all_help(const std::vector<std::string>& lang, const std::vector<std::string>& env) {
  TempDir dir;
  std::string all;
  for (const auto& page : kHelpPages) {
    std::vector<std::string> words = lang;
    words.insert(words.end(), page.begin(), page.end());
    words.push_back("--help");
    const auto ran = testing::run_atdesk(words, env, dir);
    EXPECT_EQ(ran.code, 0) << ran.err;
    EXPECT_TRUE(ran.err.empty()) << ran.err;
    all += ran.out;
  }
  return all;
}

bool is_help_text(MessageKey key) {
  const std::string_view name = message_name(key);
  return name.starts_with("cli_help_") && !name.starts_with("cli_help_label_") &&
         !name.starts_with("cli_help_group_");
}

std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto end = std::min(text.find('\n', start), text.size());
    std::string line(text.substr(start, end - start));
    const auto first = line.find_first_not_of(' ');
    if (first != std::string::npos) lines.push_back(line.substr(first));
    start = end + 1;
  }
  return lines;
}

// The keys of the English help texts (data/messages/en.json, cli_help_*) that `help` shows: a
// text is shown when each of its lines stands in `help` as a description does, at the start of a
// line or after the spaces of the left column, up to the end of the line. A line the Japanese
// text has too (a command synopsis in the footer) is not English text and is not looked for.
std::set<std::string> english_texts_in(const std::string& help) {
  const std::string text = "\n" + help;
  std::set<std::string> found;
  for (MessageKey key : all_message_keys()) {
    if (!is_help_text(key)) continue;
    // A text the same in both catalogues is English text in the Japanese help: looked for whole.
    const bool same = message_template(Language::ja, key) == message_template(Language::en, key);
    const auto japanese =
        same ? std::vector<std::string>{} : lines_of(message_template(Language::ja, key));
    bool all_lines = true;
    bool any_line = false;
    for (const auto& line : lines_of(message_template(Language::en, key))) {
      if (std::ranges::find(japanese, line) != japanese.end()) continue;
      any_line = true;
      if (!has(text, "\n" + line + "\n") && !has(text, " " + line + "\n")) all_lines = false;
    }
    if (any_line && all_lines) found.insert(std::string(message_name(key)));
  }
  return found;
}

std::set<std::string> all_help_keys() {
  std::set<std::string> keys;
  for (MessageKey key : all_message_keys()) {
    if (is_help_text(key)) keys.insert(std::string(message_name(key)));
  }
  return keys;
}

// The keys of `expected` that `found` lacks and those it has in excess, for a readable failure.
std::string difference(const std::set<std::string>& found, const std::set<std::string>& expected) {
  std::string out;
  for (const auto& key : expected) {
    if (!found.contains(key)) out += " missing:" + key;
  }
  for (const auto& key : found) {
    if (!expected.contains(key)) out += " found:" + key;
  }
  return out;
}

TEST(JapaneseHelp, EveryHelpTextHasItsOwnJapanese) {
  for (MessageKey key : all_message_keys()) {
    if (!message_name(key).starts_with("cli_help_")) continue;
    EXPECT_NE(message_template(Language::en, key), message_template(Language::ja, key))
        << message_name(key) << ": the same text in en.json and ja.json";
  }
}

// The check of the Japanese help below can fail: on the English help it finds every help text
// of the catalogue, so each one is shown by some page of kHelpPages.
TEST(JapaneseHelp, HelpCheckFindsEveryEnglishText) {
  const std::string english = all_help({}, {});
  EXPECT_EQ(difference(english_texts_in(english), all_help_keys()), "");
  EXPECT_TRUE(has(english, "Usage: atdesk [OPTIONS] SUBCOMMAND")) << english;
  EXPECT_TRUE(has(english, kDefaultTokenFile));  // cli_help_token_file names the default
  EXPECT_EQ(difference(english_texts_in(all_help({"--lang", "en"}, {"LANG=ja_JP.UTF-8"})),
                       all_help_keys()),
            "");
}

void expect_japanese_help(const std::string& help) {
  EXPECT_EQ(difference(english_texts_in(help), {}), "");  // "found:<key>": English in Japanese
  for (const char* label :
       {"使い方: atdesk [オプション] サブコマンド", "\nオプション:\n", "\n位置引数:\n",
        "\nサブコマンド:\n", " 必須", " 文字列", "整数:正の数", "数値:正の数=30", "文字列:ファイル",
        "範囲 [1 - 3000]", "このヘルプを表示して終了します",
        "終了コード:", "atdeskd なしで使うコマンド:"}) {
    EXPECT_TRUE(has(help, label)) << label;
  }
  for (const char* english : {"Usage:", "OPTIONS", "Options:", "Positionals:", "Subcommands:",
                              "SUBCOMMAND", "REQUIRED", "TEXT:", "TEXT=", "TEXT REQUIRED",
                              "INT:", "FLOAT:", "POSITIVE", "Print this help", "Exit codes:"}) {
    EXPECT_FALSE(has(help, english)) << english;
  }
}

TEST(JapaneseHelp, EveryPageWithLang) {
  expect_japanese_help(all_help({"--lang", "ja"}, {}));
  expect_japanese_help(all_help({"--lang=ja"}, {"LANG=en_US.UTF-8"}));
}

TEST(JapaneseHelp, EveryPageWithLangEnvironment) {
  expect_japanese_help(all_help({}, {"LANG=ja_JP.UTF-8"}));
  expect_japanese_help(all_help({}, {"LANG=en_US.UTF-8", "LC_MESSAGES=ja_JP.UTF-8"}));
}

TEST(JapaneseHelp, HelpColumnsAlignOnATerminal) {
  TempDir dir;
  const auto ran = testing::run_atdesk({"--lang", "ja", "--help"}, {}, dir);
  // "  --token-file 文字列" is 19 columns wide (each kanji takes two) and 22 bytes: the
  // description starts at column 30 as for an English name.
  EXPECT_TRUE(has(ran.out, "  --token-file 文字列         管理者トークン")) << ran.out;
}

// A CLI11 parse error: CLI11's own text after the Japanese lead.
TEST(JapaneseHelp, ParseErrorsHaveAJapaneseLead) {
  TempDir dir;
  const auto unknown = testing::run_atdesk({"--lang", "ja", "jobs", "--no-such-option"}, {}, dir);
  EXPECT_EQ(unknown.code, 2);
  EXPECT_TRUE(has(unknown.err, "atdesk: コマンドラインを受け付けられません: ")) << unknown.err;
  EXPECT_TRUE(has(unknown.err, "--no-such-option")) << unknown.err;
  EXPECT_TRUE(has(unknown.err, "使い方は --help で表示します。")) << unknown.err;
  const auto missing = testing::run_atdesk({"backup"}, {"LANG=ja_JP.UTF-8"}, dir);
  EXPECT_EQ(missing.code, 2);
  EXPECT_EQ(missing.err,
            "atdesk backup: コマンドラインを受け付けられません: FILE is required\n"
            "使い方は --help で表示します。\n");
  const auto english = testing::run_atdesk({"backup"}, {}, dir);
  EXPECT_EQ(english.code, 2);
  EXPECT_TRUE(english.err.starts_with("FILE is required\nRun with --help")) << english.err;
}

TEST(JapaneseLocalCommands, BackupAndRestoreOfAMissingFolder) {
  TempDir dir;
  const auto missing = (dir.path() / "missing").string();
  const auto archive = (dir.path() / "b.tar").string();
  const auto backup =
      testing::run_atdesk({"--lang", "ja", "backup", archive, "--state-dir", missing}, {}, dir);
  EXPECT_EQ(backup.code, 6) << backup.err;  // not found
  EXPECT_TRUE(backup.err.starts_with("atdesk backup: バックアップを作成できません: " + missing))
      << backup.err;
  const auto by_locale =
      testing::run_atdesk({"backup", archive, "--state-dir", missing}, {"LC_ALL=ja_JP.UTF-8"}, dir);
  EXPECT_EQ(by_locale.err, backup.err);
  const auto english = testing::run_atdesk({"backup", archive, "--state-dir", missing}, {}, dir);
  EXPECT_TRUE(english.err.starts_with("atdesk backup: " + missing)) << english.err;

  const auto restore = testing::run_atdesk(
      {"restore", (dir.path() / "none.tar").string(), "--state-dir", missing, "--lang", "ja"}, {},
      dir);
  EXPECT_NE(restore.code, 0);
  EXPECT_TRUE(restore.err.starts_with("atdesk restore: バックアップを戻せません: ")) << restore.err;
}

// A backup of a new node (an empty store and spool, as atdeskd creates them) and its restore into
// another state folder, both in Japanese: the summaries and the restore's closing lines.
TEST(JapaneseLocalCommands, BackupAndRestoreOfANewNode) {
  TempDir dir;
  const auto node = dir.path() / "node";
  {
    auto db = store::SqliteStore::open(node / "atdesk.db", NumberPlan{.country_code = "81"});
    ASSERT_TRUE(db) << db.error().message;
    auto spool = store::EncryptedSpool::open(node / "spool", node / "spool.key");
    ASSERT_TRUE(spool) << spool.error().message;
  }
  const auto archive = (dir.path() / "node.tar").string();
  const auto backup = testing::run_atdesk(
      {"--lang", "ja", "backup", archive, "--state-dir", node.string()}, {}, dir);
  ASSERT_EQ(backup.code, 0) << backup.err;
  EXPECT_TRUE(backup.out.starts_with(archive + ": ジョブ 0 件、文書ファイル ")) << backup.out;
  EXPECT_TRUE(has(backup.out, "、スキーマのバージョン ")) << backup.out;
  EXPECT_TRUE(has(backup.out, "、スプール鍵は含みません（" + (node / "spool.key").string() +
                                  " を別に安全に保管してください）\n"))
      << backup.out;

  // Without the key in the archive, the restored node needs the spool's key in place.
  const auto restored = dir.path() / "restored";
  std::filesystem::create_directories(restored);
  std::filesystem::copy_file(node / "spool.key", restored / "spool.key");
  const auto restore = testing::run_atdesk({"restore", archive, "--state-dir", restored.string()},
                                           {"LANG=ja_JP.UTF-8"}, dir);
  ASSERT_EQ(restore.code, 0) << restore.err;
  EXPECT_TRUE(restore.out.starts_with(restored.string() + ": " + archive +
                                      " からジョブ 0 件と文書ファイル "))
      << restore.out;
  EXPECT_TRUE(has(restore.out,
                  "  すべてのファイルがバックアップのマニフェストと一致しました。"
                  "atdeskd を起動すると使えます\n"))
      << restore.out;
  EXPECT_FALSE(has(restore.out, ": restored ")) << restore.out;
}

TEST(JapaneseLocalCommands, MigrateWithABadUrl) {
  TempDir dir;
  const auto bad_to = testing::run_atdesk(
      {"--lang", "ja", "migrate", "--from", "sqlite:" + dir.path().string(), "--to", "http://x"},
      {}, dir);
  EXPECT_EQ(bad_to.code, 2);
  EXPECT_EQ(bad_to.err,
            "atdesk migrate: --to: postgresql://... または libpq の接続文字列を指定してください\n");
  const auto bad_from =
      testing::run_atdesk({"migrate", "--from", "/tmp", "--to", "postgresql://a@127.0.0.1/b"},
                          {"LANG=ja_JP.UTF-8"}, dir);
  EXPECT_EQ(bad_from.code, 2);
  EXPECT_EQ(bad_from.err,
            "atdesk migrate: --from: sqlite:PATH の形で指定してください（指定された値: "
            "\"/tmp\"）\n");
  // No store in the folder: the store's own detail after the Japanese lead.
  const auto no_store = testing::run_atdesk(
      {"--lang", "ja", "migrate", "--from", "sqlite:" + (dir.path() / "none").string(), "--to",
       "postgresql://a@127.0.0.1:1/b"},
      {}, dir);
  EXPECT_NE(no_store.code, 0);
  EXPECT_TRUE(no_store.err.starts_with("atdesk migrate: 移行できません: ")) << no_store.err;
}

// A UDP port on 127.0.0.1 that nothing listens on: bound to learn a free one, then closed, so
// the INVITE is answered by ICMP port unreachable at once.
int closed_udp_port() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  const bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  if (fd >= 0) ::close(fd);
  return ok ? ntohs(addr.sin_port) : 0;
}

TEST(JapaneseLocalCommands, FaxSendToAnUnreachableAddress) {
  TempDir dir;
  const auto tiff = dir.write("fax.tif", "not read before the call is answered").string();
  const int port = closed_udp_port();
  ASSERT_NE(port, 0);
  const std::string to = "sip:0312345678@127.0.0.1:" + std::to_string(port);
  const auto refused =
      testing::run_atdesk({"--lang", "ja", "fax", "send", "--to", to, tiff}, {}, dir);
  EXPECT_EQ(refused.code, 3) << refused.err;  // cannot connect
  EXPECT_TRUE(has(refused.err, "atdesk fax send: ファクスを送信できません: " + to)) << refused.err;

  const auto user = testing::run_atdesk({"fax", "send", "--to", to, "--user", "alice", tiff},
                                        {"LANG=ja_JP.UTF-8"}, dir);
  EXPECT_EQ(user.code, 2);
  EXPECT_EQ(user.err, "atdesk fax send: --user と --password-file は一緒に指定してください\n");
  const auto password = dir.write("password", "\n").string();
  const auto empty = testing::run_atdesk({"fax", "send", "--lang", "ja", "--to", to, "--user",
                                          "alice", "--password-file", password, tiff},
                                         {}, dir);
  EXPECT_EQ(empty.code, 2);
  EXPECT_EQ(empty.err, "atdesk fax send: --password-file " + password +
                           ": 1 行目からパスワードを読み取れません\n");
}

}  // namespace
}  // namespace atdesk::cli
