// JSON forms of jobs, tables, presence and the rest (docs/api.md), with strict readers.
#include "atdesk/api/json_mapping.hpp"
#include "atdesk/core/text.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <initializer_list>
#include <limits>

namespace atdesk::api {
namespace {

using namespace std::chrono;

std::string join(std::string_view path, std::string_view key) {
  if (path.empty()) return std::string(key);
  return std::string(path) + "." + std::string(key);
}

std::string index(std::string_view path, std::size_t i) {
  return std::string(path) + "[" + std::to_string(i) + "]";
}

std::string name_of(std::string_view path) {
  return path.empty() ? "body" : std::string(path);
}

// Field paths may hold keys from outside ("cells.<key>"): cut and cleaned like other input.
std::unexpected<Error> bad(std::string_view field, std::string what) {
  std::string name = name_of(field);
  if (name.size() > 200) name = name.substr(0, 200) + "...";
  for (auto& c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return fail(Errc::invalid_argument, name + ": " + std::move(what));
}

std::unexpected<Error> wrong_type(std::string_view field, std::string_view expected,
                                  const Json& got) {
  return bad(field, "expected " + std::string(expected) + ", got " + got.type_name());
}

// Reads the fields of one JSON object; every error names the field by its full path.
class ObjectReader {
 public:
  static Result<ObjectReader> open(const Json& j, std::string_view path,
                                   std::initializer_list<std::string_view> allowed) {
    if (!j.is_object()) return wrong_type(path, "an object", j);
    for (const auto& [key, value] : j.items()) {
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        return bad(join(path, key), "unknown field");
      }
    }
    return ObjectReader(j, path);
  }

  std::string field(std::string_view key) const { return join(path_, key); }

  // Null counts as absent.
  const Json* find(std::string_view key) const {
    const auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  Result<const Json*> required(std::string_view key) const {
    const auto* v = find(key);
    if (!v) return bad(field(key), "is required");
    return v;
  }

  Result<std::string> string(std::string_view key, std::optional<std::string> fallback = {},
                             std::size_t max = 4096) const {
    const auto* v = find(key);
    if (!v) {
      if (fallback) return *fallback;
      return bad(field(key), "is required");
    }
    if (!v->is_string()) return wrong_type(field(key), "a string", *v);
    const auto& s = v->get_ref<const std::string&>();
    if (s.size() > max) {
      return bad(field(key), "expected at most " + std::to_string(max) + " bytes");
    }
    return s;
  }

  Result<std::int64_t> integer(std::string_view key, std::optional<std::int64_t> fallback = {},
                               std::int64_t min = std::numeric_limits<std::int64_t>::min(),
                               std::int64_t max = std::numeric_limits<std::int64_t>::max()) const {
    const auto* v = find(key);
    if (!v) {
      if (fallback) return *fallback;
      return bad(field(key), "is required");
    }
    if (!v->is_number_integer()) return wrong_type(field(key), "an integer", *v);
    if (v->is_number_unsigned() &&
        v->get<std::uint64_t>() >
            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return bad(field(key), "expected an integer up to " + std::to_string(max));
    }
    const auto n = v->get<std::int64_t>();
    if (n < min || n > max) {
      return bad(field(key), "expected an integer from " + std::to_string(min) + " to " +
                                 std::to_string(max) + ", got " + std::to_string(n));
    }
    return n;
  }

  Result<bool> boolean(std::string_view key, std::optional<bool> fallback = {}) const {
    const auto* v = find(key);
    if (!v) {
      if (fallback) return *fallback;
      return bad(field(key), "is required");
    }
    if (!v->is_boolean()) return wrong_type(field(key), "true or false", *v);
    return v->get<bool>();
  }

  Result<Timestamp> time(std::string_view key, bool optional = false) const {
    const auto* v = find(key);
    if (!v) {
      if (optional) return Timestamp{};
      return bad(field(key), "is required");
    }
    if (!v->is_string()) return wrong_type(field(key), "an RFC 3339 time string", *v);
    return parse_time(v->get_ref<const std::string&>(), field(key));
  }

  // An array of strings; absent is empty.
  Result<std::vector<std::string>> strings(std::string_view key, std::size_t max_items = 10000,
                                           std::size_t max_length = 4096) const {
    std::vector<std::string> out;
    const auto* v = find(key);
    if (!v) return out;
    if (!v->is_array()) return wrong_type(field(key), "an array of strings", *v);
    if (v->size() > max_items) {
      return bad(field(key), "expected at most " + std::to_string(max_items) + " items");
    }
    for (std::size_t i = 0; i < v->size(); ++i) {
      const auto& item = (*v)[i];
      if (!item.is_string()) return wrong_type(index(field(key), i), "a string", item);
      const auto& s = item.get_ref<const std::string&>();
      if (s.size() > max_length) {
        return bad(index(field(key), i),
                   "expected at most " + std::to_string(max_length) + " bytes");
      }
      out.push_back(s);
    }
    return out;
  }

 private:
  ObjectReader(const Json& j, std::string_view path) : j_(j), path_(path) {}
  const Json& j_;
  std::string path_;
};

// Fax numbers in JSON are in display form: "+<international digits>", or the digits as written
// when no country code was known.
std::string fax_text(const std::optional<FaxNumber>& n) {
  return n ? n->display() : std::string();
}

Result<std::chrono::minutes> parse_clock_time(std::string_view text, std::string_view field,
                                              bool allow_24) {
  const auto digit = [&](std::size_t i) { return text[i] >= '0' && text[i] <= '9'; };
  if (text.size() != 5 || text[2] != ':' || !digit(0) || !digit(1) || !digit(3) || !digit(4)) {
    return bad(field, "expected a time of day \"HH:MM\", got " + quote(text));
  }
  const int h = (text[0] - '0') * 10 + (text[1] - '0');
  const int m = (text[3] - '0') * 10 + (text[4] - '0');
  if (m > 59 || h > 24 || (h == 24 && (m != 0 || !allow_24))) {
    return bad(field, std::string("expected a time of day from 00:00 to ") +
                          (allow_24 ? "24:00" : "23:59") + ", got " + quote(text));
  }
  return std::chrono::minutes(h * 60 + m);
}

std::string clock_time_text(std::chrono::minutes m) {
  char buf[8];
  const auto total = m.count();
  std::snprintf(buf, sizeof buf, "%02d:%02d", static_cast<int>(total / 60),
                static_cast<int>(total % 60));
  return buf;
}

std::string date_text(const year_month_day& d) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(d.year()),
                static_cast<unsigned>(d.month()), static_cast<unsigned>(d.day()));
  return buf;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int number(std::string_view s) {
  int n = 0;
  for (char c : s) n = n * 10 + (c - '0');
  return n;
}

Result<year_month_day> parse_date(std::string_view text, std::string_view field) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-' || !all_digits(text.substr(0, 4)) ||
      !all_digits(text.substr(5, 2)) || !all_digits(text.substr(8, 2))) {
    return bad(field, "expected a date \"YYYY-MM-DD\", got " + quote(text));
  }
  const year_month_day d{year(number(text.substr(0, 4))),
                         month(static_cast<unsigned>(number(text.substr(5, 2)))),
                         day(static_cast<unsigned>(number(text.substr(8, 2))))};
  if (!d.ok()) return bad(field, "no such date: " + quote(text));
  return d;
}

// Day names by bit: bit 0 = Sunday ... bit 6 = Saturday (ScheduleRule::days).
constexpr std::array<std::string_view, 7> kDayNames = {"sun", "mon", "tue", "wed",
                                                       "thu", "fri", "sat"};

Json days_json(std::uint8_t days) {
  Json out = Json::array();
  for (int i = 1; i <= 7; ++i) {  // Monday first, Sunday last
    const int bit = i % 7;
    if (days & (1u << bit)) out.push_back(kDayNames[static_cast<std::size_t>(bit)]);
  }
  return out;
}

Result<std::uint8_t> days_from(const ObjectReader& r) {
  const auto* v = r.find("days");
  if (!v) return static_cast<std::uint8_t>(0x7f);
  const auto field = r.field("days");
  if (!v->is_array()) return wrong_type(field, "an array of day names", *v);
  if (v->empty()) return bad(field, "expected at least one day");
  std::uint8_t days = 0;
  for (std::size_t i = 0; i < v->size(); ++i) {
    const auto& item = (*v)[i];
    if (!item.is_string()) return wrong_type(index(field, i), "a day name", item);
    std::string name = item.get<std::string>();
    std::transform(name.begin(), name.end(), name.begin(), [](char c) {
      return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    });
    const auto it = std::find(kDayNames.begin(), kDayNames.end(), name);
    if (it == kDayNames.end()) {
      return bad(index(field, i), "expected one of sun, mon, tue, wed, thu, fri, sat, got " +
                                      quote(item.get_ref<const std::string&>()));
    }
    const auto bit = static_cast<unsigned>(it - kDayNames.begin());
    if (days & (1u << bit)) return bad(index(field, i), "day " + name + " appears twice");
    days = static_cast<std::uint8_t>(days | (1u << bit));
  }
  return days;
}

Result<std::string> table_name(const ObjectReader& r, std::string_view key,
                               std::optional<std::string> fallback, bool allow_empty = false) {
  auto name = r.string(key, std::move(fallback), 64);
  if (!name) return name;
  if (allow_empty && name->empty()) return name;
  if (auto ok = ModeTable::validate_name(*name); !ok) return bad(r.field(key), ok.error().message);
  return name;
}

}  // namespace

Result<Json> parse_json(std::string_view text, std::string_view what) {
  const std::string name(what);
  if (text.size() > kMaxJsonBytes) {
    return fail(Errc::limit_exceeded,
                name + ": JSON larger than " + std::to_string(kMaxJsonBytes) + " bytes");
  }
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return fail(Errc::invalid_argument, name + ": expected a JSON document, got nothing");
  }
  // The parser recurses per nesting level: refuse deep nesting before it runs.
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        return fail(Errc::invalid_argument, name + ": invalid JSON at byte " + std::to_string(i) +
                                                ": nested deeper than " +
                                                std::to_string(kMaxJsonDepth) + " levels");
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    // e.what(): "[json.exception.parse_error.101] parse error at line 1, column 5: <why>".
    std::string why = e.what();
    if (const auto colon = why.find(": "); colon != std::string::npos) {
      why = why.substr(colon + 2);
    }
    for (auto& c : why) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    }
    const auto byte = e.byte > 0 ? e.byte - 1 : 0;  // nlohmann counts from 1
    return fail(Errc::invalid_argument,
                name + ": invalid JSON at byte " + std::to_string(byte) + ": " + why);
  } catch (const Json::out_of_range&) {
    // A number beyond double's range ("1e400"): nlohmann reports it as out_of_range.406.
    return fail(Errc::invalid_argument, name + ": invalid JSON: a number is out of range");
  }
}

std::string dump_json(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string format_time(Timestamp t) {
  const auto d = floor<days>(t);
  const year_month_day ymd{d};
  const hh_mm_ss hms{t - d};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()),
                static_cast<int>(hms.subseconds().count()));
  return buf;
}

Result<Timestamp> parse_time(std::string_view text, std::string_view field) {
  const auto expected = [&] {
    return bad(field,
               "expected an RFC 3339 time like \"2026-11-24T09:30:00.000Z\", got " + quote(text));
  };
  // YYYY-MM-DDTHH:MM:SS
  if (text.size() < 20 || (text[10] != 'T' && text[10] != 't') || text[13] != ':' ||
      text[16] != ':' || !all_digits(text.substr(11, 2)) || !all_digits(text.substr(14, 2)) ||
      !all_digits(text.substr(17, 2))) {
    return expected();
  }
  auto date = parse_date(text.substr(0, 10), field);
  if (!date) return expected();
  const int h = number(text.substr(11, 2));
  const int mi = number(text.substr(14, 2));
  const int s = number(text.substr(17, 2));
  if (h > 23 || mi > 59 || s > 60) return expected();
  std::size_t i = 19;
  int millis = 0;
  if (text[i] == '.') {
    ++i;
    const auto start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (i - start < 3) millis = millis * 10 + (text[i] - '0');
      ++i;
    }
    if (i == start) return expected();
    for (auto n = i - start; n < 3; ++n) millis *= 10;
  }
  minutes offset{0};
  const auto zone = text.substr(i);
  if (zone == "Z" || zone == "z") {
    // UTC
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':' &&
             all_digits(zone.substr(1, 2)) && all_digits(zone.substr(4, 2))) {
    const int oh = number(zone.substr(1, 2));
    const int om = number(zone.substr(4, 2));
    if (oh > 23 || om > 59) return expected();
    offset = minutes(oh * 60 + om);
    if (zone[0] == '-') offset = -offset;
  } else {
    return expected();
  }
  // A leap second (:60) is read as the next second.
  return Timestamp(sys_days(*date).time_since_epoch() + hours(h) + minutes(mi) + seconds(s) +
                   milliseconds(millis) - offset);
}

std::string_view printer_state_name(print::PrinterState s) {
  switch (s) {
    case print::PrinterState::idle:
      return "idle";
    case print::PrinterState::processing:
      return "processing";
    case print::PrinterState::stopped:
      return "stopped";
    case print::PrinterState::unreachable:
      return "unreachable";
  }
  return "unreachable";
}

// ---- Job

Json to_json(const Job& job) {
  Json recipients = Json::array();
  for (const auto& r : job.recipients) recipients.push_back(r.key());
  const auto& s = job.sender;
  return Json{{"id", job.id.str()},
              {"short_id", std::string(job.id.short_id())},
              {"state", to_string(job.state)},
              {"source", to_string(job.source)},
              {"sender",
               {{"display", s.display()},
                {"fax", fax_text(s.fax)},
                {"tsi", s.tsi},
                {"caller_id", s.caller_id},
                {"sip_uri", s.sip_uri},
                {"email", s.email},
                {"ip", s.ip},
                {"ipp_user", s.ipp_user},
                {"called", fax_text(s.called)}}},
              {"document_name", job.document_name},
              {"format", to_string(job.format)},
              {"pages", job.pages},
              {"incomplete", job.incomplete},
              {"size_bytes", job.size_bytes},
              {"received_at", format_time(job.received_at)},
              {"updated_at", format_time(job.updated_at)},
              {"recipients", std::move(recipients)},
              {"mode_table", job.mode_table},
              {"printer", job.printer},
              {"reason", job.reason},
              {"print_attempts", job.print_attempts}};
}

// ---- Transition

Json to_json(const Transition& t) {
  return Json{{"at", format_time(t.at)},
              {"from", to_string(t.from)},
              {"to", to_string(t.to)},
              {"actor", t.actor},
              {"reason", t.reason}};
}

// ---- Recipient rules

Json to_json(const RecipientRule& rule) {
  return Json{{"id", rule.id},
              {"pattern", rule.pattern.to_string()},
              {"recipient", rule.recipient.key()},
              {"printer", rule.printer},
              {"note", rule.note},
              {"language", rule.language ? std::string(to_string(*rule.language)) : ""}};
}

Result<RecipientRule> rule_from_json(const Json& j, const NumberPlan& plan, std::string_view path) {
  auto r =
      ObjectReader::open(j, path, {"id", "pattern", "recipient", "printer", "note", "language"});
  if (!r) return fail(r.error());
  RecipientRule rule;
  auto id = r->integer("id", 0, 0);
  if (!id) return fail(id.error());
  rule.id = *id;

  auto pattern = r->string("pattern", std::nullopt, 512);
  if (!pattern) return fail(pattern.error());
  auto parsed = SenderPattern::parse(*pattern, plan);
  if (!parsed) return bad(r->field("pattern"), parsed.error().message);
  rule.pattern = std::move(*parsed);

  auto recipient = r->string("recipient", std::nullopt, 512);
  if (!recipient) return fail(recipient.error());
  auto key = Recipient::parse_key(*recipient);
  if (!key) return bad(r->field("recipient"), key.error().message);
  rule.recipient = std::move(*key);

  auto printer = r->string("printer", std::string(), 64);
  if (!printer) return fail(printer.error());
  rule.printer = std::move(*printer);
  auto note = r->string("note", std::string(), 1000);
  if (!note) return fail(note.error());
  rule.note = std::move(*note);
  auto language = r->string("language", std::string(), 16);
  if (!language) return fail(language.error());
  if (!language->empty()) {
    rule.language = parse_language(*language);
    if (*language != "en" && *language != "ja") {
      return bad(r->field("language"),
                 "expected \"en\", \"ja\" or \"\" (the default), got " + quote(*language, 16));
    }
  }
  return rule;
}

Result<std::vector<RecipientRule>> rules_from_json(const Json& j, const NumberPlan& plan) {
  auto r = ObjectReader::open(j, "", {"rules"});
  if (!r) return fail(r.error());
  auto list = r->required("rules");
  if (!list) return fail(list.error());
  if (!(*list)->is_array()) return wrong_type("rules", "an array of rules", **list);
  std::vector<RecipientRule> out;
  for (std::size_t i = 0; i < (*list)->size(); ++i) {
    auto rule = rule_from_json((**list)[i], plan, index("rules", i));
    if (!rule) return fail(rule.error());
    out.push_back(std::move(*rule));
  }
  return out;
}

// ---- Mode tables

Json to_json(const ModeTable& table, bool active) {
  Json cells = Json::object();
  for (auto a : kAllAvailabilities) {
    Json row = Json::object();
    for (auto w : kAllWorkLocations) row[std::string(to_string(w))] = to_string(table.lookup(a, w));
    cells[std::string(to_string(a))] = std::move(row);
  }
  return Json{{"name", table.name()}, {"active", active}, {"cells", std::move(cells)}};
}

Result<ModeTable> mode_table_from_json(const Json& j, const std::string& name,
                                       std::string_view path) {
  auto r = ObjectReader::open(j, path, {"name", "active", "cells"});
  if (!r) return fail(r.error());
  auto cells = r->required("cells");
  if (!cells) return fail(cells.error());
  const auto cells_path = r->field("cells");
  if (!(*cells)->is_object()) return wrong_type(cells_path, "an object", **cells);
  ModeTable table(name);
  std::array<bool, ModeTable::kRows * ModeTable::kColumns> seen{};
  for (const auto& [a_key, row] : (*cells)->items()) {
    const auto row_path = join(cells_path, a_key);
    const auto a = parse_availability(a_key);
    if (!a) {
      return bad(row_path,
                 "unknown availability; expected one of available, busy, do_not_disturb, away, "
                 "be_right_back, offline, unknown");
    }
    if (!row.is_object()) return wrong_type(row_path, "an object of work locations", row);
    for (const auto& [w_key, value] : row.items()) {
      const auto cell_path = join(row_path, w_key);
      const auto w = parse_work_location(w_key);
      if (!w) {
        return bad(cell_path,
                   "unknown work location; expected one of office, remote, time_off, unknown");
      }
      if (!value.is_string()) return wrong_type(cell_path, "\"print\" or \"hold\"", value);
      const auto action = parse_action(value.get_ref<const std::string&>());
      if (!action) {
        return bad(cell_path, "expected \"print\" or \"hold\", got " +
                                  quote(value.get_ref<const std::string&>()));
      }
      auto& mark =
          seen[static_cast<std::size_t>(*a) * ModeTable::kColumns + static_cast<std::size_t>(*w)];
      if (mark) return bad(cell_path, "the same cell appears twice");
      mark = true;
      table.set(*a, *w, *action);
    }
  }
  return table;
}

// ---- Schedule

Json to_json(const Schedule& schedule) {
  Json holidays = Json::array();
  for (const auto& d : schedule.holidays) holidays.push_back(date_text(d));
  Json rules = Json::array();
  for (const auto& rule : schedule.rules) {
    rules.push_back(Json{{"table", rule.table},
                         {"days", days_json(rule.days)},
                         {"start", clock_time_text(rule.start)},
                         {"end", clock_time_text(rule.end)}});
  }
  return Json{{"time_zone", schedule.time_zone},
              {"default_table", schedule.default_table},
              {"holiday_table", schedule.holiday_table},
              {"holidays", std::move(holidays)},
              {"rules", std::move(rules)}};
}

Result<Schedule> schedule_from_json(const Json& j, std::string_view path) {
  auto r = ObjectReader::open(j, path,
                              {"time_zone", "default_table", "holiday_table", "holidays", "rules"});
  if (!r) return fail(r.error());
  Schedule schedule;
  auto zone = r->string("time_zone", schedule.time_zone, 64);
  if (!zone) return fail(zone.error());
  if (zone->empty() || std::any_of(zone->begin(), zone->end(), [](char c) {
        return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
      })) {
    return bad(r->field("time_zone"),
               "expected a time zone name like \"Asia/Tokyo\", got " + quote(*zone));
  }
  schedule.time_zone = std::move(*zone);
  auto default_table = table_name(*r, "default_table", schedule.default_table);
  if (!default_table) return fail(default_table.error());
  schedule.default_table = std::move(*default_table);
  auto holiday_table = table_name(*r, "holiday_table", schedule.holiday_table, true);
  if (!holiday_table) return fail(holiday_table.error());
  schedule.holiday_table = std::move(*holiday_table);

  auto holidays = r->strings("holidays", 3660, 10);
  if (!holidays) return fail(holidays.error());
  for (std::size_t i = 0; i < holidays->size(); ++i) {
    auto d = parse_date((*holidays)[i], index(r->field("holidays"), i));
    if (!d) return fail(d.error());
    schedule.holidays.push_back(*d);
  }

  if (const auto* rules = r->find("rules")) {
    const auto rules_path = r->field("rules");
    if (!rules->is_array()) return wrong_type(rules_path, "an array of rules", *rules);
    if (rules->size() > 1000) return bad(rules_path, "expected at most 1000 rules");
    for (std::size_t i = 0; i < rules->size(); ++i) {
      const auto rule_path = index(rules_path, i);
      auto rr = ObjectReader::open((*rules)[i], rule_path, {"table", "days", "start", "end"});
      if (!rr) return fail(rr.error());
      ScheduleRule rule;
      auto table = table_name(*rr, "table", std::nullopt);
      if (!table) return fail(table.error());
      rule.table = std::move(*table);
      auto days = days_from(*rr);
      if (!days) return fail(days.error());
      rule.days = *days;
      auto start = rr->string("start", "00:00", 16);
      if (!start) return fail(start.error());
      auto start_time = parse_clock_time(*start, rr->field("start"), false);
      if (!start_time) return fail(start_time.error());
      rule.start = *start_time;
      auto end = rr->string("end", "24:00", 16);
      if (!end) return fail(end.error());
      auto end_time = parse_clock_time(*end, rr->field("end"), true);
      if (!end_time) return fail(end_time.error());
      rule.end = *end_time;
      schedule.rules.push_back(std::move(rule));
    }
  }
  return schedule;
}

// ---- Presence

Json to_json(const Presence& presence) {
  return Json{{"availability", to_string(presence.availability)},
              {"location", to_string(presence.location)},
              {"status_text", presence.status_text},
              {"observed_at", presence.observed_at == Timestamp{}
                                  ? Json(nullptr)
                                  : Json(format_time(presence.observed_at))}};
}

Result<Presence> presence_from_json(const Json& j, std::string_view path) {
  auto r = ObjectReader::open(j, path, {"availability", "location", "status_text", "observed_at"});
  if (!r) return fail(r.error());
  Presence p;
  auto availability = r->string("availability", std::nullopt, 64);
  if (!availability) return fail(availability.error());
  const auto a = parse_availability(*availability);
  if (!a) {
    return bad(r->field("availability"),
               "expected one of available, busy, do_not_disturb, away, be_right_back, offline, "
               "unknown, got " +
                   quote(*availability));
  }
  p.availability = *a;
  auto location = r->string("location", "unknown", 64);
  if (!location) return fail(location.error());
  const auto w = parse_work_location(*location);
  if (!w) {
    return bad(r->field("location"),
               "expected one of office, remote, time_off, unknown, got " + quote(*location));
  }
  p.location = *w;
  auto text = r->string("status_text", std::string(), 500);
  if (!text) return fail(text.error());
  p.status_text = std::move(*text);
  auto observed = r->time("observed_at", true);
  if (!observed) return fail(observed.error());
  p.observed_at = *observed;
  return p;
}

// ---- Printers, audit, messages

Json to_json(const print::PrinterStatus& status, bool is_default) {
  return Json{{"name", status.name},
              {"uri", status.uri},
              {"state", printer_state_name(status.state)},
              {"state_reasons", status.state_reasons},
              {"formats", status.formats},
              {"message", status.message},
              {"default", is_default}};
}

Json to_json(const store::AuditEntry& entry) {
  return Json{{"id", entry.id},         {"at", format_time(entry.at)}, {"actor", entry.actor},
              {"action", entry.action}, {"subject", entry.subject},    {"detail", entry.detail}};
}

Json to_json(const chat::StoredMessage& message) {
  return Json{{"seq", message.seq},       {"at", format_time(message.at)},
              {"to", message.to},         {"text", message.text},
              {"job_id", message.job_id}, {"has_preview", message.has_preview}};
}

}  // namespace atdesk::api
