// `atdesk backup FILE` and `atdesk restore FILE`: run on the node itself, on its state folder
// (like sqlite3's .backup), not through atdeskd: the backup is consistent while atdeskd runs, and
// a restore needs atdeskd stopped. docs/cli.md, README "Backup and restore".
#pragma once

#include <string>
#include <vector>

#include "atdesk/core/language.hpp"

namespace atdesk::cli {

// Runs `atdesk backup ...` or `atdesk restore ...` (args as main() got them); the exit code.
// `language` is the one main() chose (--lang, else the locale), as for every other command.
int run_backup_command(const std::vector<std::string>& args, Language language);

}  // namespace atdesk::cli
