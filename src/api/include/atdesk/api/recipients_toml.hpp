// The recipient table as TOML (issue 5; DESIGN.md: the tables a user edits can be exported and
// imported as TOML). One [[rule]] table per rule, in table order:
//
//   [[rule]]
//   pattern = "prefix:03"            # a SenderPattern text (recipient_table.hpp)
//   recipient = "user:local:alice"   # a recipient key
//   printer = "floor2"               # optional; empty or absent: the default printer
//   note = "Tokyo office"            # optional
//
// Rule ids are not part of the TOML: an import replaces the whole table and the store assigns
// new ids. The reader is strict: unknown keys, wrong types and bad values are
// Errc::invalid_argument naming the rule (counted from 1) and the key ("rule 3: pattern: ...").
// Text that is not UTF-8 is refused before the TOML parser sees it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "atdesk/core/error.hpp"
#include "atdesk/core/recipient_table.hpp"
#include "atdesk/core/sender.hpp"

namespace atdesk::api {

// TOML of the rules; rules_from_toml(rules_to_toml(r)) gives r back (without ids).
std::string rules_to_toml(const std::vector<RecipientRule>& rules);

// Reads the rules of a TOML text (an empty text or one without [[rule]] tables: no rules).
Result<std::vector<RecipientRule>> rules_from_toml(std::string_view text, const NumberPlan& plan);

}  // namespace atdesk::api
