// Chat commands people send back ("print", "print 3fa2c9d1 at lobby", "delete 3fa2c9d1", "list",
// "hold", "resume", "help"), in English or Japanese ("印刷", "lobbyで印刷", "削除 3fa2c9d1",
// "一覧", "保留", "再開", "ヘルプ"). Parsing is pure and strict: anything else is an error.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "atdesk/core/error.hpp"
#include "atdesk/core/language.hpp"

namespace atdesk {

enum class CommandKind { print, remove, list, hold, resume, help };

struct ChatCommandRequest {
  CommandKind kind = CommandKind::help;
  std::optional<std::string> job_id;   // 4-32 hex digits, lowercased
  std::optional<std::string> printer;  // [A-Za-z0-9._-]{1,64}
  bool operator==(const ChatCommandRequest&) const = default;
};

// Either language's commands are accepted whatever `language` is; `language` is the language
// of the error's message.
Result<ChatCommandRequest> parse_command(std::string_view text, Language language = Language::en);
std::string command_help(Language language = Language::en);

}  // namespace atdesk
