// `atdesk migrate --from sqlite:PATH --to postgresql://...`: run on the node, with atdeskd
// stopped, to move its SQLite store and spool into PostgreSQL (docs/postgresql.md).
#pragma once

#include <string>
#include <vector>

#include "atdesk/core/language.hpp"

namespace atdesk::cli {

// Runs `atdesk migrate ...` (args as main() got them); the exit code.
// `language` is the one main() chose (--lang, else the locale), as for every other command.
int run_migrate_command(const std::vector<std::string>& args, Language language);

}  // namespace atdesk::cli
