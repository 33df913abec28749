// Chat command parsing, including hostile input.
#include <gtest/gtest.h>

#include "atdesk/core/command.hpp"

namespace atdesk {
namespace {

// An expected request; an empty id or printer is "none".
ChatCommandRequest req(CommandKind kind, std::string_view id = {}, std::string_view printer = {}) {
  ChatCommandRequest r;
  r.kind = kind;
  if (!id.empty()) r.job_id = std::string(id);
  if (!printer.empty()) r.printer = std::string(printer);
  return r;
}

TEST(Command, EveryForm) {
  using K = CommandKind;
  const std::pair<std::string_view, ChatCommandRequest> cases[] = {
      {"print", req(K::print)},
      {"print 3fa2c9d1", req(K::print, "3fa2c9d1")},
      {"print at lobby", req(K::print, "", "lobby")},
      {"print 3fa2c9d1 at lobby-2.floor_3", req(K::print, "3fa2c9d1", "lobby-2.floor_3")},
      {"print 0123456789abcdef0123456789abcdef", req(K::print, "0123456789abcdef0123456789abcdef")},
      {"print beef", req(K::print, "beef")},
      {"delete 3fa2c9d1", req(K::remove, "3fa2c9d1")},
      {"list", req(K::list)},
      {"hold", req(K::hold)},
      {"resume", req(K::resume)},
      {"help", req(K::help)},
  };
  for (const auto& [text, expected] : cases) {
    auto r = parse_command(text);
    ASSERT_TRUE(r) << text << ": " << r.error().describe();
    EXPECT_EQ(*r, expected) << text;
  }
}

TEST(Command, CaseInsensitiveAndTrimmed) {
  EXPECT_EQ(parse_command("  PRINT 3FA2C9D1 At Lobby \r\n").value(),
            req(CommandKind::print, "3fa2c9d1", "Lobby"));
  EXPECT_EQ(parse_command("Delete ABCD").value(), req(CommandKind::remove, "abcd"));
  EXPECT_EQ(parse_command("\tList\n").value(), req(CommandKind::list));
  EXPECT_EQ(parse_command("print    at    lobby").value(), req(CommandKind::print, "", "lobby"));
}

TEST(Command, RejectsMalformedCommands) {
  for (std::string_view bad : {"",
                               "   ",
                               "\n",
                               "prin",
                               "printer",
                               "print 3fa",
                               "print 0123456789abcdef0123456789abcdef0",
                               "print xyz1",
                               "print at",
                               "print 3fa2c9d1 at",
                               "print at lobby extra",
                               "print 3fa2c9d1 lobby",
                               "print at lob/by",
                               "print at lobby;rm",
                               "print at ../etc",
                               "delete",
                               "delete 3fa",
                               "delete 3fa2c9d1 3fa2c9d2",
                               "delete at",
                               "list all",
                               "hold please",
                               "resume 3fa2c9d1",
                               "help me",
                               "?",
                               "print at lobby at lobby"}) {
    auto r = parse_command(bad);
    ASSERT_FALSE(r) << "accepted: " << bad;
    EXPECT_EQ(r.error().code, Errc::invalid_argument);
    EXPECT_FALSE(r.error().message.empty());
  }
}

TEST(Command, PrinterNameLength) {
  EXPECT_TRUE(parse_command("print at " + std::string(64, 'p')));
  EXPECT_FALSE(parse_command("print at " + std::string(65, 'p')));
}

TEST(Command, RejectsHostileInput) {
  auto long_text = parse_command("print " + std::string(195, 'a'));
  ASSERT_FALSE(long_text);
  EXPECT_NE(long_text.error().message.find("200"), std::string::npos);
  EXPECT_FALSE(parse_command(std::string(10'000, ' ') + "list"));  // over 200 before trimming

  for (std::string_view bad :
       {std::string_view("print\0abcd", 10), std::string_view("print\x1b[2Jabcd"),
        std::string_view("print abcd\nat lobby"), std::string_view("li\tst"),
        std::string_view("list\x7f"),
        std::string_view("print \xc2\x85"
                         "abcd")}) {
    auto r = parse_command(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("control characters"), std::string::npos) << r.error().message;
  }
  // Non-ASCII look-alikes are not commands or ids.
  EXPECT_FALSE(parse_command("ｐrint"));
  EXPECT_FALSE(parse_command("print at lobby\xe2\x80\xae"));
  // An unknown verb is quoted without echoing an unbounded amount of it.
  auto unknown = parse_command(std::string(150, 'x'));
  ASSERT_FALSE(unknown);
  EXPECT_LT(unknown.error().message.size(), 120u);
}

TEST(Command, HelpListsEveryCommand) {
  const auto help = command_help();
  for (std::string_view word :
       {"print", "print <id>", "print at <printer>", "print <id> at <printer>", "delete <id>",
        "list", "hold", "resume", "help"}) {
    EXPECT_NE(help.find(word), std::string::npos) << word;
  }
}

TEST(Command, JapaneseForms) {
  using K = CommandKind;
  const std::pair<std::string_view, ChatCommandRequest> cases[] = {
      {"印刷", req(K::print)},
      {"印刷 3fa2c9d1", req(K::print, "3fa2c9d1")},
      {"印刷\u30003FA2C9D1", req(K::print, "3fa2c9d1")},  // ideographic space
      {"3fa2c9d1 印刷", req(K::print, "3fa2c9d1")},
      {"lobbyで印刷", req(K::print, "", "lobby")},
      {"lobby で印刷", req(K::print, "", "lobby")},
      {"lobby で 印刷", req(K::print, "", "lobby")},
      {"3fa2c9d1 lobby-2.floor_3で印刷", req(K::print, "3fa2c9d1", "lobby-2.floor_3")},
      {"削除 3fa2c9d1", req(K::remove, "3fa2c9d1")},
      {"一覧", req(K::list)},
      {"保留", req(K::hold)},
      {"再開", req(K::resume)},
      {"ヘルプ", req(K::help)},
      {"  ヘルプ\u3000\n", req(K::help)},
  };
  for (const auto& [text, expected] : cases) {
    auto r = parse_command(text, Language::ja);
    ASSERT_TRUE(r) << text << ": " << r.error().describe();
    EXPECT_EQ(*r, expected) << text;
    // Either language's commands are understood whatever the writer's language is.
    EXPECT_EQ(parse_command(text, Language::en).value(), expected) << text;
  }
  EXPECT_EQ(parse_command("print at lobby", Language::ja).value(), req(K::print, "", "lobby"));
}

TEST(Command, JapaneseMalformedAndHostileFormsAreRefused) {
  for (std::string_view bad :
       {"で印刷", "印刷 3fa", "印刷 lobby", "印刷 3fa2c9d1 3fa2c9d2", "lob/byで印刷",
        "ロビーで印刷", "3fa2c9d1 3fa2c9d2 lobbyで印刷", "lobbyで印刷 extra", "削除", "削除 ab",
        "一覧 全部", "ヘルプ 印刷", "印刷する", "lobbyにて印刷", "\u3000", "3fa2c9d1",
        "print lobbyで印刷", "印刷\x01", "lobbyで印刷\xe2\x80\xae"}) {
    auto r = parse_command(bad, Language::ja);
    ASSERT_FALSE(r) << "accepted: " << bad;
    EXPECT_EQ(r.error().code, Errc::invalid_argument);
    EXPECT_FALSE(r.error().message.empty());
  }
  EXPECT_FALSE(parse_command(std::string(67, 'a') + "で印刷", Language::ja));  // 65 characters
  EXPECT_TRUE(parse_command(std::string(64, 'a') + "で印刷", Language::ja));
  // 200 bytes at most, counted before anything else: 67 three-byte characters are too many.
  std::string long_text;
  for (int i = 0; i < 67; ++i) long_text += "印";
  EXPECT_FALSE(parse_command(long_text, Language::ja));
}

TEST(Command, ErrorsAreInTheWritersLanguage) {
  auto ja = parse_command("削除", Language::ja);
  ASSERT_FALSE(ja);
  EXPECT_EQ(ja.error().message, "「削除 <ジョブ id>」の形で、ジョブ id は 16 進 4〜32 桁です");
  auto en = parse_command("削除", Language::en);
  ASSERT_FALSE(en);
  EXPECT_EQ(en.error().message, "expected 'delete <job id>' with a job id of 4-32 hex digits");
  auto unknown = parse_command("印刷してください", Language::ja);
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("不明なコマンド"), std::string::npos)
      << unknown.error().message;
}

TEST(Command, JapaneseHelpListsEveryCommand) {
  const auto help = command_help(Language::ja);
  for (std::string_view word :
       {"印刷", "印刷 <id>", "<プリンター>で印刷", "<id> <プリンター>で印刷", "削除 <id>", "一覧",
        "保留", "再開", "ヘルプ", "print at <printer>"}) {
    EXPECT_NE(help.find(word), std::string::npos) << word;
  }
}

}  // namespace
}  // namespace atdesk
