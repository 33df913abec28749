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

}  // namespace
}  // namespace atdesk
