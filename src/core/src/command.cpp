// Chat command parsing. Input comes from anyone who can message the bot, so it is bounded and
// strict: a known verb, then exactly the words that verb takes.
#include "atdesk/core/command.hpp"

#include <algorithm>
#include <vector>

#include "text.hpp"

namespace atdesk {
namespace {

constexpr std::size_t kMaxCommand = 200;

bool is_job_id(std::string_view s) {
  return s.size() >= 4 && s.size() <= 32 && std::all_of(s.begin(), s.end(), text::is_hex);
}

bool is_printer(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return text::is_alnum(c) || c == '.' || c == '_' || c == '-';
  });
}

// C0 controls and DEL, and the C1 controls as UTF-8 encodes them (U+0080-U+009F).
bool has_control(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return true;
    if (c == 0xc2 && i + 1 < s.size()) {
      const auto next = static_cast<unsigned char>(s[i + 1]);
      if (next >= 0x80 && next <= 0x9f) return true;
    }
  }
  return false;
}

std::vector<std::string_view> split_words(std::string_view s) {
  std::vector<std::string_view> words;
  while (!s.empty()) {
    const auto start = s.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    s.remove_prefix(start);
    const auto end = s.find(' ');
    words.push_back(s.substr(0, end));
    s.remove_prefix(end == std::string_view::npos ? s.size() : end);
  }
  return words;
}

std::unexpected<Error> usage(std::string message) {
  return fail(Errc::invalid_argument, std::move(message));
}

}  // namespace

Result<ChatCommandRequest> parse_command(std::string_view raw) {
  if (raw.size() > kMaxCommand) {
    return usage("a command is at most " + std::to_string(kMaxCommand) + " characters, got " +
                 std::to_string(raw.size()));
  }
  // Chat clients add a trailing newline or pad with spaces; inside the command only spaces.
  const auto text = text::trim(raw);
  if (has_control(text)) return usage("a command may not contain control characters");
  const auto words = split_words(text);
  if (words.empty()) return usage("the command is empty");

  ChatCommandRequest r;
  const auto verb = text::lower(words[0]);
  const auto only_verb = [&](CommandKind kind) -> Result<ChatCommandRequest> {
    if (words.size() != 1) return usage("'" + verb + "' takes no further words");
    r.kind = kind;
    return r;
  };
  if (verb == "help") return only_verb(CommandKind::help);
  if (verb == "list") return only_verb(CommandKind::list);
  if (verb == "hold") return only_verb(CommandKind::hold);
  if (verb == "resume") return only_verb(CommandKind::resume);
  if (verb == "delete") {
    if (words.size() != 2 || !is_job_id(words[1])) {
      return usage("expected 'delete <job id>' with a job id of 4-32 hex digits");
    }
    r.kind = CommandKind::remove;
    r.job_id = text::lower(words[1]);
    return r;
  }
  if (verb == "print") {
    r.kind = CommandKind::print;
    std::size_t i = 1;
    if (i < words.size() && !text::iequals(words[i], "at")) {
      if (!is_job_id(words[i])) {
        return usage(
            "expected 'print', 'print <job id>' or 'print at <printer>' with a job id "
            "of 4-32 hex digits");
      }
      r.job_id = text::lower(words[i++]);
    }
    if (i < words.size()) {
      if (!text::iequals(words[i], "at") || i + 2 != words.size() || !is_printer(words[i + 1])) {
        return usage(
            "expected 'print [<job id>] at <printer>' with a printer name of 1-64 "
            "characters A-Z a-z 0-9 . _ -");
      }
      r.printer = std::string(words[i + 1]);
    }
    return r;
  }
  return usage("unknown command " + text::quote(verb, 20));
}

std::string command_help() {
  return "Commands:\n"
         "  print                     print everything held for you\n"
         "  print <id>                print one job (the id from the message)\n"
         "  print at <printer>        print everything held for you on that printer\n"
         "  print <id> at <printer>   print one job on that printer\n"
         "  delete <id>               delete a held job\n"
         "  list                      list the jobs held for you\n"
         "  hold                      hold everything for you until 'resume'\n"
         "  resume                    print again as your presence allows\n"
         "  help                      this text";
}

}  // namespace atdesk
