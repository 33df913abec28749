// `atdesk fax send`: sends a TIFF to a SIP URI with atdesk's own SIP/T.30 stack (no atdeskd
// involved), so an operator can check a trunk or PBX end to end. docs/sip.md.
#pragma once

#include <string>
#include <vector>

#include "atdesk/core/language.hpp"

namespace atdesk::cli {

// Runs `atdesk fax ...` (args as main() got them); returns the exit code.
// `language` is the one main() chose (--lang, else the locale), as for every other command.
int run_fax_command(const std::vector<std::string>& args, Language language);

}  // namespace atdesk::cli
