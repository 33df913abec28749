// The JSON forms of atdesk's objects, as docs/api.md describes them, in both directions. Readers
// are strict: wrong types, unknown fields and bad values are Errc::invalid_argument naming the
// field by its path ("rules[2].pattern: ..."). Times are RFC 3339 UTC with milliseconds.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "atdesk/chat/local/local_chat_service.hpp"
#include "atdesk/core/error.hpp"
#include "atdesk/core/job.hpp"
#include "atdesk/core/mode_table.hpp"
#include "atdesk/core/presence.hpp"
#include "atdesk/core/recipient_table.hpp"
#include "atdesk/core/schedule.hpp"
#include "atdesk/core/sender.hpp"
#include "atdesk/print/printer.hpp"
#include "atdesk/store/table_store.hpp"

namespace atdesk::api {

using Json = nlohmann::json;

// Limits of a JSON request body: larger is Errc::limit_exceeded, deeper nesting
// Errc::invalid_argument (the parser recurses).
inline constexpr std::size_t kMaxJsonBytes = 4u << 20;
inline constexpr std::size_t kMaxJsonDepth = 64;

// Parses a request body. Broken JSON: Errc::invalid_argument naming the byte offset
// ("request body: invalid JSON at byte 17: ..."). An empty body is an error too.
Result<Json> parse_json(std::string_view text, std::string_view what = "request body");

// Serialises for a response; invalid UTF-8 in strings (a fax's TSI, a file name) is replaced
// with U+FFFD instead of failing.
std::string dump_json(const Json& json);

// "2026-11-24T09:30:00.000Z".
std::string format_time(Timestamp t);
// RFC 3339: "2026-11-24T09:30:00Z", with optional fraction (cut to milliseconds) and a 'Z' or
// "+09:00" offset. `field` names the input in the error.
Result<Timestamp> parse_time(std::string_view text, std::string_view field);

// The API's names of printer states: "idle", "processing", "stopped", "unreachable".
std::string_view printer_state_name(print::PrinterState s);

// Readers (of what the API accepts: rules, mode tables, schedules, presence) take the path of
// the value ("", "rules[2]") to name fields in errors. Fax numbers are written in display form
// ("+81312345678").
Json to_json(const Job& job);

// Transition JSON does not carry the job id.
Json to_json(const Transition& t);

// `pattern` is read with SenderPattern::parse and `plan`; `recipient` with Recipient::parse_key.
// A missing id reads as 0 (a rule not yet stored).
Json to_json(const RecipientRule& rule);
Result<RecipientRule> rule_from_json(const Json& j, const NumberPlan& plan,
                                     std::string_view path = "");
// {"rules": [Rule]}: each rule's errors are named "rules[i].<field>".
Result<std::vector<RecipientRule>> rules_from_json(const Json& j, const NumberPlan& plan);

// {"name", "active", "cells": {"<availability>": {"<location>": "print"|"hold"}}} with all cells.
Json to_json(const ModeTable& table, bool active);
// Reads "cells" into a table called `name` (already validated by the caller); missing cells
// are hold. "name" and "active" may be present (a GET result sent back) and are ignored.
Result<ModeTable> mode_table_from_json(const Json& j, const std::string& name,
                                       std::string_view path = "");

Json to_json(const Schedule& schedule);
Result<Schedule> schedule_from_json(const Json& j, std::string_view path = "");

// observed_at is null when unknown (the epoch).
Json to_json(const Presence& presence);
Result<Presence> presence_from_json(const Json& j, std::string_view path = "");

// {"name", "uri", "state", "state_reasons", "formats", "message", "default"}
Json to_json(const print::PrinterStatus& status, bool is_default);

// {"id", "at", "actor", "action", "subject", "detail"}
Json to_json(const store::AuditEntry& entry);

// {"seq", "at", "to", "text", "job_id", "has_preview"}
Json to_json(const chat::StoredMessage& message);

}  // namespace atdesk::api
