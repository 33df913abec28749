// How the SQL stores (SQLite, PostgreSQL) write a job's and a table's values into columns and
// read them back: the same JSON texts and checks in both, so a value that cannot be read is
// Errc::corrupt naming the job or table and the column, never a default in its place.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "atdesk/core/error.hpp"
#include "atdesk/core/job.hpp"
#include "atdesk/core/mode_table.hpp"
#include "atdesk/core/schedule.hpp"

namespace atdesk::store::rows {

std::int64_t millis(Timestamp t);
Timestamp from_millis(std::int64_t v);

// Errc::corrupt: "store: job <job>, column <column>: expected <expected>, got "<got>"".
Error corrupt(std::string_view job, std::string_view column, std::string_view expected,
              std::string_view got);

std::string sender_text(const Sender& s);  // a JSON object of the identifiers
Result<Sender> sender_from(const std::string& job, const std::string& text);
std::string recipients_json(const std::vector<Recipient>& rs);  // a JSON array of keys
Result<std::vector<Recipient>> recipients_from(const std::string& job, const std::string& text);
std::string cells_json(const ModeTable& t);
Result<ModeTable> table_from(const std::string& name, const std::string& text);
std::string schedule_json(const Schedule& s);
Result<Schedule> schedule_from(const std::string& text);

// find()'s answer from the jobs whose id starts with `prefix` (at most two read): the one job,
// Errc::not_found for none, Errc::conflict for more.
Result<Job> the_job_with_prefix(const std::string& prefix, std::vector<Job> jobs);

// A jobs row as both stores read it, in the order of kJobColumns.
constexpr const char* kJobColumns =
    "id, state, source, sender, document_name, format, pages, incomplete, size_bytes, "
    "received_at, updated_at, recipients, mode_table, printer, reason, print_attempts, "
    "printer_job, print_problem, print_failures";

struct JobRow {
  std::string id, state, source, sender, document_name, format;
  std::int64_t pages = 0, incomplete = 0, size_bytes = 0, received_at = 0, updated_at = 0;
  std::string recipients, mode_table, printer, reason;
  std::int64_t print_attempts = 0;
  std::string printer_job, print_problem;
  std::int64_t print_failures = 0;
};

Result<Job> job_from(const JobRow& row);
Result<Transition> transition_from(const JobId& job, std::int64_t at, const std::string& from,
                                   const std::string& to, std::string actor, std::string reason);

}  // namespace atdesk::store::rows
