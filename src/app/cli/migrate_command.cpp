#include "migrate_command.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <iostream>

#include "atdesk/cli/exit_code.hpp"
#include "atdesk/cli/help.hpp"
#include "atdesk/core/messages.hpp"
#include "atdesk/store/migrate.hpp"

namespace atdesk::cli {

int run_migrate_command(const std::vector<std::string>& args, Language language) {
  auto h = [language](MessageKey key) { return message(language, key); };
  const char* name = "atdesk migrate";
  CLI::App app{h(MessageKey::cli_help_migrate), name};
  std::string from, to, spool_dir, key_file;
  app.add_option("--from", from, h(MessageKey::cli_help_migrate_from))->required();
  app.add_option("--to", to, h(MessageKey::cli_help_migrate_to))->required();
  app.add_option("--spool-dir", spool_dir, h(MessageKey::cli_help_migrate_spool_dir));
  app.add_option("--key-file", key_file, h(MessageKey::cli_help_migrate_key_file));
  std::string lang;  // chosen by main(); here so `atdesk migrate --lang ja` is accepted
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
  if (!from.starts_with("sqlite:")) {
    std::cerr << name << ": "
              << message(language, MessageKey::cli_migrate_bad_from, {{"value", from}}) << "\n";
    return to_int(ExitCode::usage);
  }
  if (!(to.starts_with("postgresql://") || to.starts_with("postgres://") ||
        to.find('=') != std::string::npos)) {
    std::cerr << name << ": " << h(MessageKey::cli_migrate_bad_to) << "\n";
    return to_int(ExitCode::usage);
  }
  const std::filesystem::path path = from.substr(7);
  std::error_code ec;
  auto paths = std::filesystem::is_directory(path, ec)
                   ? store::StatePaths::under(path)
                   : store::StatePaths::under(path.has_parent_path() ? path.parent_path() : ".");
  if (!std::filesystem::is_directory(path, ec)) paths.database = path;
  if (!spool_dir.empty()) paths.spool_dir = spool_dir;
  if (!key_file.empty()) paths.key_file = key_file;

  auto report = store::migrate_sqlite_to_postgres(
      paths, to, [](const std::string& line) { std::cout << "  " << line << "\n"; });
  if (!report) {
    std::cerr << name << ": "
              << message(language, MessageKey::cli_migrate_failed,
                         {{"error", report.error().message}})
              << "\n";
    return to_int(exit_code_for_local_error(report.error().code));
  }
  for (const auto& m : report->missing) {
    std::cerr << name << ": " << message(language, MessageKey::cli_migrate_missing, {{"file", m}})
              << "\n";
  }
  std::int64_t jobs = 0;
  for (const auto& [table, rows] : report->rows) {
    if (table == "jobs") jobs = rows;
  }
  std::cout << message(language, MessageKey::cli_migrate_done,
                       {{"jobs", std::to_string(jobs)},
                        {"documents", std::to_string(report->documents)},
                        {"bytes", std::to_string(report->document_bytes)},
                        {"database", paths.database.string()},
                        {"key_file", paths.key_file.string()}})
            << "\n";
  return 0;
}

}  // namespace atdesk::cli
