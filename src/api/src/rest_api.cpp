// Route handlers of docs/api.md. Each one reads its input strictly (errors name the field and
// what was expected), calls the engine, and maps the result or the error to a response.
#include "atdesk/api/rest_api.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>

#include "atdesk/api/json_mapping.hpp"
#include "atdesk/api/metrics.hpp"
#include "atdesk/api/multipart.hpp"
#include "atdesk/api/recipients_toml.hpp"
#include "atdesk/core/messages.hpp"
#include "atdesk/core/reason.hpp"
#include "atdesk/core/text.hpp"
#include "atdesk/tz/zone.hpp"

namespace atdesk::api {
namespace {

constexpr std::string_view kPrefix = "/api/v1";

Response json_response(int status, const Json& body) {
  return Response::json_text(status, dump_json(body));
}

template <typename T>
Response or_error(const Result<T>& r, int status, auto&& to_body) {
  if (!r) return Response::error(r.error());
  return json_response(status, to_body(*r));
}

Result<long long> integer_param(const Request& request, std::string_view name, long long fallback,
                                long long min, long long max) {
  const auto text = request.query_value(name);
  if (!text) return fallback;
  long long value = 0;
  const auto* end = text->data() + text->size();
  const auto [ptr, ec] = std::from_chars(text->data(), end, value);
  if (ec != std::errc() || ptr != end || value < min || value > max) {
    return fail(Errc::invalid_argument, "query parameter " + std::string(name) +
                                            ": expected an integer from " + std::to_string(min) +
                                            " to " + std::to_string(max));
  }
  return value;
}

// A body that may be empty (then: {}) or a JSON object.
Result<Json> object_body(const Request& request) {
  if (request.body.empty()) return Json::object();
  auto j = parse_json(request.body);
  if (!j) return fail(j.error());
  if (!j->is_object()) return fail(Errc::invalid_argument, "request body: expected a JSON object");
  return j;
}

// Only these keys may appear in `j` (an object).
Result<void> only_keys(const Json& j, std::initializer_list<std::string_view> keys) {
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (auto k : keys) known = known || key == k;
    if (!known) {
      std::string list;
      for (auto k : keys) list += (list.empty() ? "" : ", ") + std::string(k);
      return fail(Errc::invalid_argument,
                  "request body: unknown field \"" + key + "\" (expected: " + list + ")");
    }
  }
  return {};
}

// An optional string field; a present value that is not a string is an error.
Result<std::optional<std::string>> string_field(const Json& j, std::string_view key,
                                                std::size_t max = 256) {
  const auto it = j.find(std::string(key));
  if (it == j.end() || it->is_null()) return std::optional<std::string>{};
  if (!it->is_string())
    return fail(Errc::invalid_argument, std::string(key) + ": expected a string");
  auto s = it->get<std::string>();
  if (s.size() > max) {
    return fail(Errc::invalid_argument,
                std::string(key) + ": expected at most " + std::to_string(max) + " bytes");
  }
  return std::optional<std::string>(std::move(s));
}

bool valid_table_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

// A `user` sees a job only when one of their recipient keys is among its recipients; an admin
// sees every job.
bool sees(const Principal& who, const Job& job) {
  if (who.role == Role::admin) return true;
  return std::any_of(job.recipients.begin(), job.recipients.end(), [&](const Recipient& r) {
    return std::find(who.recipients.begin(), who.recipients.end(), r.key()) != who.recipients.end();
  });
}

class RestApi {
 public:
  RestApi(engine::Engine& engine, chat::LocalChatService* local,
          std::function<std::string()> more_metrics)
      : engine_(engine), local_(local), more_metrics_(std::move(more_metrics)) {}

  Response submit(const Request& request, const Actor& actor) {
    const auto content_type = request.header("Content-Type");
    MultipartLimits limits;
    limits.max_part_bytes = engine_.settings().limits.max_file_bytes;
    auto parts = parse_form_data(content_type.value_or(""), request.body, limits);
    if (!parts) {
      if (parts.error().code == Errc::unsupported) {
        return Response::error(415, "unsupported",
                               "Content-Type: expected multipart/form-data with the fields "
                               "document, sender, called, name");
      }
      return Response::error(parts.error());
    }
    const FormPart* document = nullptr;
    std::optional<std::string> sender_text, called_text, name;
    for (const auto& part : *parts) {
      if (part.name == "document") {
        if (document) return Response::error(400, "invalid_argument", "document: sent twice");
        document = &part;
      } else if (part.name == "sender") {
        sender_text = std::string(part.data);
      } else if (part.name == "called") {
        called_text = std::string(part.data);
      } else if (part.name == "name") {
        name = std::string(part.data);
      } else {
        return Response::error(
            400, "invalid_argument",
            "form field \"" + part.name + "\": unknown (expected document, sender, called, name)");
      }
    }
    if (!document) {
      return Response::error(400, "invalid_argument", "document: expected a file part");
    }
    if (!sender_text || sender_text->empty()) {
      return Response::error(400, "invalid_argument",
                             "sender: expected a fax number, sip: URI, e-mail or IP address");
    }
    const auto& plan = engine_.settings().numbers;
    auto sender = parse_sender(*sender_text, plan, "sender");
    if (!sender) return Response::error(sender.error());
    if (called_text && !called_text->empty()) {
      auto called = FaxNumber::parse(*called_text, plan);
      if (!called) {
        return Response::error(400, "invalid_argument",
                               "called: expected a fax number, got \"" + *called_text + "\"");
      }
      sender->called = *called;
    }
    IncomingDocument incoming;
    incoming.data.resize(document->data.size());
    std::memcpy(incoming.data.data(), document->data.data(), document->data.size());
    incoming.name = name.value_or(document->filename.value_or("upload"));
    incoming.sender = std::move(*sender);
    incoming.source = JobSource::upload;
    auto job = engine_.submit(std::move(incoming));
    if (!job) return Response::error(job.error());
    (void)actor;
    auto response = json_response(201, to_json(*job));
    response.headers.emplace_back("Location", std::string(kPrefix) + "/jobs/" + job->id.str());
    return response;
  }

  Response list_jobs(const Request& request, const Principal& who) {
    store::JobFilter filter;
    if (auto states = request.query_value("state"); states && !states->empty()) {
      std::string_view rest = *states;
      while (!rest.empty()) {
        const auto comma = rest.find(',');
        const auto item = rest.substr(0, comma);
        const auto state = parse_job_state(item);
        if (!state) {
          return Response::error(
              400, "invalid_argument",
              "query parameter state: unknown job state \"" + std::string(item) + "\"");
        }
        filter.states.push_back(*state);
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    }
    if (auto r = request.query_value("recipient"); r && !r->empty())
      filter.recipient = std::string(*r);
    if (auto s = request.query_value("sender"); s && !s->empty()) filter.sender = std::string(*s);
    if (auto a = request.query_value("after"); a && !a->empty()) {
      auto t = parse_time(*a, "query parameter after");
      if (!t) return Response::error(t.error());
      filter.received_after = *t;
    }
    if (auto b = request.query_value("before"); b && !b->empty()) {
      auto t = parse_time(*b, "query parameter before");
      if (!t) return Response::error(t.error());
      filter.received_before = *t;
    }
    auto limit = integer_param(request, "limit", 100, 1, 1000);
    if (!limit) return Response::error(limit.error());
    filter.limit = static_cast<std::size_t>(*limit);
    const Language language = request_language(request);
    if (who.role != Role::admin) return list_own_jobs(filter, who, language);
    return or_error(engine_.jobs(filter), 200, [language](const std::vector<Job>& jobs) {
      Json list = Json::array();
      for (const auto& j : jobs) list.push_back(with_reason_text(to_json(j), language));
      return Json{{"jobs", std::move(list)}};
    });
  }

  // The jobs of a `user`: one query per recipient key of theirs (a recipient filter they give
  // must be one of them), merged newest first.
  Response list_own_jobs(store::JobFilter filter, const Principal& who, Language language) {
    std::vector<std::string> keys = who.recipients;
    if (filter.recipient) {
      const bool own = std::find(keys.begin(), keys.end(), *filter.recipient) != keys.end();
      keys = own ? std::vector<std::string>{*filter.recipient} : std::vector<std::string>{};
    }
    std::vector<Job> all;
    for (const auto& key : keys) {
      filter.recipient = key;
      auto jobs = engine_.jobs(filter);
      if (!jobs) return Response::error(jobs.error());
      for (auto& j : *jobs) {
        const bool seen = std::any_of(all.begin(), all.end(),
                                      [&](const Job& a) { return a.id.str() == j.id.str(); });
        if (!seen) all.push_back(std::move(j));
      }
    }
    std::stable_sort(all.begin(), all.end(),
                     [](const Job& a, const Job& b) { return a.received_at > b.received_at; });
    if (all.size() > filter.limit) all.resize(filter.limit);
    Json list = Json::array();
    for (const auto& j : all) list.push_back(with_reason_text(to_json(j), language));
    return json_response(200, Json{{"jobs", std::move(list)}});
  }

  // The job when `who` may see it; otherwise not_found, as for an unknown id, so that ids of
  // other people's jobs do not leak.
  Result<Job> visible_job(std::string_view id, const Principal& who) {
    auto job = engine_.job(id);
    if (!job) return job;
    if (!sees(who, *job)) {
      return fail(Errc::not_found, "job " + std::string(id) + ": no such job");
    }
    return job;
  }

  Response show_job(const Request& request, const Principal& who) {
    const Language language = request_language(request);
    return or_error(visible_job(request.param("id"), who), 200, [language](const Job& job) {
      return with_reason_text(to_json(job), language);
    });
  }

  Response history(const Request& request, const Principal& who) {
    if (auto job = visible_job(request.param("id"), who); !job) return Response::error(job.error());
    const Language language = request_language(request);
    return or_error(engine_.history(request.param("id")), 200,
                    [language](const std::vector<Transition>& history) {
                      Json list = Json::array();
                      for (const auto& t : history) {
                        list.push_back(with_reason_text(to_json(t), language));
                      }
                      return Json{{"history", std::move(list)}};
                    });
  }

  Response preview(const Request& request, const Principal& who) {
    if (auto job = visible_job(request.param("id"), who); !job) return Response::error(job.error());
    auto png = engine_.blob(request.param("id"), store::BlobKind::preview);
    if (!png) return Response::error(png.error());
    return bytes_response(*png, "image/png");
  }

  Response page(const Request& request, const Principal& who) {
    const auto n_text = request.param("n");
    int n = 0;
    const auto [ptr, ec] = std::from_chars(n_text.data(), n_text.data() + n_text.size(), n);
    if (ec != std::errc() || ptr != n_text.data() + n_text.size() || n < 1) {
      return Response::error(
          400, "invalid_argument",
          "page: expected a page number from 1, got \"" + std::string(n_text) + "\"");
    }
    auto size = integer_param(request, "size", 1200, 16, 3000);
    if (!size) return Response::error(size.error());
    auto job = visible_job(request.param("id"), who);
    if (!job) return Response::error(job.error());
    if (n > job->pages) {
      return Response::error(
          404, "not_found",
          "page " + std::to_string(n) + ": the job has " + std::to_string(job->pages) + " page(s)");
    }
    // The API counts pages from 1, the document part from 0.
    auto png = engine_.page_png(job->id.str(), n - 1, static_cast<int>(*size));
    if (!png) return Response::error(png.error());
    return bytes_response(*png, "image/png");
  }

  Response document(const Request& request, const Principal& who) {
    const auto kind_text = request.query_value("kind").value_or("original");
    if (kind_text != "original" && kind_text != "printable") {
      return Response::error(400, "invalid_argument",
                             "query parameter kind: expected original or printable");
    }
    auto job = visible_job(request.param("id"), who);
    if (!job) return Response::error(job.error());
    const bool printable = kind_text == "printable";
    auto data = engine_.blob(job->id.str(),
                             printable ? store::BlobKind::printable : store::BlobKind::original);
    if (!data) return Response::error(data.error());
    const bool pdf = printable || job->format == DocumentFormat::pdf;
    auto response = bytes_response(*data, pdf ? "application/pdf" : "image/tiff");
    response.headers.emplace_back("Content-Disposition", "attachment; filename=\"atdesk-" +
                                                             std::string(job->id.short_id()) +
                                                             (pdf ? ".pdf\"" : ".tif\""));
    return response;
  }

  Response release(const Request& request, const Principal& who) {
    if (auto job = visible_job(request.param("id"), who); !job) return Response::error(job.error());
    const Actor& actor = who.actor;
    auto body = object_body(request);
    if (!body) return Response::error(body.error());
    if (auto ok = only_keys(*body, {"printer"}); !ok) return Response::error(ok.error());
    auto printer = string_field(*body, "printer");
    if (!printer) return Response::error(printer.error());
    std::optional<std::string>& to = *printer;
    if (to && to->empty()) to.reset();
    return or_error(engine_.release(request.param("id"), to, actor), 200,
                    [](const Job& job) { return to_json(job); });
  }

  Response remove_job(const Request& request, const Principal& who) {
    if (auto job = visible_job(request.param("id"), who); !job) return Response::error(job.error());
    return or_error(engine_.remove(request.param("id"), who.actor), 200,
                    [](const Job& job) { return to_json(job); });
  }

  Response list_rules() { return or_error(engine_.recipient_rules(), 200, rules_json); }

  // The web UI's texts in one language: ?lang= (the language the person chose in the UI), else
  // the browser's Accept-Language, else [general] language.
  // The language of what people read in an answer: ?lang=, else Accept-Language, else
  // [general] language.
  Language request_language(const Request& request) const {
    std::optional<Language> language;
    if (auto lang = request.query_value("lang")) language = parse_language(*lang);
    if (!language) {
      if (auto accept = request.header("Accept-Language")) language = pick_language(*accept);
    }
    return language.value_or(engine_.settings().language);
  }

  // `reason` stays the stored text (English, the same for every reader); `reason_text` is it in
  // the reader's language (core/reason.hpp).
  static Json with_reason_text(Json j, Language language) {
    j["reason_text"] = localize_reason(j.value("reason", std::string()), language);
    return j;
  }

  Response ui_messages(const Request& request) const {
    const Language chosen = request_language(request);
    nlohmann::json texts = nlohmann::json::object();
    for (const MessageKey key : all_message_keys()) {
      const auto name = message_name(key);
      if (key == MessageKey::datetime)
        texts["datetime"] = std::string(message_template(chosen, key));
      if (!name.starts_with("web_")) continue;
      texts[std::string(name.substr(4))] = std::string(message_template(chosen, key));
    }
    nlohmann::json languages = nlohmann::json::array();
    for (const Language l : kLanguages) languages.push_back(std::string(to_string(l)));
    Response r =
        Response::json_text(200, nlohmann::json{{"language", std::string(to_string(chosen))},
                                                {"languages", languages},
                                                {"messages", texts}}
                                     .dump());
    r.headers.emplace_back("Vary", "Accept-Language");
    return r;
  }

  Response add_rule(const Request& request, const Actor& actor) {
    auto j = parse_json(request.body);
    if (!j) return Response::error(j.error());
    if (j->is_object() && j->contains("id")) {
      return Response::error(400, "invalid_argument",
                             "id: must not be set when adding a rule (the store assigns it)");
    }
    auto rule = rule_from_json(*j, engine_.settings().numbers);
    if (!rule) return Response::error(rule.error());
    auto added = engine_.add_recipient_rule(std::move(*rule), actor);
    if (!added) return Response::error(added.error());
    auto response = json_response(201, to_json(*added));
    response.headers.emplace_back(
        "Location", std::string(kPrefix) + "/recipients/" + std::to_string(added->id));
    return response;
  }

  Response replace_rules(const Request& request, const Actor& actor) {
    auto j = parse_json(request.body);
    if (!j) return Response::error(j.error());
    auto rules = rules_from_json(*j, engine_.settings().numbers);
    if (!rules) return Response::error(rules.error());
    return or_error(engine_.replace_recipient_rules(std::move(*rules), actor), 200, rules_json);
  }

  // The table as TOML (recipients_toml.hpp), offered as a file to save.
  Response export_rules_toml() {
    auto rules = engine_.recipient_rules();
    if (!rules) return Response::error(rules.error());
    auto response = Response::text(200, rules_to_toml(*rules));
    response.headers.emplace_back("Content-Disposition",
                                  "attachment; filename=\"recipients.toml\"");
    return response;
  }

  // Replaces the table with the rules of a TOML body; answers like PUT /recipients.
  Response import_rules_toml(const Request& request, const Actor& actor) {
    auto rules = rules_from_toml(request.body, engine_.settings().numbers);
    if (!rules) return Response::error(rules.error());
    return or_error(engine_.replace_recipient_rules(std::move(*rules), actor), 200, rules_json);
  }

  Response update_rule(const Request& request, const Actor& actor) {
    auto id = rule_id(request);
    if (!id) return Response::error(id.error());
    auto j = parse_json(request.body);
    if (!j) return Response::error(j.error());
    auto rule = rule_from_json(*j, engine_.settings().numbers);
    if (!rule) return Response::error(rule.error());
    if (rule->id != 0 && rule->id != *id) {
      return Response::error(400, "invalid_argument",
                             "id: the body's id differs from the id in the path");
    }
    rule->id = *id;
    if (auto ok = engine_.update_recipient_rule(*rule, actor); !ok) {
      return Response::error(ok.error());
    }
    return json_response(200, to_json(*rule));
  }

  Response remove_rule(const Request& request, const Actor& actor) {
    auto id = rule_id(request);
    if (!id) return Response::error(id.error());
    if (auto ok = engine_.remove_recipient_rule(*id, actor); !ok)
      return Response::error(ok.error());
    return Response::no_content();
  }

  Response route(const Request& request) {
    const auto& plan = engine_.settings().numbers;
    Sender sender;
    if (auto s = request.query_value("sender"); s && !s->empty()) {
      auto parsed = parse_sender(*s, plan, "query parameter sender");
      if (!parsed) return Response::error(parsed.error());
      sender = std::move(*parsed);
    }
    if (auto c = request.query_value("called"); c && !c->empty()) {
      auto called = FaxNumber::parse(*c, plan);
      if (!called) {
        return Response::error(400, "invalid_argument",
                               "query parameter called: expected a fax number");
      }
      sender.called = *called;
    }
    return or_error(engine_.route(sender), 200, [](const std::vector<Recipient>& recipients) {
      Json list = Json::array();
      for (const auto& r : recipients) list.push_back(r.key());
      return Json{{"recipients", std::move(list)}};
    });
  }

  Response list_modes() {
    auto tables = engine_.mode_tables();
    if (!tables) return Response::error(tables.error());
    const auto active = engine_.active_mode_table();
    Json list = Json::array();
    for (const auto& t : *tables) list.push_back(to_json(t, t.name() == active));
    return json_response(200, Json{{"active", active}, {"tables", std::move(list)}});
  }

  Response put_mode(const Request& request, const Actor& actor) {
    const std::string name(request.param("name"));
    if (!valid_table_name(name)) {
      return Response::error(400, "invalid_argument",
                             "mode table name: expected 1-64 letters, digits, '-' or '_'");
    }
    auto j = parse_json(request.body);
    if (!j) return Response::error(j.error());
    auto table = mode_table_from_json(*j, name);
    if (!table) return Response::error(table.error());
    if (auto ok = engine_.put_mode_table(*table, actor); !ok) return Response::error(ok.error());
    return json_response(200, to_json(*table, engine_.active_mode_table() == name));
  }

  Response remove_mode(const Request& request, const Actor& actor) {
    if (auto ok = engine_.remove_mode_table(std::string(request.param("name")), actor); !ok) {
      return Response::error(ok.error());
    }
    return Response::no_content();
  }

  Response get_schedule() {
    return or_error(engine_.schedule(), 200, [](const Schedule& s) { return to_json(s); });
  }

  // Holiday dates from [holidays] (iCalendar files and URLs), each with its name and source.
  Response get_holidays() {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& h : engine_.imported_holidays()) {
      char date[16];
      std::snprintf(date, sizeof date, "%04d-%02u-%02u", static_cast<int>(h.date.year()),
                    static_cast<unsigned>(h.date.month()), static_cast<unsigned>(h.date.day()));
      list.push_back({{"date", date}, {"name", h.name}, {"source", h.source}});
    }
    return Response::json_text(200, nlohmann::json{{"holidays", std::move(list)}}.dump());
  }

  Response put_schedule(const Request& request, const Actor& actor) {
    auto j = parse_json(request.body);
    if (!j) return Response::error(j.error());
    auto schedule = schedule_from_json(*j);
    if (!schedule) return Response::error(schedule.error());
    // The name must be one the tz database knows ("Mars/Olympus" is well-formed but no zone):
    // the daemon would otherwise fail to load the schedule's zone when it decides.
    if (auto zone = tz::load_time_zone(schedule->time_zone); !zone) {
      return Response::error(400, "invalid_argument",
                             "time_zone: expected a name from the tz database such as "
                             "\"Asia/Tokyo\" or \"UTC\", got " +
                                 quote(schedule->time_zone));
    }
    if (auto ok = engine_.put_schedule(*schedule, actor); !ok) return Response::error(ok.error());
    return json_response(200, to_json(*schedule));
  }

  // An admin sees every recipient; a `user` only their own recipient keys.
  Response presence_overview(const Request&, const Principal& who) {
    return or_error(
        engine_.recipients_overview(), 200,
        [&who](const std::vector<engine::RecipientView>& views) {
          Json list = Json::array();
          for (const auto& v : views) {
            if (who.role != Role::admin && std::find(who.recipients.begin(), who.recipients.end(),
                                                     v.recipient.key()) == who.recipients.end()) {
              continue;
            }
            Json members = Json::array();
            for (const auto& m : v.presence.members) {
              members.push_back(Json{{"address", m.address}, {"presence", to_json(m.presence)}});
            }
            Json presence = nullptr;
            if (v.presence.available && v.recipient.kind == RecipientKind::user &&
                !v.presence.members.empty()) {
              presence = to_json(v.presence.members.front().presence);
            }
            list.push_back(Json{{"recipient", v.recipient.key()},
                                {"presence", std::move(presence)},
                                {"members", std::move(members)},
                                {"error", v.presence.error},
                                {"action", to_string(v.action)},
                                {"held_jobs", v.held_jobs}});
          }
          return Json{{"recipients", std::move(list)}};
        });
  }

  Response set_presence(const Request& request) {
    if (auto missing = require_local(request.param("service"))) return *missing;
    auto j = parse_json(request.body);
    if (!j) return Response::error(j.error());
    auto presence = presence_from_json(*j);
    if (!presence) return Response::error(presence.error());
    const std::string user(request.param("user"));
    if (auto ok = local_->set_presence(user, *presence); !ok) return Response::error(ok.error());
    auto stored = local_->presence(std::span<const std::string>(&user, 1));
    if (!stored) return Response::error(stored.error());
    const auto it = stored->find(user);
    return json_response(200, to_json(it == stored->end() ? *presence : it->second));
  }

  Response set_members(const Request& request) {
    if (auto missing = require_local(request.param("service"))) return *missing;
    auto j = parse_json(request.body);
    if (!j) return Response::error(j.error());
    if (!j->is_object())
      return Response::error(400, "invalid_argument", "request body: expected an object");
    if (auto ok = only_keys(*j, {"members"}); !ok) return Response::error(ok.error());
    const auto it = j->find("members");
    if (it == j->end() || !it->is_array()) {
      return Response::error(400, "invalid_argument", "members: expected an array of user names");
    }
    std::vector<std::string> members;
    for (std::size_t i = 0; i < it->size(); ++i) {
      if (!(*it)[i].is_string()) {
        return Response::error(400, "invalid_argument",
                               "members[" + std::to_string(i) + "]: expected a string");
      }
      members.push_back((*it)[i].get<std::string>());
    }
    const std::string channel(request.param("channel"));
    if (auto ok = local_->set_channel_members(channel, members); !ok) {
      return Response::error(ok.error());
    }
    return json_response(200, Json{{"channel", channel}, {"members", members}});
  }

  Response messages(const Request& request) {
    if (!local_) return Response::error(404, "not_found", "the local chat service is not enabled");
    const auto to = request.query_value("to");
    if (!to || to->empty()) {
      return Response::error(400, "invalid_argument",
                             "query parameter to: expected a recipient key such as "
                             "user:local:alice");
    }
    auto after = integer_param(request, "after", 0, 0, std::numeric_limits<std::int64_t>::max());
    if (!after) return Response::error(after.error());
    Json list = Json::array();
    for (const auto& m : local_->messages(std::string(*to), *after)) list.push_back(to_json(m));
    return json_response(200, Json{{"messages", std::move(list)}});
  }

  Response command(const Request& request) {
    auto j = parse_json(request.body);
    if (!j) return Response::error(j.error());
    if (!j->is_object())
      return Response::error(400, "invalid_argument", "request body: expected an object");
    if (auto ok = only_keys(*j, {"service", "from", "channel", "text"}); !ok) {
      return Response::error(ok.error());
    }
    auto service = string_field(*j, "service");
    auto from = string_field(*j, "from");
    auto channel = string_field(*j, "channel");
    auto text = string_field(*j, "text", 1000);
    for (const auto* f : {&service, &from, &channel, &text}) {
      if (!*f) return Response::error(f->error());
    }
    if (auto missing = require_local(service->value_or(local_ ? local_->name() : "local"))) {
      return *missing;
    }
    const std::optional<std::string>& sender = *from;
    const std::optional<std::string>& words = *text;
    if (!sender || sender->empty()) {
      return Response::error(400, "invalid_argument", "from: expected the sender's user name");
    }
    if (!words) return Response::error(400, "invalid_argument", "text: expected the command text");
    chat::ChatCommand cmd{local_->name(), *sender, *channel, *words};
    local_->post_command(cmd);
    return json_response(202, Json{{"accepted", true}});
  }

  Response printers() {
    const auto& default_printer = engine_.settings().default_printer;
    Json list = Json::array();
    for (const auto& p : engine_.printers()) list.push_back(to_json(p, p.name == default_printer));
    return json_response(200, Json{{"printers", std::move(list)}});
  }

  Response chat_services() {
    Json list = Json::array();
    const auto errors = engine_.chat_service_errors();
    for (const auto& [name, state] : engine_.chat_services()) {
      Json service{{"name", name}, {"state", std::string(chat::to_string(state))}};
      // Why it is not connected (or last lost its connection), when the service says.
      if (const auto e = errors.find(name); e != errors.end() && !e->second.empty()) {
        service["error"] = e->second;
      }
      list.push_back(std::move(service));
    }
    return json_response(200, Json{{"services", std::move(list)}});
  }

  Response audit(const Request& request) {
    auto limit = integer_param(request, "limit", 100, 1, 1000);
    if (!limit) return Response::error(limit.error());
    auto before = integer_param(request, "before", 0, 0, std::numeric_limits<std::int64_t>::max());
    if (!before) return Response::error(before.error());
    return or_error(engine_.audit(static_cast<std::size_t>(*limit), *before), 200,
                    [](const std::vector<store::AuditEntry>& entries) {
                      Json list = Json::array();
                      for (const auto& e : entries) list.push_back(to_json(e));
                      return Json{{"entries", std::move(list)}};
                    });
  }

  Response metrics() {
    auto text = render_metrics(engine_.metrics(), engine_.chat_services(), engine_.printers());
    if (more_metrics_) text += more_metrics_();
    return Response::text(200, std::move(text), std::string(kMetricsContentType));
  }

 private:
  static Json rules_json(const std::vector<RecipientRule>& rules) {
    Json list = Json::array();
    for (const auto& r : rules) list.push_back(to_json(r));
    return Json{{"rules", std::move(list)}};
  }

  static Result<std::int64_t> rule_id(const Request& request) {
    const auto text = request.param("id");
    std::int64_t id = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (ec != std::errc() || ptr != text.data() + text.size() || id < 1) {
      return fail(Errc::invalid_argument,
                  "rule id: expected a positive integer, got \"" + std::string(text) + "\"");
    }
    return id;
  }

  static Response bytes_response(const std::vector<std::byte>& data, std::string content_type) {
    return Response::text(200, std::string(reinterpret_cast<const char*>(data.data()), data.size()),
                          std::move(content_type));
  }

  // A 404 unless `service` names the configured local chat service.
  std::optional<Response> require_local(std::string_view service) const {
    if (!local_) {
      return Response::error(404, "not_found", "the local chat service is not enabled");
    }
    if (service != local_->name()) {
      return Response::error(404, "not_found",
                             "chat service \"" + std::string(service) +
                                 "\": only the local service (\"" + local_->name() +
                                 "\") takes presence and commands through the API");
    }
    return std::nullopt;
  }

  engine::Engine& engine_;
  chat::LocalChatService* local_;
  std::function<std::string()> more_metrics_;
};

}  // namespace

void install_rest_api(Router& router, engine::Engine& engine, chat::LocalChatService* local,
                      const Authenticator& auth, std::function<std::string()> more_metrics) {
  auto api = std::make_shared<RestApi>(engine, local, std::move(more_metrics));
  const std::string p(kPrefix);
  // Routes for administrators only (the recipient table, mode tables, schedule, presence of
  // others, the local chat service, audit, metrics, ingress): a `user` gets 403.
  auto admin_only = [&](std::string method, std::string_view pattern, auto call) {
    router.add(std::move(method), pattern,
               authorized(auth, [api, call](const Request& r, const Principal& who) {
                 if (who.role != Role::admin) {
                   return Response::error(
                       403, "permission_denied",
                       "this needs the admin role (signed in as " + who.actor + ")");
                 }
                 return call(*api, r, who.actor);
               }));
  };
  auto get0 = [&](std::string_view pattern, Response (RestApi::*fn)()) {
    admin_only("GET", pattern,
               [fn](RestApi& a, const Request&, const Actor&) { return (a.*fn)(); });
  };
  auto get = [&](std::string_view pattern, Response (RestApi::*fn)(const Request&)) {
    admin_only("GET", pattern,
               [fn](RestApi& a, const Request& r, const Actor&) { return (a.*fn)(r); });
  };
  auto act = [&](std::string method, std::string_view pattern,
                 Response (RestApi::*fn)(const Request&, const Actor&)) {
    admin_only(std::move(method), pattern, [fn](RestApi& a, const Request& r, const Actor& actor) {
      return (a.*fn)(r, actor);
    });
  };
  auto put = [&](std::string method, std::string_view pattern,
                 Response (RestApi::*fn)(const Request&)) {
    admin_only(std::move(method), pattern,
               [fn](RestApi& a, const Request& r, const Actor&) { return (a.*fn)(r); });
  };
  // Routes for every signed-in caller, scoped by the handler to what the caller may see.
  auto scoped = [&](std::string method, std::string_view pattern,
                    Response (RestApi::*fn)(const Request&, const Principal&)) {
    router.add(std::move(method), pattern,
               authorized(auth, [api, fn](const Request& r, const Principal& who) {
                 return ((*api).*fn)(r, who);
               }));
  };

  router.add_public(
      "GET", "/healthz", [](const Request&) { return Response::text(200, "ok\n"); },
      "liveness for load balancers and service managers; says only \"ok\"");
  router.add_public(
      "GET", p + "/ui-messages", [api](const Request& r) { return api->ui_messages(r); },
      "the web UI's texts in English or Japanese (the sign-in page needs them); the same for "
      "everyone, no data");
  get0("/metrics", &RestApi::metrics);

  act("POST", p + "/jobs", &RestApi::submit);
  scoped("GET", p + "/jobs", &RestApi::list_jobs);
  scoped("GET", p + "/jobs/{id}", &RestApi::show_job);
  scoped("GET", p + "/jobs/{id}/history", &RestApi::history);
  scoped("GET", p + "/jobs/{id}/preview.png", &RestApi::preview);
  scoped("GET", p + "/jobs/{id}/pages/{n}.png", &RestApi::page);
  scoped("GET", p + "/jobs/{id}/document", &RestApi::document);
  scoped("POST", p + "/jobs/{id}/release", &RestApi::release);
  scoped("DELETE", p + "/jobs/{id}", &RestApi::remove_job);

  get0(p + "/recipients", &RestApi::list_rules);
  act("POST", p + "/recipients", &RestApi::add_rule);
  act("PUT", p + "/recipients", &RestApi::replace_rules);
  get0(p + "/recipients/export.toml", &RestApi::export_rules_toml);
  act("PUT", p + "/recipients/import.toml", &RestApi::import_rules_toml);
  act("PUT", p + "/recipients/{id}", &RestApi::update_rule);
  act("DELETE", p + "/recipients/{id}", &RestApi::remove_rule);
  get(p + "/route", &RestApi::route);

  get0(p + "/modes", &RestApi::list_modes);
  act("PUT", p + "/modes/{name}", &RestApi::put_mode);
  act("DELETE", p + "/modes/{name}", &RestApi::remove_mode);
  get0(p + "/schedule", &RestApi::get_schedule);
  act("PUT", p + "/schedule", &RestApi::put_schedule);
  get0(p + "/holidays", &RestApi::get_holidays);

  scoped("GET", p + "/presence", &RestApi::presence_overview);
  put("PUT", p + "/presence/{service}/{user}", &RestApi::set_presence);
  put("PUT", p + "/channels/{service}/{channel}/members", &RestApi::set_members);
  get(p + "/messages", &RestApi::messages);
  put("POST", p + "/commands", &RestApi::command);

  // Every signed-in caller may list printers (a user chooses one to release a job to).
  router.add("GET", p + "/printers",
             authorized(auth, [api](const Request&, const Principal&) { return api->printers(); }));
  // Chat services and their connection state (the overview page); names only, no secrets.
  router.add("GET", p + "/chat-services", authorized(auth, [api](const Request&, const Principal&) {
               return api->chat_services();
             }));
  get(p + "/audit", &RestApi::audit);
  // The routes this router has, open or not (an admin's check that nothing is open by mistake).
  const Router* routes = &router;
  admin_only("GET", p + "/routes", [routes](RestApi&, const Request&, const Actor&) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : routes->routes()) {
      out.push_back({{"method", r.method}, {"pattern", r.pattern}, {"public", r.open}});
      if (r.open) out.back()["why"] = r.why_open;
    }
    return Response::json_text(200, out.dump());
  });
}

}  // namespace atdesk::api
