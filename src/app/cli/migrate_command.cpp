#include "migrate_command.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <iostream>

#include "atdesk/cli/exit_code.hpp"
#include "atdesk/store/migrate.hpp"

namespace atdesk::cli {

int run_migrate_command(const std::vector<std::string>& args) {
  CLI::App app{
      "atdesk migrate: move a stopped node's SQLite store and spool documents into an "
      "empty PostgreSQL database, and check every table's rows and every document's "
      "SHA-256 on both sides",
      "atdesk migrate"};
  std::string from, to, spool_dir, key_file;
  app.add_option("--from", from,
                 "sqlite:PATH: the state folder ([storage] state_dir) or its atdesk.db")
      ->required();
  app.add_option("--to", to,
                 "postgresql://user@host/database (no password: libpq reads it from a password "
                 "file)")
      ->required();
  app.add_option("--spool-dir", spool_dir, "[storage] spool_dir, if not beside the database");
  app.add_option("--key-file", key_file, "[storage] key_file, if not beside the database");
  try {
    std::vector<std::string> rest(args.begin() + std::min<std::ptrdiff_t>(2, std::ssize(args)),
                                  args.end());
    std::reverse(rest.begin(), rest.end());
    app.parse(rest);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : to_int(ExitCode::usage);
  }
  if (!from.starts_with("sqlite:")) {
    std::cerr << "atdesk migrate: --from: expected sqlite:PATH, got \"" << from << "\"\n";
    return to_int(ExitCode::usage);
  }
  if (!(to.starts_with("postgresql://") || to.starts_with("postgres://") ||
        to.find('=') != std::string::npos)) {
    std::cerr << "atdesk migrate: --to: expected postgresql://... or a libpq connection string\n";
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
    std::cerr << "atdesk migrate: " << report.error().message << "\n";
    return to_int(exit_code_for_local_error(report.error().code));
  }
  for (const auto& m : report->missing) {
    std::cerr << "atdesk migrate: warning: not in the spool, so not moved: " << m << "\n";
  }
  std::int64_t jobs = 0;
  for (const auto& [table, rows] : report->rows) {
    if (table == "jobs") jobs = rows;
  }
  std::cout << "moved " << jobs << " job(s) and " << report->documents << " document(s) ("
            << report->document_bytes << " bytes) from " << paths.database.string()
            << "; row counts and every document's SHA-256 match\n"
            << "  next: set [store] url in atdesk.toml and keep " << paths.key_file.string()
            << " (atdeskd on PostgreSQL opens the documents with it)\n";
  return 0;
}

}  // namespace atdesk::cli
