#include "rows.hpp"

#include <cstdio>

#include <nlohmann/json.hpp>

namespace atdesk::store::rows {

using json = nlohmann::json;

std::int64_t millis(Timestamp t) {
  return t.time_since_epoch().count();
}
Timestamp from_millis(std::int64_t v) {
  return Timestamp(std::chrono::milliseconds(v));
}

std::string sender_text(const Sender& s) {
  return json{{"fax", s.fax ? s.fax->digits() : ""},
              {"tsi", s.tsi},
              {"caller_id", s.caller_id},
              {"sip_uri", s.sip_uri},
              {"email", s.email},
              {"ip", s.ip},
              {"ipp_user", s.ipp_user},
              {"called", s.called ? s.called->digits() : ""}}
      .dump();
}

// A stored value that cannot be read: Errc::corrupt naming the job and the column, never a
// default in its place (a job read as `failed` or with no recipients would be acted on wrongly).
Error corrupt(std::string_view job, std::string_view column, std::string_view expected,
              std::string_view got) {
  return Error{Errc::corrupt, "store: job " + std::string(job) + ", column " + std::string(column) +
                                  ": expected " + std::string(expected) + ", got \"" +
                                  std::string(got.substr(0, 80)) + "\""};
}

Result<Sender> sender_from(const std::string& job, const std::string& text) {
  Sender s;
  auto j = json::parse(text, nullptr, false);
  if (!j.is_object()) return std::unexpected(corrupt(job, "sender", "a JSON object", text));
  const NumberPlan international{};
  for (const auto* key : {"fax", "called"}) {
    const auto v = j.value(key, std::string());
    if (v.empty()) continue;
    auto n = FaxNumber::parse("+" + v, international);
    if (!n) {
      return std::unexpected(
          corrupt(job, std::string("sender.") + key, "an international number", v));
    }
    (std::string_view(key) == "fax" ? s.fax : s.called) = *n;
  }
  s.tsi = j.value("tsi", "");
  s.caller_id = j.value("caller_id", "");
  s.sip_uri = j.value("sip_uri", "");
  s.email = j.value("email", "");
  s.ip = j.value("ip", "");
  s.ipp_user = j.value("ipp_user", "");
  return s;
}

std::string recipients_json(const std::vector<Recipient>& rs) {
  json a = json::array();
  for (const auto& r : rs) a.push_back(r.key());
  return a.dump();
}

Result<std::vector<Recipient>> recipients_from(const std::string& job, const std::string& text) {
  std::vector<Recipient> out;
  auto j = json::parse(text, nullptr, false);
  if (!j.is_array()) {
    return std::unexpected(corrupt(job, "recipients", "a JSON array of recipient keys", text));
  }
  for (const auto& k : j) {
    auto r = k.is_string() ? Recipient::parse_key(k.get<std::string>())
                           : fail(Errc::corrupt, "not a string");
    if (!r) return std::unexpected(corrupt(job, "recipients", "recipient keys", k.dump()));
    out.push_back(*r);
  }
  return out;
}

std::string cells_json(const ModeTable& t) {
  json j = json::object();
  for (auto a : kAllAvailabilities) {
    for (auto w : kAllWorkLocations) {
      j[std::string(to_string(a))][std::string(to_string(w))] =
          std::string(to_string(t.lookup(a, w)));
    }
  }
  return j.dump();
}

namespace {

// What a table or the schedule holds that cannot be read: Errc::corrupt naming it and the field.
Error corrupt_row(std::string_view what, std::string_view field, std::string_view expected) {
  return Error{Errc::corrupt, "store: " + std::string(what) + ", " + std::string(field) +
                                  ": expected " + std::string(expected)};
}

}  // namespace

// Every cell must be there with "print" or "hold": a cell read as a default would change what
// happens to people's faxes without anyone having chosen it.
Result<ModeTable> table_from(const std::string& name, const std::string& text) {
  const std::string what = "mode table '" + name + "'";
  ModeTable t(name);
  auto j = json::parse(text, nullptr, false);
  if (!j.is_object()) return std::unexpected(corrupt_row(what, "cells", "a JSON object"));
  for (auto a : kAllAvailabilities) {
    for (auto w : kAllWorkLocations) {
      const auto as = std::string(to_string(a)), ws = std::string(to_string(w));
      const auto row = j.find(as);
      if (row == j.end() || !row->is_object() || !row->contains(ws) || !(*row)[ws].is_string()) {
        return std::unexpected(
            corrupt_row(what, "cells." + as + "." + ws, "\"print\" or \"hold\""));
      }
      auto act = parse_action((*row)[ws].get<std::string>());
      if (!act) {
        return std::unexpected(
            corrupt_row(what, "cells." + as + "." + ws, "\"print\" or \"hold\""));
      }
      t.set(a, w, *act);
    }
  }
  return t;
}

std::string schedule_json(const Schedule& s) {
  json holidays = json::array();
  for (const auto& d : s.holidays) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(d.year()),
                  static_cast<unsigned>(d.month()), static_cast<unsigned>(d.day()));
    holidays.push_back(buf);
  }
  json rules = json::array();
  for (const auto& r : s.rules) {
    rules.push_back(
        {{"table", r.table}, {"days", r.days}, {"start", r.start.count()}, {"end", r.end.count()}});
  }
  return json{{"time_zone", s.time_zone},
              {"default_table", s.default_table},
              {"holiday_table", s.holiday_table},
              {"holidays", holidays},
              {"rules", rules}}
      .dump();
}

Result<Schedule> schedule_from(const std::string& text) {
  constexpr std::string_view what = "schedule";
  auto j = json::parse(text, nullptr, false);
  if (!j.is_object()) return std::unexpected(corrupt_row(what, "body", "a JSON object"));
  auto string_of = [&](const json& o, const char* key) -> Result<std::string> {
    if (!o.contains(key) || !o[key].is_string()) {
      return std::unexpected(corrupt_row(what, key, "a string"));
    }
    return o[key].get<std::string>();
  };
  auto integer_of = [&](const json& o, const char* key, std::int64_t lo,
                        std::int64_t hi) -> Result<std::int64_t> {
    if (!o.contains(key) || !o[key].is_number_integer() || o[key].get<std::int64_t>() < lo ||
        o[key].get<std::int64_t>() > hi) {
      return std::unexpected(
          corrupt_row(what, std::string("rules[].") + key,
                      "an integer from " + std::to_string(lo) + " to " + std::to_string(hi)));
    }
    return o[key].get<std::int64_t>();
  };
  Schedule s;
  auto zone = string_of(j, "time_zone");
  auto default_table = string_of(j, "default_table");
  auto holiday_table = string_of(j, "holiday_table");
  if (!zone) return std::unexpected(zone.error());
  if (!default_table) return std::unexpected(default_table.error());
  if (!holiday_table) return std::unexpected(holiday_table.error());
  s.time_zone = *zone;
  s.default_table = *default_table;
  s.holiday_table = *holiday_table;
  if (!j.contains("holidays") || !j["holidays"].is_array()) {
    return std::unexpected(corrupt_row(what, "holidays", "an array of dates"));
  }
  for (const auto& h : j["holidays"]) {
    int y = 0;
    unsigned m = 0, d = 0;
    const auto date =
        h.is_string() && std::sscanf(h.get<std::string>().c_str(), "%d-%u-%u", &y, &m, &d) == 3
            ? std::chrono::year{y} / std::chrono::month{m} / std::chrono::day{d}
            : std::chrono::year_month_day{};
    if (!date.ok()) return std::unexpected(corrupt_row(what, "holidays[]", "YYYY-MM-DD dates"));
    s.holidays.push_back(date);
  }
  if (!j.contains("rules") || !j["rules"].is_array()) {
    return std::unexpected(corrupt_row(what, "rules", "an array of rules"));
  }
  for (const auto& r : j["rules"]) {
    if (!r.is_object()) return std::unexpected(corrupt_row(what, "rules[]", "objects"));
    ScheduleRule rule;
    auto table = string_of(r, "table");
    auto days = integer_of(r, "days", 0, 0x7f);
    auto start = integer_of(r, "start", 0, 24 * 60);
    auto end = integer_of(r, "end", 0, 24 * 60);
    if (!table) return std::unexpected(table.error());
    if (!days) return std::unexpected(days.error());
    if (!start) return std::unexpected(start.error());
    if (!end) return std::unexpected(end.error());
    rule.table = *table;
    rule.days = static_cast<std::uint8_t>(*days);
    rule.start = std::chrono::minutes(*start);
    rule.end = std::chrono::minutes(*end);
    s.rules.push_back(std::move(rule));
  }
  return s;
}

Result<Job> job_from(const JobRow& r) {
  Job j;
  auto id = JobId::parse(r.id);
  if (!id) return fail(Errc::corrupt, "store: bad job id " + r.id);
  j.id = *id;
  const auto& key = r.id;
  auto state = parse_job_state(r.state);
  if (!state) return std::unexpected(corrupt(key, "state", "a job state", r.state));
  j.state = *state;
  auto source = parse_job_source(r.source);
  if (!source) return std::unexpected(corrupt(key, "source", "a job source", r.source));
  j.source = *source;
  auto sender = sender_from(key, r.sender);
  if (!sender) return fail(sender.error());
  j.sender = std::move(*sender);
  j.document_name = r.document_name;
  if (r.format != "pdf" && r.format != "tiff") {
    return std::unexpected(corrupt(key, "format", "pdf or tiff", r.format));
  }
  j.format = r.format == "pdf" ? DocumentFormat::pdf : DocumentFormat::tiff;
  j.pages = static_cast<int>(r.pages);
  j.incomplete = r.incomplete != 0;
  j.size_bytes = static_cast<std::uint64_t>(r.size_bytes);
  j.received_at = from_millis(r.received_at);
  j.updated_at = from_millis(r.updated_at);
  auto recipients = recipients_from(key, r.recipients);
  if (!recipients) return fail(recipients.error());
  j.recipients = std::move(*recipients);
  j.mode_table = r.mode_table;
  j.printer = r.printer;
  j.reason = r.reason;
  j.print_attempts = static_cast<int>(r.print_attempts);
  j.printer_job = r.printer_job;
  auto problem = parse_print_problem(r.print_problem);
  if (!problem) {
    return std::unexpected(
        corrupt(key, "print_problem",
                "none, unavailable, aborted, gave_up, lost, stopped, unprintable or owner_unknown",
                r.print_problem));
  }
  j.print_problem = *problem;
  j.print_failures = static_cast<int>(r.print_failures);
  return j;
}

Result<Transition> transition_from(const JobId& job, std::int64_t at, const std::string& from,
                                   const std::string& to, std::string actor, std::string reason) {
  Transition t;
  t.job = job;
  t.at = from_millis(at);
  auto f = parse_job_state(from);
  auto s = parse_job_state(to);
  if (!f) return std::unexpected(corrupt(job.str(), "job_history.from_state", "a job state", from));
  if (!s) return std::unexpected(corrupt(job.str(), "job_history.to_state", "a job state", to));
  t.from = *f;
  t.to = *s;
  t.actor = std::move(actor);
  t.reason = std::move(reason);
  return t;
}

Result<Job> the_job_with_prefix(const std::string& prefix, std::vector<Job> jobs) {
  if (jobs.empty()) return fail(Errc::not_found, "no job " + prefix);
  if (jobs.size() > 1) {
    return fail(Errc::conflict, "job id " + prefix + " is ambiguous: give more digits");
  }
  return std::move(jobs.front());
}

}  // namespace atdesk::store::rows
