#include "atdesk/cli/run.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <utility>

#include "atdesk/cli/exit_code.hpp"
#include "atdesk/cli/format.hpp"
#include "atdesk/cli/token.hpp"
#include "atdesk/core/messages.hpp"

namespace atdesk::cli {
namespace {

using nlohmann::json;
using enum MessageKey;

constexpr std::string_view kApi = "/api/v1";

// Why a command stopped: the exit code and the line printed after "atdesk: ".
struct Failure {
  ExitCode code = ExitCode::error;
  std::string message;
};
template <class T>
using Outcome = std::expected<T, Failure>;
using Done = Outcome<void>;

std::unexpected<Failure> failure(ExitCode code, std::string message) {
  return std::unexpected<Failure>(Failure{code, std::move(message)});
}

// A member of a JSON object, or null: answers from atdeskd are read without throwing.
json member(const json& object, std::string_view key) {
  if (!object.is_object()) return json();
  auto it = object.find(key);
  return it == object.end() ? json() : *it;
}

Request make(std::string method, std::string path) {
  Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  return r;
}

FormPart text_part(std::string name, std::string value) {
  FormPart part;
  part.name = std::move(name);
  part.value = std::move(value);
  return part;
}

std::string job_path(const std::string& id) {
  return std::string(kApi) + "/jobs/" + percent_encode_segment(id);
}

// "atdeskd said: ..." from an error body {"error":{"code","message"}}, or the body's first line.
// atdeskd's detail stays as it wrote it (it names the field); the words around it follow --lang.
Failure http_failure(const Response& response, Language language) {
  std::string message;
  std::string code;
  json body = json::parse(response.body, nullptr, false);
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    message = cell(body["error"], "message");
    code = cell(body["error"], "code");
  }
  if (message.empty()) {
    message = response.body.substr(0, response.body.find('\n'));
    if (message.size() > 200) message.resize(200);
  }
  if (message.empty()) message = atdesk::message(language, cli_server_failed);
  return Failure{exit_code_for_status(response.status),
                 atdesk::message(language, cli_server_error,
                                 {{"message", message},
                                  {"status", std::to_string(response.status)},
                                  {"code", code.empty() ? "" : ", " + code}})};
}

Outcome<json> read_json_file(const std::string& file, Language language) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return failure(ExitCode::usage, message(language, cli_cannot_open, {{"file", file}}));
  json value = json::parse(in, nullptr, false);
  if (value.is_discarded()) {
    return failure(ExitCode::usage, message(language, cli_not_json_file, {{"file", file}}));
  }
  return value;
}

Outcome<std::string> read_text_file(const std::string& file, Language language) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return failure(ExitCode::usage, message(language, cli_cannot_open, {{"file", file}}));
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) {
    return failure(ExitCode::usage, message(language, cli_cannot_read, {{"file", file}}));
  }
  return text;
}

// "rules.toml", "RULES.TOML": the TOML form; every other name is read as JSON.
bool is_toml_file(const std::string& file) {
  const auto ext = std::filesystem::path(file).extension().string();
  std::string lower;
  for (char c : ext) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return lower == ".toml";
}

Done write_output(const std::string& file, const std::string& data, std::ostream& out,
                  bool announce, Language language) {
  if (file == "-") {
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    out.flush();
    return {};
  }
  std::ofstream f(file, std::ios::binary | std::ios::trunc);
  if (f) f.write(data.data(), static_cast<std::streamsize>(data.size()));
  f.close();
  if (!f) return failure(ExitCode::error, message(language, cli_cannot_write, {{"file", file}}));
  if (announce) {
    out << message(language, cli_wrote, {{"file", file}, {"bytes", std::to_string(data.size())}})
        << "\n";
  }
  return {};
}

// One invocation: sends requests (adding the token once it is needed) and prints results.
class Session {
 public:
  Session(const Invocation& inv, Transport& transport, std::ostream& out)
      : inv_(inv), transport_(transport), out_(out) {}

  Done run();

 private:
  Outcome<Response> send(Request request);
  Outcome<json> send_json(Request request);
  Outcome<std::string> token();
  // Prints the JSON as is with --json, else the human form.
  void print(const json& value, const std::string& human) {
    if (inv_.global.json) {
      out_ << value.dump(2) << "\n";
    } else {
      out_ << human;
    }
  }

  Done submit();
  Done jobs();
  Done show();
  Done job_action(Request request);
  Done binary(Request request);
  Done modes_show();
  Done modes_set();
  Done presence_set();
  Done channel_members();
  Done command();
  Done no_content(Request request, const std::string& done);
  // A text of the catalogue in the language of the output (--lang, else the environment's).
  std::string say(MessageKey key, std::initializer_list<MessageArg> args = {}) const {
    return message(inv_.global.language, key, args);
  }
  Language language() const { return inv_.global.language; }

  const Invocation& inv_;
  Transport& transport_;
  std::ostream& out_;
  std::optional<std::string> token_;
};

Outcome<std::string> Session::token() {
  if (token_) return *token_;
  Result<std::string> token = inv_.global.token ? check_token(*inv_.global.token, "ATDESK_TOKEN")
                                                : read_token_file(inv_.global.token_file);
  if (!token) {
    return failure(ExitCode::not_authorized,
                   say(cli_not_authorized, {{"error", token.error().message}}));
  }
  token_ = std::move(*token);
  return *token_;
}

Outcome<Response> Session::send(Request request) {
  if (request.authenticated) {
    auto t = token();
    if (!t) return std::unexpected(t.error());
    request.bearer_token = *t;
  }
  auto response = transport_.send(request);
  if (!response) {
    const ExitCode code = exit_code_for_transport_error(response.error().code);
    std::string message = response.error().message;
    if (code == ExitCode::cannot_connect) {
      message = say(cli_cannot_connect, {{"url", inv_.global.url}, {"error", message}});
    }
    return failure(code, std::move(message));
  }
  if (response->status < 200 || response->status >= 300) {
    return std::unexpected(http_failure(*response, language()));
  }
  return std::move(*response);
}

Outcome<json> Session::send_json(Request request) {
  const std::string what = request.method + " " + request.path;
  auto response = send(std::move(request));
  if (!response) return std::unexpected(response.error());
  if (response->status == 204 || response->body.empty()) return json(nullptr);
  json value = json::parse(response->body, nullptr, false);
  if (value.is_discarded()) {
    return failure(
        ExitCode::error,
        say(cli_body_not_json, {{"what", what}, {"status", std::to_string(response->status)}}));
  }
  return value;
}

Done Session::submit() {
  Request r = make("POST", std::string(kApi) + "/jobs");
  const std::filesystem::path file(inv_.file);
  FormPart document;
  document.name = "document";
  document.file = file;
  document.filename = file.filename().string();
  document.content_type = content_type_for(file);
  r.form.push_back(std::move(document));
  r.form.push_back(text_part("sender", inv_.sender));
  if (!inv_.called.empty()) r.form.push_back(text_part("called", inv_.called));
  if (!inv_.name.empty()) r.form.push_back(text_part("name", inv_.name));
  return job_action(std::move(r));
}

Done Session::jobs() {
  Request r = make("GET", std::string(kApi) + "/jobs");
  if (!inv_.states.empty()) {
    std::string states;
    for (const auto& s : inv_.states) states += (states.empty() ? "" : ",") + s;
    r.query.emplace_back("state", states);
  }
  if (!inv_.recipient.empty()) r.query.emplace_back("recipient", inv_.recipient);
  if (!inv_.sender.empty()) r.query.emplace_back("sender", inv_.sender);
  if (!inv_.after.empty()) r.query.emplace_back("after", inv_.after);
  if (!inv_.before.empty()) r.query.emplace_back("before", inv_.before);
  if (inv_.limit) r.query.emplace_back("limit", std::to_string(*inv_.limit));
  auto body = send_json(std::move(r));
  if (!body) return std::unexpected(body.error());
  print(*body, format_job_list(member(*body, "jobs"), inv_.global.language));
  return {};
}

Done Session::show() {
  auto job = send_json(make("GET", job_path(inv_.id)));
  if (!job) return std::unexpected(job.error());
  // The history by the job's full id, so a short id that is reused cannot mix two jobs.
  std::string id = job->is_object() ? cell(*job, "id") : "";
  if (id.empty()) id = inv_.id;
  auto history = send_json(make("GET", job_path(id) + "/history"));
  if (!history) return std::unexpected(history.error());
  json entries = member(*history, "history");
  if (!entries.is_array()) entries = json::array();
  print(json{{"job", *job}, {"history", entries}}, format_job(*job, language()) + "\n" +
                                                       say(cli_history) + "\n" +
                                                       format_history(entries, language()));
  return {};
}

Done Session::job_action(Request request) {
  auto job = send_json(std::move(request));
  if (!job) return std::unexpected(job.error());
  print(*job, format_job(*job, language()));
  return {};
}

Done Session::binary(Request request) {
  auto response = send(std::move(request));
  if (!response) return std::unexpected(response.error());
  return write_output(inv_.output, response->body, out_, true, language());
}

Done Session::modes_show() {
  auto modes = send_json(make("GET", std::string(kApi) + "/modes"));
  if (!modes) return std::unexpected(modes.error());
  for (const auto& table : member(*modes, "tables")) {
    if (cell(table, "name") == inv_.name) {
      print(table, format_mode_table(table, language()));
      return {};
    }
  }
  return failure(ExitCode::not_found, say(cli_mode_table_not_found, {{"name", inv_.name}}));
}

Done Session::modes_set() {
  auto modes = send_json(make("GET", std::string(kApi) + "/modes"));
  if (!modes) return std::unexpected(modes.error());
  json cells;
  bool found = false;
  for (const auto& table : member(*modes, "tables")) {
    if (cell(table, "name") == inv_.name) {
      cells = member(table, "cells");
      found = true;
      break;
    }
  }
  if (!found && !inv_.create) {
    return failure(ExitCode::not_found,
                   say(cli_mode_table_not_found_create, {{"name", inv_.name}}));
  }
  if (!cells.is_object()) cells = json::object();
  if (!cells[inv_.availability].is_object()) cells[inv_.availability] = json::object();
  cells[inv_.availability][inv_.location] = inv_.action;
  Request put = make("PUT", std::string(kApi) + "/modes/" + percent_encode_segment(inv_.name));
  put.json = json{{"cells", cells}};
  auto table = send_json(std::move(put));
  if (!table) return std::unexpected(table.error());
  print(*table, format_mode_table(*table, language()));
  return {};
}

Done Session::presence_set() {
  Request r = make("PUT", std::string(kApi) + "/presence/" + percent_encode_segment(inv_.service) +
                              "/" + percent_encode_segment(inv_.user));
  r.json = json{{"availability", inv_.availability},
                {"location", inv_.location.empty() ? "unknown" : inv_.location},
                {"status_text", inv_.status_text}};
  auto presence = send_json(std::move(r));
  if (!presence) return std::unexpected(presence.error());
  print(*presence, format_presence(*presence, language()));
  return {};
}

Done Session::channel_members() {
  Request r = make("PUT", std::string(kApi) + "/channels/" + percent_encode_segment(inv_.service) +
                              "/" + percent_encode_segment(inv_.channel) + "/members");
  r.json = json{{"members", inv_.members}};
  auto body = send_json(std::move(r));
  if (!body) return std::unexpected(body.error());
  if (inv_.global.json) {
    print(*body, "");
  } else {
    out_ << say(inv_.members.size() == 1 ? cli_channel_members_one : cli_channel_members_other,
                {{"channel", inv_.channel}, {"count", std::to_string(inv_.members.size())}})
         << "\n";
  }
  return {};
}

Done Session::command() {
  Request r = make("POST", std::string(kApi) + "/commands");
  r.json = json{{"service", inv_.service},
                {"from", inv_.from},
                {"channel", inv_.channel.empty() ? json(nullptr) : json(inv_.channel)},
                {"text", inv_.text}};
  auto body = send_json(std::move(r));
  if (!body) return std::unexpected(body.error());
  if (inv_.global.json) {
    print(*body, "");
  } else {
    out_ << say(cli_accepted) << "\n";
  }
  return {};
}

Done Session::no_content(Request request, const std::string& done) {
  auto body = send_json(std::move(request));
  if (!body) return std::unexpected(body.error());
  if (inv_.global.json) {
    print(*body, "");
  } else {
    out_ << done << "\n";
  }
  return {};
}

Done Session::run() {
  const std::string api(kApi);
  switch (inv_.command) {
    case Command::submit:
      return submit();
    case Command::jobs:
      return jobs();
    case Command::show:
      return show();
    case Command::history: {
      auto body = send_json(make("GET", job_path(inv_.id) + "/history"));
      if (!body) return std::unexpected(body.error());
      print(*body, format_history(member(*body, "history"), language()));
      return {};
    }
    case Command::release: {
      Request r = make("POST", job_path(inv_.id) + "/release");
      r.json = inv_.printer.empty() ? json::object() : json{{"printer", inv_.printer}};
      return job_action(std::move(r));
    }
    case Command::delete_job:
      return job_action(make("DELETE", job_path(inv_.id)));
    case Command::preview: {
      // preview.png takes no size (docs/api.md), so a size asks for page 1 by number.
      if (!inv_.page && !inv_.size) return binary(make("GET", job_path(inv_.id) + "/preview.png"));
      Request r = make(
          "GET", job_path(inv_.id) + "/pages/" + std::to_string(inv_.page.value_or(1)) + ".png");
      if (inv_.size) r.query.emplace_back("size", std::to_string(*inv_.size));
      return binary(std::move(r));
    }
    case Command::document: {
      Request r = make("GET", job_path(inv_.id) + "/document");
      if (inv_.printable) r.query.emplace_back("kind", "printable");
      return binary(std::move(r));
    }
    case Command::recipients_list: {
      auto body = send_json(make("GET", api + "/recipients"));
      if (!body) return std::unexpected(body.error());
      print(*body, format_rules(member(*body, "rules"), inv_.global.language));
      return {};
    }
    case Command::recipients_add: {
      Request r = make("POST", api + "/recipients");
      r.json = json{{"pattern", inv_.pattern},
                    {"recipient", inv_.recipient},
                    {"printer", inv_.printer},
                    {"note", inv_.note},
                    {"language", inv_.language}};
      auto rule = send_json(std::move(r));
      if (!rule) return std::unexpected(rule.error());
      print(*rule, format_rule(*rule, inv_.global.language));
      return {};
    }
    case Command::recipients_remove:
      return no_content(make("DELETE", api + "/recipients/" + percent_encode_segment(inv_.id)),
                        say(cli_removed_rule, {{"id", inv_.id}}));
    case Command::recipients_import: {
      if (is_toml_file(inv_.file)) {
        auto text = read_text_file(inv_.file, language());
        if (!text) return std::unexpected(text.error());
        Request r = make("PUT", api + "/recipients/import.toml");
        r.raw_body = std::move(*text);
        r.raw_content_type = "application/toml";
        auto body = send_json(std::move(r));
        if (!body) return std::unexpected(body.error());
        print(*body, format_rules(member(*body, "rules"), inv_.global.language));
        return {};
      }
      auto file = read_json_file(inv_.file, language());
      if (!file) return std::unexpected(file.error());
      // Accept what `recipients export` prints ({"rules":[...]}) or a bare array of rules.
      json rules = file->is_array() ? *file : member(*file, "rules");
      if (!rules.is_array()) {
        return failure(ExitCode::usage, say(cli_expected_rules, {{"file", inv_.file}}));
      }
      Request r = make("PUT", api + "/recipients");
      r.json = json{{"rules", rules}};
      auto body = send_json(std::move(r));
      if (!body) return std::unexpected(body.error());
      print(*body, format_rules(member(*body, "rules"), inv_.global.language));
      return {};
    }
    case Command::recipients_export: {
      if (inv_.toml) {
        auto response = send(make("GET", api + "/recipients/export.toml"));
        if (!response) return std::unexpected(response.error());
        return write_output("-", response->body, out_, false, language());
      }
      auto body = send_json(make("GET", api + "/recipients"));
      if (!body) return std::unexpected(body.error());
      out_ << body->dump(2) << "\n";  // always JSON: the input of `recipients import`
      return {};
    }
    case Command::route: {
      Request r = make("GET", api + "/route");
      r.query.emplace_back("sender", inv_.sender);
      if (!inv_.called.empty()) r.query.emplace_back("called", inv_.called);
      auto body = send_json(std::move(r));
      if (!body) return std::unexpected(body.error());
      std::string lines;
      for (const auto& key : member(*body, "recipients")) {
        lines += (key.is_string() ? key.get<std::string>() : key.dump()) + "\n";
      }
      print(*body, lines.empty() ? say(cli_no_recipient) + "\n" : lines);
      return {};
    }
    case Command::modes_list: {
      auto body = send_json(make("GET", api + "/modes"));
      if (!body) return std::unexpected(body.error());
      print(*body, format_mode_tables(*body, language()));
      return {};
    }
    case Command::modes_show:
      return modes_show();
    case Command::modes_set:
      return modes_set();
    case Command::modes_delete:
      return no_content(make("DELETE", api + "/modes/" + percent_encode_segment(inv_.name)),
                        say(cli_deleted_mode_table, {{"name", inv_.name}}));
    case Command::schedule_show: {
      auto body = send_json(make("GET", api + "/schedule"));
      if (!body) return std::unexpected(body.error());
      print(*body, format_schedule(*body, language()));
      return {};
    }
    case Command::schedule_set: {
      auto file = read_json_file(inv_.file, language());
      if (!file) return std::unexpected(file.error());
      if (!file->is_object()) {
        return failure(ExitCode::usage, say(cli_expected_schedule, {{"file", inv_.file}}));
      }
      Request r = make("PUT", api + "/schedule");
      r.json = std::move(*file);
      auto body = send_json(std::move(r));
      if (!body) return std::unexpected(body.error());
      print(*body, format_schedule(*body, language()));
      return {};
    }
    case Command::presence_list: {
      auto body = send_json(make("GET", api + "/presence"));
      if (!body) return std::unexpected(body.error());
      print(*body, format_presence_list(member(*body, "recipients"), language()));
      return {};
    }
    case Command::presence_set:
      return presence_set();
    case Command::channel_members:
      return channel_members();
    case Command::messages: {
      Request r = make("GET", api + "/messages");
      r.query.emplace_back("to", inv_.to);
      if (!inv_.after.empty()) r.query.emplace_back("after", inv_.after);
      auto body = send_json(std::move(r));
      if (!body) return std::unexpected(body.error());
      print(*body, format_messages(member(*body, "messages"), language()));
      return {};
    }
    case Command::command:
      return command();
    case Command::ipp_token_list: {
      auto body = send_json(make("GET", api + "/ipp-tokens"));
      if (!body) return std::unexpected(body.error());
      std::string human;
      for (const auto& t : member(*body, "tokens")) {
        human += t.value("id", "") + "  " + t.value("user", "") + "\n";
      }
      print(*body, human.empty() ? say(cli_no_tokens) + "\n" : human);
      return {};
    }
    case Command::ipp_token_add: {
      Request r = make("POST", api + "/ipp-tokens");
      r.json = json{{"user", inv_.user}};
      auto made = send_json(std::move(r));
      if (!made) return std::unexpected(made.error());
      print(*made, say(cli_token_made, {{"id", made->value("id", "")},
                                        {"user", made->value("user", "")},
                                        {"path", made->value("path", "")}}) +
                       "\n");
      return {};
    }
    case Command::ipp_token_revoke:
      return no_content(make("DELETE", api + "/ipp-tokens/" + percent_encode_segment(inv_.id)),
                        say(cli_revoked_token, {{"id", inv_.id}}));
    case Command::printers: {
      auto body = send_json(make("GET", api + "/printers"));
      if (!body) return std::unexpected(body.error());
      print(*body, format_printers(member(*body, "printers"), language()));
      return {};
    }
    case Command::audit: {
      Request r = make("GET", api + "/audit");
      if (inv_.limit) r.query.emplace_back("limit", std::to_string(*inv_.limit));
      if (!inv_.before.empty()) r.query.emplace_back("before", inv_.before);
      auto body = send_json(std::move(r));
      if (!body) return std::unexpected(body.error());
      print(*body, format_audit(member(*body, "entries"), language()));
      return {};
    }
    case Command::health: {
      Request r = make("GET", "/healthz");
      r.authenticated = false;
      auto response = send(std::move(r));
      if (!response) return std::unexpected(response.error());
      std::string text = response->body;
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
      out_ << text << "\n";
      return {};
    }
  }
  return failure(ExitCode::error, "unknown command");
}

}  // namespace

int run(const Invocation& invocation, Transport& transport, std::ostream& out, std::ostream& err) {
  Session session(invocation, transport, out);
  auto done = session.run();
  out.flush();
  if (!done) {
    err << "atdesk: " << done.error().message << "\n";
    return to_int(done.error().code);
  }
  return to_int(ExitCode::ok);
}

}  // namespace atdesk::cli
