#include <algorithm>
#include <cctype>
#include <sstream>
#include <vector>

#include "atdesk/core/command.hpp"

namespace atdesk {
namespace {

constexpr std::size_t kMaxCommand = 200;

bool is_id(std::string_view s) {
  return s.size() >= 4 && s.size() <= 32 &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c); });
}

bool is_printer(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '_' || c == '-';
  });
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

Result<ChatCommandRequest> parse_command(std::string_view text) {
  if (text.size() > kMaxCommand) {
    return fail(Errc::invalid_argument,
                "a command is at most " + std::to_string(kMaxCommand) + " characters");
  }
  if (std::any_of(text.begin(), text.end(), [](unsigned char c) {
        return (c < 0x20 && c != ' ' && c != '\t' && c != '\n' && c != '\r') || c == 0x7f;
      })) {
    return fail(Errc::invalid_argument, "the command contains control characters");
  }
  std::vector<std::string> words;
  std::istringstream in{std::string(text)};
  for (std::string w; in >> w;) words.push_back(w);
  if (words.empty()) return fail(Errc::invalid_argument, "the command is empty");

  ChatCommandRequest r;
  const auto verb = lower(words[0]);
  auto expect_no_more = [&](std::size_t n) -> Result<ChatCommandRequest> {
    if (words.size() != n) {
      return fail(Errc::invalid_argument, "'" + verb + "' takes no further words");
    }
    return r;
  };
  if (verb == "help" || verb == "?") {
    r.kind = CommandKind::help;
    return expect_no_more(1);
  }
  if (verb == "list") {
    r.kind = CommandKind::list;
    return expect_no_more(1);
  }
  if (verb == "hold") {
    r.kind = CommandKind::hold;
    return expect_no_more(1);
  }
  if (verb == "resume") {
    r.kind = CommandKind::resume;
    return expect_no_more(1);
  }
  if (verb == "delete") {
    r.kind = CommandKind::remove;
    if (words.size() != 2 || !is_id(words[1])) {
      return fail(Errc::invalid_argument, "expected 'delete <job id>' (4-32 hex digits)");
    }
    r.job_id = lower(words[1]);
    return r;
  }
  if (verb == "print") {
    r.kind = CommandKind::print;
    std::size_t i = 1;
    if (i < words.size() && lower(words[i]) != "at") {
      if (!is_id(words[i])) {
        return fail(Errc::invalid_argument,
                    "expected 'print', 'print <job id>' or 'print at <printer>'");
      }
      r.job_id = lower(words[i++]);
    }
    if (i < words.size()) {
      if (lower(words[i]) != "at" || i + 2 != words.size() || !is_printer(words[i + 1])) {
        return fail(Errc::invalid_argument,
                    "expected 'print at <printer>' with a printer name of A-Z a-z 0-9 . _ -");
      }
      r.printer = words[i + 1];
    }
    return r;
  }
  return fail(Errc::invalid_argument, "unknown command '" + verb.substr(0, 20) + "'");
}

std::string command_help() {
  return "Commands:\n"
         "  print                 print everything held for you\n"
         "  print <id>            print one job (the id from the message)\n"
         "  print at <printer>    print on another printer (also: print <id> at <printer>)\n"
         "  delete <id>           delete a held job\n"
         "  list                  list the jobs held for you\n"
         "  hold                  hold everything for you until 'resume'\n"
         "  resume                print again as your presence allows\n"
         "  help                  this text";
}

}  // namespace atdesk
