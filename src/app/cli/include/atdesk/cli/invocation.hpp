// The argument model of the atdesk CLI: what the command line asked for, as a plain value, and
// the parser (CLI11) that fills it from argv and the environment.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "atdesk/core/language.hpp"

namespace atdesk::cli {

inline constexpr const char* kDefaultUrl = "http://127.0.0.1:8631";
inline constexpr const char* kDefaultTokenFile = "/var/lib/atdesk/admin.token";
inline constexpr double kDefaultTimeoutSeconds = 30.0;

enum class Command {
  submit,
  jobs,
  show,
  history,
  release,
  delete_job,
  preview,
  document,
  recipients_list,
  recipients_add,
  recipients_remove,
  recipients_import,
  recipients_export,
  route,
  modes_list,
  modes_show,
  modes_set,
  modes_delete,
  schedule_show,
  schedule_set,
  presence_list,
  presence_set,
  channel_members,
  messages,
  command,
  printers,
  audit,
  health,
  ipp_token_list,
  ipp_token_add,
  ipp_token_revoke,
};

// The environment variables the CLI reads; main() copies them from the process environment so the
// parser itself reads no globals.
struct Environment {
  std::optional<std::string> url;         // ATDESK_URL
  std::optional<std::string> token_file;  // ATDESK_TOKEN_FILE
  std::optional<std::string> token;       // ATDESK_TOKEN
  std::optional<std::string> ca_file;     // ATDESK_CA_FILE
  // LC_ALL, else LC_MESSAGES, else LANG (the first one set): the language of the output.
  std::optional<std::string> language;
};

struct GlobalOptions {
  std::string url = kDefaultUrl;
  // Where the token comes from: `token` when set (ATDESK_TOKEN and no --token-file), else the file.
  std::string token_file = kDefaultTokenFile;
  std::optional<std::string> token;
  bool json = false;
  double timeout_seconds = kDefaultTimeoutSeconds;
  std::string ca_file;  // --ca-file / ATDESK_CA_FILE: checks an https:// atdeskd's certificate
  Language language = Language::en;  // --lang, else the environment's (LANG), else en
};

// Everything a command needs; each command reads only its own fields.
struct Invocation {
  GlobalOptions global;
  Command command = Command::health;

  std::string id;            // job id, rule id
  std::string file;          // submit, recipients import, schedule set
  std::string output;        // preview, document: -o FILE ("-" = stdout)
  std::string sender;        // submit, jobs, route
  std::string called;        // submit, route
  std::string name;          // submit: document name; modes: table name
  std::string printer;       // release, recipients add
  std::string pattern;       // recipients add
  std::string recipient;     // recipients add, jobs --recipient
  std::string note;          // recipients add
  std::string language;      // recipients add --language: en, ja or "" (the default)
  std::string user;          // presence set
  std::string availability;  // presence set, modes set (canonical snake_case)
  std::string location;      // presence set, modes set (canonical snake_case)
  std::string action;        // modes set: print | hold
  std::string status_text;   // presence set --status
  std::string service = "local";
  std::string channel;               // channel members, command --channel
  std::string to;                    // messages --to
  std::string from;                  // command --from
  std::string text;                  // command: the words joined by spaces
  std::vector<std::string> states;   // jobs --state (canonical names)
  std::vector<std::string> members;  // channel members
  std::string after;                 // jobs --after (time), messages --after (seq)
  std::string before;                // jobs --before, audit --before
  std::optional<std::int64_t> limit;
  std::optional<int> page;  // preview --page
  std::optional<int> size;  // preview --size (px)
  bool printable = false;   // document --printable
  bool create = false;      // modes set --create
  bool toml = false;        // recipients export --toml
};

// The outcome of parsing: an invocation to run, or an exit code (help shown: 0, usage error: 2)
// with the text CLI11 produced for stdout/stderr.
struct ParseOutcome {
  std::optional<Invocation> invocation;
  int exit_code = 0;
  std::string out;
  std::string err;
};

ParseOutcome parse_command_line(const std::vector<std::string>& args, const Environment& env);

}  // namespace atdesk::cli
