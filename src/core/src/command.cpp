// Chat command parsing. Input comes from anyone who can message the bot, so it is bounded and
// strict: a known verb, then exactly the words that verb takes.
#include "atdesk/core/command.hpp"

#include <algorithm>
#include <vector>

#include "atdesk/core/messages.hpp"
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

// Words are separated by spaces; U+3000 IDEOGRAPHIC SPACE, which Japanese input methods type,
// counts as one.
std::vector<std::string_view> split_words(std::string_view s) {
  constexpr std::string_view kIdeographicSpace = "\xe3\x80\x80";
  std::vector<std::string_view> words;
  std::size_t start = 0;
  auto flush = [&](std::size_t end) {
    if (end > start) words.push_back(s.substr(start, end - start));
  };
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] == ' ') {
      flush(i);
      start = ++i;
    } else if (s.substr(i, kIdeographicSpace.size()) == kIdeographicSpace) {
      flush(i);
      i += kIdeographicSpace.size();
      start = i;
    } else {
      ++i;
    }
  }
  flush(s.size());
  return words;
}

// The Japanese verbs (UTF-8), beside the English ones.
constexpr std::string_view kPrintJa = "\xe5\x8d\xb0\xe5\x88\xb7";                // 印刷
constexpr std::string_view kAtPrintJa = "\xe3\x81\xa7\xe5\x8d\xb0\xe5\x88\xb7";  // で印刷
constexpr std::string_view kDeleteJa = "\xe5\x89\x8a\xe9\x99\xa4";               // 削除
constexpr std::string_view kListJa = "\xe4\xb8\x80\xe8\xa6\xa7";                 // 一覧
constexpr std::string_view kHoldJa = "\xe4\xbf\x9d\xe7\x95\x99";                 // 保留
constexpr std::string_view kResumeJa = "\xe5\x86\x8d\xe9\x96\x8b";               // 再開
constexpr std::string_view kHelpJa = "\xe3\x83\x98\xe3\x83\xab\xe3\x83\x97";     // ヘルプ

}  // namespace

Result<ChatCommandRequest> parse_command(std::string_view raw, Language language) {
  auto usage = [&](MessageKey key, std::initializer_list<MessageArg> args = {}) {
    return std::unexpected<Error>(Error{Errc::invalid_argument, message(language, key, args)});
  };
  if (raw.size() > kMaxCommand) {
    return usage(MessageKey::command_too_long,
                 {{"max", std::to_string(kMaxCommand)}, {"size", std::to_string(raw.size())}});
  }
  // Chat clients add a trailing newline or pad with spaces; inside the command only spaces.
  const auto text = text::trim(raw);
  if (has_control(text)) return usage(MessageKey::command_control);
  const auto words = split_words(text);
  if (words.empty()) return usage(MessageKey::command_empty);

  ChatCommandRequest r;
  const auto verb = text::lower(words[0]);
  const auto only_verb = [&](CommandKind kind) -> Result<ChatCommandRequest> {
    if (words.size() != 1) return usage(MessageKey::command_no_words, {{"verb", verb}});
    r.kind = kind;
    return r;
  };
  if (verb == "help" || verb == kHelpJa) return only_verb(CommandKind::help);
  if (verb == "list" || verb == kListJa) return only_verb(CommandKind::list);
  if (verb == "hold" || verb == kHoldJa) return only_verb(CommandKind::hold);
  if (verb == "resume" || verb == kResumeJa) return only_verb(CommandKind::resume);
  if (verb == "delete" || verb == kDeleteJa) {
    if (words.size() != 2 || !is_job_id(words[1])) return usage(MessageKey::command_delete_usage);
    r.kind = CommandKind::remove;
    r.job_id = text::lower(words[1]);
    return r;
  }
  if (verb == kPrintJa) {  // 印刷, 印刷 <id>
    r.kind = CommandKind::print;
    if (words.size() > 2 || (words.size() == 2 && !is_job_id(words[1]))) {
      return usage(MessageKey::command_print_usage);
    }
    if (words.size() == 2) r.job_id = text::lower(words[1]);
    return r;
  }
  if (text.ends_with(kPrintJa) && verb != "print") {
    // <printer>で印刷, <id> <printer>で印刷, <id> 印刷 (spaces around で and 印刷 allowed): the
    // printer name is ASCII, so で cannot be part of it.
    r.kind = CommandKind::print;
    std::size_t first = 0;
    if (words.size() > 1 && is_job_id(words[0])) {
      r.job_id = text::lower(words[0]);
      first = 1;
    }
    std::string rest;
    for (std::size_t i = first; i < words.size(); ++i) rest += words[i];
    if (first == 1 && rest == kPrintJa) return r;  // <id> 印刷
    if (!rest.ends_with(kAtPrintJa)) return usage(MessageKey::command_print_at_usage);
    const std::string printer = rest.substr(0, rest.size() - kAtPrintJa.size());
    // The printer is one word: what follows it in its word is で印刷, で or nothing.
    const std::string_view word = words[first];
    const auto after = word.substr(std::min(printer.size(), word.size()));
    if (!is_printer(printer) || !word.starts_with(printer) ||
        !(after.empty() || after == kAtPrintJa || after == kAtPrintJa.substr(0, 3))) {
      return usage(MessageKey::command_print_at_usage);
    }
    r.printer = printer;
    return r;
  }
  if (verb == "print") {
    r.kind = CommandKind::print;
    std::size_t i = 1;
    if (i < words.size() && !text::iequals(words[i], "at")) {
      if (!is_job_id(words[i])) return usage(MessageKey::command_print_usage);
      r.job_id = text::lower(words[i++]);
    }
    if (i < words.size()) {
      if (!text::iequals(words[i], "at") || i + 2 != words.size() || !is_printer(words[i + 1])) {
        return usage(MessageKey::command_print_at_usage);
      }
      r.printer = std::string(words[i + 1]);
    }
    return r;
  }
  return usage(MessageKey::command_unknown, {{"verb", text::quote(verb, 20)}});
}

std::string command_help(Language language) {
  return message(language, MessageKey::reply_help);
}

}  // namespace atdesk
