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
#include "atdesk/store/backup.hpp"

namespace atdesk::cli {
namespace {

// The first line of `file`. The passphrase never comes from the command line (ps, history).
Result<std::string> passphrase_from_file(const std::string& file) {
  std::ifstream in(file);
  std::string line;
  if (!in) return fail(Errc::not_found, file + ": cannot read the passphrase file");
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) return fail(Errc::invalid_argument, file + ": the first line is empty");
  return line;
}

// One line from the terminal with echo off.
Result<std::string> prompt(const char* question) {
  const int tty = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (tty < 0) {
    return fail(Errc::invalid_argument,
                "no terminal to ask for the passphrase: give --passphrase-file FILE");
  }
  (void)!::write(tty, question, std::char_traits<char>::length(question));
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

store::PassphraseFn passphrase_source(const std::string& file, bool confirm) {
  return [file, confirm]() -> Result<std::string> {
    if (!file.empty()) return passphrase_from_file(file);
    auto first = prompt("Passphrase for the spool key: ");
    if (!first || !confirm) return first;
    auto again = prompt("Same passphrase again: ");
    if (!again) return again;
    if (*again != *first) return fail(Errc::invalid_argument, "the passphrases differ");
    return first;
  };
}

}  // namespace

int run_backup_command(const std::vector<std::string>& args) {
  const bool backup = args.size() > 1 && args[1] == "backup";
  CLI::App app{backup ? "atdesk backup: a consistent copy of the node's store, spool documents "
                        "and (with --with-key) spool key, while atdeskd runs"
                      : "atdesk restore: put a backup back into a stopped node's state folder",
               backup ? "atdesk backup" : "atdesk restore"};
  std::string file, state_dir = "/var/lib/atdesk", database, spool_dir, key_file, passphrase_file;
  bool with_key = false, force = false;
  app.add_option("FILE", file, backup ? "the archive to write (a tar file)" : "the archive")
      ->required();
  app.add_option("--state-dir", state_dir, "the node's [storage] state_dir")->capture_default_str();
  app.add_option("--database", database, "[storage] database, if not <state-dir>/atdesk.db");
  app.add_option("--spool-dir", spool_dir, "[storage] spool_dir, if not <state-dir>/spool");
  app.add_option("--key-file", key_file, "[storage] key_file, if not <state-dir>/spool.key");
  app.add_option("--passphrase-file", passphrase_file,
                 "file whose first line is the key's passphrase (else it is asked on the "
                 "terminal)");
  if (backup) {
    app.add_flag("--with-key", with_key,
                 "include the spool key, sealed with a passphrase (without it, keep spool.key "
                 "safe separately: the documents cannot be read without it)");
  } else {
    app.add_flag("--force", force,
                 "replace an existing store: it is moved to <state-dir>/pre-restore-<time>/");
  }
  try {
    std::vector<std::string> rest(args.begin() + std::min<std::ptrdiff_t>(2, std::ssize(args)),
                                  args.end());
    std::reverse(rest.begin(), rest.end());
    app.parse(rest);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : to_int(ExitCode::usage);
  }
  auto paths = store::StatePaths::under(state_dir);
  if (!database.empty()) paths.database = database;
  if (!spool_dir.empty()) paths.spool_dir = spool_dir;
  if (!key_file.empty()) paths.key_file = key_file;
  const char* name = backup ? "atdesk backup" : "atdesk restore";

  if (backup) {
    auto report =
        store::write_backup(paths, file, with_key, passphrase_source(passphrase_file, true));
    if (!report) {
      std::cerr << name << ": " << report.error().message << "\n";
      return to_int(exit_code_for_local_error(report.error().code));
    }
    if (report->snapshots > 1) {
      std::cerr << name << ": note: " << report->snapshots
                << " snapshots were taken (jobs were deleted while their documents were copied)\n";
    }
    for (const auto& m : report->missing) {
      std::cerr << name << ": warning: not in the spool, so not in the backup: " << m << "\n";
    }
    std::cout << file << ": " << report->jobs << " job(s), " << report->documents
              << " document file(s), schema version " << report->schema_version
              << (report->with_key ? ", spool key sealed with the passphrase"
                                   : ", without the spool key (keep " + paths.key_file.string() +
                                         " safe separately)")
              << "\n";
    return 0;
  }
  auto report =
      store::restore_backup(file, paths, force, passphrase_source(passphrase_file, false));
  if (!report) {
    std::cerr << name << ": " << report.error().message << "\n";
    return to_int(exit_code_for_local_error(report.error().code));
  }
  std::cout << paths.state_dir.string() << ": restored " << report->jobs << " job(s) and "
            << report->documents << " document file(s) from " << file << ", schema version "
            << report->schema_version << (report->with_key ? ", with the spool key" : "") << "\n";
  if (const auto& previous = report->previous; previous) {
    std::cout << "  the state it replaced is in " << previous->string() << "\n";
  }
  std::cout << "  every file matched the backup's manifest; start atdeskd to use it\n";
  return 0;
}

}  // namespace atdesk::cli
