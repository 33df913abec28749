#include "atdesk/cli/format.hpp"

#include "atdesk/core/messages.hpp"
#include "atdesk/core/reason.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

namespace atdesk::cli {
namespace {

using nlohmann::json;
using enum MessageKey;

std::string say(Language language, MessageKey key) {
  return message(language, key);
}

// A value of the API people read ("held", "busy", "print") in `language`; English keeps the
// API's own word, which scripts and the docs use.
std::string value_word(Language language, const std::string& value) {
  if (language == Language::en || value.empty()) return value;
  static const std::vector<std::pair<std::string_view, MessageKey>> kWords = {
      {"received", web_state_received},
      {"stored", web_state_stored},
      {"held", web_state_held},
      {"releasing", web_state_releasing},
      {"printing", web_state_printing},
      {"printed", web_state_printed},
      {"failed", web_state_failed},
      {"deleted", web_state_deleted},
      {"expired", web_state_expired},
      {"print", reason_policy_print},
      {"hold", reason_policy_hold},
      {"available", reason_presence_available},
      {"busy", reason_presence_busy},
      {"do_not_disturb", reason_presence_do_not_disturb},
      {"away", reason_presence_away},
      {"be_right_back", reason_presence_be_right_back},
      {"offline", reason_presence_offline},
      {"unknown", reason_presence_unknown},
      {"office", reason_presence_office},
      {"remote", reason_presence_remote},
      {"time_off", reason_presence_time_off},
      {"idle", web_printer_idle},
      {"processing", web_printer_processing},
      {"stopped", web_printer_stopped},
      {"unreachable", web_printer_unreachable},
  };
  for (const auto& [word, key] : kWords) {
    if (value == word) return message(language, key);
  }
  return value;
}

const json& field(const json& object, std::string_view key) {
  static const json kNull;  // constant, never written: a missing field reads as null
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

std::string scalar(const json& value, Language language = Language::en) {
  if (value.is_null()) return "";
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return say(language, value.get<bool>() ? cli_yes : cli_no);
  if (value.is_array()) {
    std::string out;
    for (const auto& item : value) {
      if (!out.empty()) out += ", ";
      out += scalar(item, language);
    }
    return out;
  }
  return value.dump();
}

const json& array_or_empty(const json& value) {
  static const json kEmpty = json::array();
  return value.is_array() ? value : kEmpty;
}

// "busy, remote" from a Presence object; "" for null.
std::string presence_cell(const json& presence, Language language) {
  if (!presence.is_object()) return "";
  std::string out = value_word(language, cell(presence, "availability"));
  const std::string location = cell(presence, "location");
  if (!location.empty()) out += ", " + value_word(language, location);
  return out;
}

std::string size_cell(const json& bytes) {
  if (!bytes.is_number()) return scalar(bytes);
  const double n = bytes.get<double>();
  if (n < 1024) return scalar(bytes) + " B";
  char buffer[32];
  if (n < 1024.0 * 1024.0) {
    std::snprintf(buffer, sizeof buffer, "%.1f KiB", n / 1024.0);
  } else {
    std::snprintf(buffer, sizeof buffer, "%.1f MiB", n / (1024.0 * 1024.0));
  }
  return buffer;
}

}  // namespace

std::string cell(const json& object, std::string_view key) {
  return scalar(field(object, key));
}

std::size_t display_width(std::string_view utf8) {
  std::size_t width = 0;
  for (std::size_t i = 0; i < utf8.size();) {
    const auto lead = static_cast<unsigned char>(utf8[i]);
    const std::size_t length = lead < 0x80 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
    char32_t c = length == 1 ? lead : lead & (0xff >> (length + 1));
    for (std::size_t k = 1; k < length && i + k < utf8.size(); ++k) {
      c = (c << 6) | (static_cast<unsigned char>(utf8[i + k]) & 0x3f);
    }
    // East Asian Wide and Fullwidth (UAX #11), the ranges Japanese text uses.
    const bool wide = (c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0xa4cf) ||
                      (c >= 0xac00 && c <= 0xd7a3) || (c >= 0xf900 && c <= 0xfaff) ||
                      (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff60) ||
                      (c >= 0xffe0 && c <= 0xffe6) || (c >= 0x20000 && c <= 0x3fffd);
    width += wide ? 2 : 1;
    i += length;
  }
  return width;
}

std::string format_table(const std::vector<std::string>& header,
                         const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(header.size(), 0);
  auto measure = [&widths](const std::vector<std::string>& row) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], display_width(row[i]));
    }
  };
  measure(header);
  for (const auto& row : rows) measure(row);

  std::string out;
  auto emit = [&](const std::vector<std::string>& row) {
    std::string line;
    for (std::size_t i = 0; i < widths.size(); ++i) {
      const std::string& text = i < row.size() ? row[i] : std::string();
      line += text;
      if (i + 1 < widths.size()) line += std::string(widths[i] - display_width(text) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  };
  emit(header);
  for (const auto& row : rows) emit(row);
  return out;
}

std::string format_fields(const Fields& fields) {
  std::size_t width = 0;
  for (const auto& [key, value] : fields) width = std::max(width, display_width(key));
  std::string out;
  for (const auto& [key, value] : fields) {
    out += key + ":" + std::string(width - display_width(key) + 1, ' ') + value;
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += "\n";
  }
  return out;
}

std::string format_job(const json& job, Language language) {
  const auto l = [language](MessageKey key) { return say(language, key); };
  // The stored reason (English) in the reader's language (core/reason.hpp).
  const std::string reason = localize_reason(cell(job, "reason"), language);
  Fields fields = {{l(cli_field_id), cell(job, "id")},
                   {l(cli_field_short_id), cell(job, "short_id")},
                   {l(cli_field_state), value_word(language, cell(job, "state"))}};
  if (!reason.empty()) fields.emplace_back(l(cli_field_reason), reason);
  fields.emplace_back(l(cli_field_source), cell(job, "source"));
  // Only the sender fields that are set: most senders have one or two.
  static constexpr std::array<std::pair<const char*, MessageKey>, 9> kSender = {{
      {"display", cli_field_sender},
      {"fax", cli_field_sender_fax},
      {"tsi", cli_field_sender_tsi},
      {"caller_id", cli_field_caller_id},
      {"sip_uri", cli_field_sender_sip},
      {"email", cli_field_sender_email},
      {"ip", cli_field_sender_ip},
      {"ipp_user", cli_field_sender_ipp_user},
      {"called", cli_field_called},
  }};
  const json& sender = field(job, "sender");
  for (const auto& [key, label] : kSender) {
    std::string value = cell(sender, key);
    if (!value.empty()) fields.emplace_back(l(label), std::move(value));
  }
  std::string format = cell(job, "format");
  std::string pages = cell(job, "pages");
  if (field(job, "incomplete").is_boolean() && field(job, "incomplete").get<bool>()) {
    pages += l(cli_incomplete);
  }
  fields.insert(fields.end(), {
                                  {l(cli_field_document), cell(job, "document_name")},
                                  {l(cli_field_format), format},
                                  {l(cli_field_pages), pages},
                                  {l(cli_field_size), size_cell(field(job, "size_bytes"))},
                                  {l(cli_field_received), cell(job, "received_at")},
                                  {l(cli_field_updated), cell(job, "updated_at")},
                                  {l(cli_field_recipients), cell(job, "recipients")},
                                  {l(cli_field_mode_table), cell(job, "mode_table")},
                                  {l(cli_field_printer), cell(job, "printer")},
                                  {l(cli_field_print_attempts), cell(job, "print_attempts")},
                              });
  return format_fields(fields);
}

std::string format_job_list(const json& jobs, Language language) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& job : array_or_empty(jobs)) {
    std::string sender = cell(field(job, "sender"), "display");
    if (sender.empty()) sender = cell(field(job, "sender"), "fax");
    rows.push_back({cell(job, "short_id"), value_word(language, cell(job, "state")),
                    cell(job, "received_at"), sender, cell(job, "pages"), cell(job, "recipients"),
                    localize_reason(cell(job, "reason"), language)});
  }
  auto label = [language](MessageKey key) { return message(language, key); };
  return format_table({label(MessageKey::cli_col_id), label(MessageKey::cli_col_state),
                       label(MessageKey::cli_col_received), label(MessageKey::cli_col_sender),
                       label(MessageKey::cli_col_pages), label(MessageKey::cli_col_recipients),
                       label(MessageKey::cli_col_reason)},
                      rows);
}

std::string format_history(const json& history, Language language) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : array_or_empty(history)) {
    rows.push_back({cell(t, "at"), value_word(language, cell(t, "from")),
                    value_word(language, cell(t, "to")), cell(t, "actor"),
                    localize_reason(cell(t, "reason"), language)});
  }
  return format_table(
      {say(language, cli_col_at), say(language, cli_col_from), say(language, cli_col_to),
       say(language, cli_col_actor), say(language, cli_col_reason)},
      rows);
}

std::string format_rule(const json& rule, Language language) {
  auto label = [language](MessageKey key) { return message(language, key); };
  return format_fields({{label(MessageKey::cli_field_id), cell(rule, "id")},
                        {label(MessageKey::cli_field_pattern), cell(rule, "pattern")},
                        {label(MessageKey::cli_field_recipient), cell(rule, "recipient")},
                        {label(MessageKey::cli_field_printer), cell(rule, "printer")},
                        {label(MessageKey::cli_field_note), cell(rule, "note")},
                        {label(MessageKey::cli_field_language), cell(rule, "language")}});
}

std::string format_rules(const json& rules, Language language) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : array_or_empty(rules)) {
    rows.push_back({cell(r, "id"), cell(r, "pattern"), cell(r, "recipient"), cell(r, "printer"),
                    cell(r, "note"), cell(r, "language")});
  }
  auto label = [language](MessageKey key) { return message(language, key); };
  return format_table({label(MessageKey::cli_col_id), label(MessageKey::cli_col_pattern),
                       label(MessageKey::cli_col_recipient), label(MessageKey::cli_col_printer),
                       label(MessageKey::cli_col_note), label(MessageKey::cli_col_language)},
                      rows);
}

std::string format_mode_tables(const json& modes, Language language) {
  std::vector<std::vector<std::string>> rows;
  const std::string active = cell(modes, "active");
  for (const auto& t : array_or_empty(field(modes, "tables"))) {
    const bool is_active = (field(t, "active").is_boolean() && field(t, "active").get<bool>()) ||
                           (!active.empty() && cell(t, "name") == active);
    int prints = 0;
    for (const auto& [availability, row] : field(t, "cells").items()) {
      if (!row.is_object()) continue;
      for (const auto& [location, action] : row.items()) prints += action == "print" ? 1 : 0;
    }
    rows.push_back(
        {cell(t, "name"), is_active ? say(language, cli_yes) : "", std::to_string(prints) + "/28"});
  }
  return format_table({say(language, cli_col_name), say(language, cli_col_active),
                       say(language, cli_col_print_cells)},
                      rows);
}

std::string format_mode_table(const json& table, Language language) {
  static constexpr std::array<const char*, 7> kAvailabilities = {
      "available", "busy", "do_not_disturb", "away", "be_right_back", "offline", "unknown"};
  static constexpr std::array<const char*, 4> kLocations = {"office", "remote", "time_off",
                                                            "unknown"};
  const json& cells = field(table, "cells");
  std::vector<std::vector<std::string>> rows;
  for (const char* availability : kAvailabilities) {
    std::vector<std::string> row = {value_word(language, availability)};
    for (const char* location : kLocations) {
      std::string action = cell(field(cells, availability), location);
      // The API's rule: missing cells hold.
      row.push_back(value_word(language, action.empty() ? "hold" : action));
    }
    rows.push_back(std::move(row));
  }
  const bool active = field(table, "active").is_boolean() && field(table, "active").get<bool>();
  return message(language, cli_mode_table_title,
                 {{"name", cell(table, "name")},
                  {"active", active ? say(language, cli_active_mark) : ""}}) +
         "\n" +
         format_table({say(language, cli_col_availability), say(language, cli_col_office),
                       say(language, cli_col_remote), say(language, cli_col_time_off),
                       say(language, cli_col_unknown)},
                      rows);
}

std::string format_schedule(const json& schedule, Language language) {
  std::string out =
      format_fields({{say(language, cli_field_time_zone), cell(schedule, "time_zone")},
                     {say(language, cli_field_default_table), cell(schedule, "default_table")},
                     {say(language, cli_field_holiday_table), cell(schedule, "holiday_table")},
                     {say(language, cli_field_holidays), cell(schedule, "holidays")}});
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : array_or_empty(field(schedule, "rules"))) {
    rows.push_back({cell(r, "table"), cell(r, "days"), cell(r, "start"), cell(r, "end")});
  }
  return out + "\n" +
         format_table({say(language, cli_col_table), say(language, cli_col_days),
                       say(language, cli_col_start), say(language, cli_col_end)},
                      rows);
}

std::string format_presence(const json& presence, Language language) {
  return format_fields(
      {{say(language, cli_field_availability),
        value_word(language, cell(presence, "availability"))},
       {say(language, cli_field_location), value_word(language, cell(presence, "location"))},
       {say(language, cli_field_status), cell(presence, "status_text")},
       {say(language, cli_field_observed), cell(presence, "observed_at")}});
}

std::string format_presence_list(const json& recipients, Language language) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : array_or_empty(recipients)) {
    rows.push_back({cell(r, "recipient"), presence_cell(field(r, "presence"), language),
                    value_word(language, cell(r, "action")), cell(r, "held_jobs"),
                    cell(r, "error")});
    // Members of a channel recipient, indented under it.
    for (const auto& m : array_or_empty(field(r, "members"))) {
      rows.push_back(
          {"  " + cell(m, "address"), presence_cell(field(m, "presence"), language), "", "", ""});
    }
  }
  return format_table(
      {say(language, cli_col_recipient), say(language, cli_col_presence),
       say(language, cli_col_action), say(language, cli_col_held), say(language, cli_col_error)},
      rows);
}

std::string format_messages(const json& messages, Language language) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : array_or_empty(messages)) {
    rows.push_back({cell(m, "seq"), cell(m, "at"), cell(m, "to"), cell(m, "job_id"),
                    scalar(field(m, "has_preview"), language), cell(m, "text")});
  }
  return format_table(
      {say(language, cli_col_seq), say(language, cli_col_at), say(language, cli_col_to_address),
       say(language, cli_col_job), say(language, cli_col_preview), say(language, cli_col_text)},
      rows);
}

std::string format_printers(const json& printers, Language language) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : array_or_empty(printers)) {
    const bool is_default = field(p, "default").is_boolean() && field(p, "default").get<bool>();
    std::string state = value_word(language, cell(p, "state"));
    const std::string reasons = cell(p, "state_reasons");
    if (!reasons.empty() && reasons != "none") state += " (" + reasons + ")";
    rows.push_back({cell(p, "name"), is_default ? say(language, cli_yes) : "", state,
                    cell(p, "uri"), cell(p, "message")});
  }
  return format_table(
      {say(language, cli_col_name), say(language, cli_col_default), say(language, cli_col_state),
       say(language, cli_col_uri), say(language, cli_col_message)},
      rows);
}

std::string format_audit(const json& entries, Language language) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : array_or_empty(entries)) {
    rows.push_back({cell(e, "id"), cell(e, "at"), cell(e, "actor"), cell(e, "action"),
                    cell(e, "subject"), cell(e, "detail")});
  }
  return format_table({say(language, cli_col_id), say(language, cli_col_at),
                       say(language, cli_col_actor), say(language, cli_col_action),
                       say(language, cli_col_subject), say(language, cli_col_detail)},
                      rows);
}

}  // namespace atdesk::cli
