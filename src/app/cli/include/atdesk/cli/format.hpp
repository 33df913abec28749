// Human-readable output of the atdesk CLI: aligned tables for lists, "key: value" for one object.
// Input is the JSON atdeskd sent (docs/api.md); missing fields print as empty, never throw.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "atdesk/core/language.hpp"

namespace atdesk::cli {

using Fields = std::vector<std::pair<std::string, std::string>>;

// Columns separated by two spaces, padded to the widest cell; the last column is not padded.
std::string format_table(const std::vector<std::string>& header,
                         const std::vector<std::vector<std::string>>& rows);
// "key:   value" lines with the values aligned.
std::string format_fields(const Fields& fields);

// A JSON value as a cell: strings as is, null as "", booleans yes/no, arrays joined by ", ".
std::string cell(const nlohmann::json& object, std::string_view key);

// Every function writes its labels, column names and the values people read (states, presence,
// actions, reasons) in `language` (--lang, LANG); English keeps the API's words.
std::string format_job(const nlohmann::json& job, Language language = Language::en);
// The array of {"jobs":[...]}.
std::string format_job_list(const nlohmann::json& jobs, Language language = Language::en);
std::string format_history(const nlohmann::json& history, Language language = Language::en);
std::string format_rule(const nlohmann::json& rule, Language language = Language::en);
std::string format_rules(const nlohmann::json& rules, Language language = Language::en);
// Columns on a terminal: East Asian wide characters take two (UAX #11).
std::size_t display_width(std::string_view utf8);
// {"active","tables"}
std::string format_mode_tables(const nlohmann::json& modes, Language language = Language::en);
// The grid of one table.
std::string format_mode_table(const nlohmann::json& table, Language language = Language::en);
std::string format_schedule(const nlohmann::json& schedule, Language language = Language::en);
// One Presence object.
std::string format_presence(const nlohmann::json& presence, Language language = Language::en);
std::string format_presence_list(const nlohmann::json& recipients,
                                 Language language = Language::en);
std::string format_messages(const nlohmann::json& messages, Language language = Language::en);
std::string format_printers(const nlohmann::json& printers, Language language = Language::en);
std::string format_audit(const nlohmann::json& entries, Language language = Language::en);

}  // namespace atdesk::cli
