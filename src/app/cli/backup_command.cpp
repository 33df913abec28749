#include "backup_command.hpp"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>

#include "atdesk/cli/exit_code.hpp"
#include "atdesk/cli/help.hpp"
#include "atdesk/core/messages.hpp"
#include "atdesk/store/backup.hpp"

namespace atdesk::cli {
namespace {

// The first line of `file`. The passphrase never comes from the command line (ps, history).
Result<std::string> passphrase_from_file(const std::string& file, Language language) {
  std::ifstream in(file);
  std::string line;
  if (!in) {
    return fail(Errc::not_found,
                message(language, MessageKey::cli_backup_passphrase_unreadable, {{"file", file}}));
  }
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) {
    return fail(Errc::invalid_argument,
                message(language, MessageKey::cli_backup_passphrase_empty, {{"file", file}}));
  }
  return line;
}

// One line from the terminal with echo off.
Result<std::string> prompt(const std::string& question, Language language) {
  const int tty = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (tty < 0)
    return fail(Errc::invalid_argument, message(language, MessageKey::cli_backup_no_terminal));
  (void)!::write(tty, question.data(), question.size());
  termios old{};
  const bool is_term = ::tcgetattr(tty, &old) == 0;
  if (is_term) {
    termios quiet = old;
    quiet.c_lflag &= static_cast<tcflag_t>(~ECHO);
    ::tcsetattr(tty, TCSAFLUSH, &quiet);
  }
  std::string line;
  char c = 0;
  while (::read(tty, &c, 1) == 1 && c != '\n') line.push_back(c);
  if (is_term) ::tcsetattr(tty, TCSAFLUSH, &old);
  (void)!::write(tty, "\n", 1);
  ::close(tty);
  return line;
}

store::PassphraseFn passphrase_source(const std::string& file, bool confirm, Language language) {
  return [file, confirm, language]() -> Result<std::string> {
    if (!file.empty()) return passphrase_from_file(file, language);
    auto first = prompt(message(language, MessageKey::cli_backup_ask_passphrase), language);
    if (!first || !confirm) return first;
    auto again = prompt(message(language, MessageKey::cli_backup_ask_again), language);
    if (!again) return again;
    if (*again != *first) {
      return fail(Errc::invalid_argument,
                  message(language, MessageKey::cli_backup_passphrases_differ));
    }
    return first;
  };
}

}  // namespace

int run_backup_command(const std::vector<std::string>& args, Language language) {
  auto h = [language](MessageKey key) { return message(language, key); };
  const bool backup = args.size() > 1 && args[1] == "backup";
  const char* name = backup ? "atdesk backup" : "atdesk restore";
  CLI::App app{h(backup ? MessageKey::cli_help_backup : MessageKey::cli_help_restore), name};
  std::string file, state_dir = "/var/lib/atdesk", database, spool_dir, key_file, passphrase_file;
  bool with_key = false, force = false;
  app.add_option("FILE", file,
                 h(backup ? MessageKey::cli_help_backup_file : MessageKey::cli_help_restore_file))
      ->required();
  app.add_option("--state-dir", state_dir, h(MessageKey::cli_help_state_dir))
      ->capture_default_str();
  app.add_option("--database", database, h(MessageKey::cli_help_database));
  app.add_option("--spool-dir", spool_dir, h(MessageKey::cli_help_spool_dir));
  app.add_option("--key-file", key_file, h(MessageKey::cli_help_key_file));
  app.add_option("--passphrase-file", passphrase_file, h(MessageKey::cli_help_passphrase_file));
  if (backup) {
    app.add_flag("--with-key", with_key, h(MessageKey::cli_help_with_key));
  } else {
    app.add_flag("--force", force, h(MessageKey::cli_help_force));
  }
  std::string lang;  // chosen by main(); here so `atdesk backup --lang ja` is accepted
  app.add_option("--lang", lang, h(MessageKey::cli_help_lang))->check(CLI::IsMember({"en", "ja"}));
  localize(app, language);
  try {
    std::vector<std::string> rest(args.begin() + std::min<std::ptrdiff_t>(2, std::ssize(args)),
                                  args.end());
    std::reverse(rest.begin(), rest.end());
    app.parse(rest);
  } catch (const CLI::ParseError& e) {
    return report_parse_error(app, e, language, name, std::cout, std::cerr);
  }
  auto paths = store::StatePaths::under(state_dir);
  if (!database.empty()) paths.database = database;
  if (!spool_dir.empty()) paths.spool_dir = spool_dir;
  if (!key_file.empty()) paths.key_file = key_file;

  if (backup) {
    auto report = store::write_backup(paths, file, with_key,
                                      passphrase_source(passphrase_file, true, language));
    if (!report) {
      std::cerr << name << ": "
                << message(language, MessageKey::cli_backup_failed,
                           {{"error", report.error().message}})
                << "\n";
      return to_int(exit_code_for_local_error(report.error().code));
    }
    if (report->snapshots > 1) {
      std::cerr << name << ": "
                << message(language, MessageKey::cli_backup_snapshots,
                           {{"count", std::to_string(report->snapshots)}})
                << "\n";
    }
    for (const auto& m : report->missing) {
      std::cerr << name << ": " << message(language, MessageKey::cli_backup_missing, {{"file", m}})
                << "\n";
    }
    std::cout << message(language,
                         report->with_key ? MessageKey::cli_backup_done_with_key
                                          : MessageKey::cli_backup_done_without_key,
                         {{"file", file},
                          {"jobs", std::to_string(report->jobs)},
                          {"documents", std::to_string(report->documents)},
                          {"version", std::to_string(report->schema_version)},
                          {"key_file", paths.key_file.string()}})
              << "\n";
    return 0;
  }
  auto report = store::restore_backup(file, paths, force,
                                      passphrase_source(passphrase_file, false, language));
  if (!report) {
    std::cerr << name << ": "
              << message(language, MessageKey::cli_restore_failed,
                         {{"error", report.error().message}})
              << "\n";
    return to_int(exit_code_for_local_error(report.error().code));
  }
  std::cout << message(language, MessageKey::cli_restore_done,
                       {{"state_dir", paths.state_dir.string()},
                        {"jobs", std::to_string(report->jobs)},
                        {"documents", std::to_string(report->documents)},
                        {"file", file},
                        {"version", std::to_string(report->schema_version)},
                        {"with_key", report->with_key ? h(MessageKey::cli_restore_with_key) : ""}})
            << "\n";
  if (const auto& previous = report->previous; previous) {
    std::cout << message(language, MessageKey::cli_restore_previous, {{"path", previous->string()}})
              << "\n";
  }
  std::cout << h(MessageKey::cli_restore_next) << "\n";
  return 0;
}

}  // namespace atdesk::cli
