#include "atdesk/cli/invocation.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <sstream>
#include <utility>

#include "atdesk/cli/exit_code.hpp"
#include "atdesk/cli/help.hpp"
#include "atdesk/core/job.hpp"
#include "atdesk/core/messages.hpp"
#include "atdesk/core/mode_table.hpp"
#include "atdesk/core/presence.hpp"

namespace atdesk::cli {
namespace {

// A usage error found after CLI11 accepted the words (a state or availability name), or CLI11's
// own in Japanese: the words around the detail follow the language of the output; the detail
// names the option and stays in English.
ParseOutcome usage_error(const std::string& message, Language language) {
  ParseOutcome outcome;
  outcome.exit_code = to_int(ExitCode::usage);
  outcome.err = usage_error_text("atdesk", language, message);
  return outcome;
}

std::string join(const std::vector<std::string>& words, std::string_view separator) {
  std::string out;
  for (const auto& word : words) {
    if (!out.empty()) out += separator;
    out += word;
  }
  return out;
}

// Turns the names people type ("dnd", "home", "Busy") into the canonical ones the API uses.
std::optional<std::string> normalize(Invocation& inv) {
  for (auto& state : inv.states) {
    std::string lower = state;
    std::ranges::transform(lower, lower.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    auto parsed = parse_job_state(lower);
    if (!parsed) {
      return "--state: unknown job state '" + state +
             "'; expected received, stored, held, releasing, printing, printed, deleted, "
             "expired or failed";
    }
    state = std::string(to_string(*parsed));
  }
  if (!inv.availability.empty()) {
    auto parsed = parse_availability(inv.availability);
    if (!parsed) {
      return "AVAILABILITY: unknown availability '" + inv.availability +
             "'; expected available, busy, do_not_disturb, away, be_right_back, offline or "
             "unknown";
    }
    inv.availability = std::string(to_string(*parsed));
  }
  if (!inv.location.empty()) {
    auto parsed = parse_work_location(inv.location);
    if (!parsed) {
      return "LOCATION: unknown work location '" + inv.location +
             "'; expected office, remote, time_off or unknown";
    }
    inv.location = std::string(to_string(*parsed));
  }
  if (!inv.action.empty()) {
    auto parsed = parse_action(inv.action);
    if (!parsed) return "ACTION: expected print or hold, got '" + inv.action + "'";
    inv.action = std::string(to_string(*parsed));
  }
  const auto& url = inv.global.url;
  if (!url.starts_with("http://") && !url.starts_with("https://")) {
    return "--url: expected an http:// or https:// URL, got '" + url + "'";
  }
  return std::nullopt;
}

}  // namespace

ParseOutcome parse_command_line(const std::vector<std::string>& args, const Environment& env) {
  Invocation inv;
  std::vector<std::pair<CLI::App*, Command>> leaves;
  std::vector<std::string> words;  // command TEXT
  std::string token_file_flag;

  const Language language = choose_language(args, env.language);
  auto h = [language](MessageKey key) { return atdesk::message(language, key); };
  CLI::App app{h(MessageKey::cli_help_app), "atdesk"};
  app.fallthrough();  // global options may follow the command: `atdesk jobs --json`
  app.require_subcommand(1);
  app.footer(h(MessageKey::cli_help_footer_local) + "\n\n" + exit_code_help(language));

  inv.global.url = env.url.value_or(kDefaultUrl);
  app.add_option("--url", inv.global.url, h(MessageKey::cli_help_url))->capture_default_str();
  auto* token_file_option =
      app.add_option("--token-file", token_file_flag, h(MessageKey::cli_help_token_file));
  app.add_flag("--json", inv.global.json, h(MessageKey::cli_help_json));
  inv.global.ca_file = env.ca_file.value_or("");
  app.add_option("--ca-file", inv.global.ca_file, h(MessageKey::cli_help_ca_file))
      ->check(CLI::ExistingFile);
  std::string language_flag;  // chosen by choose_language above; CLI11 checks the value
  app.add_option("--lang", language_flag, h(MessageKey::cli_help_lang))
      ->check(CLI::IsMember({"en", "ja"}));
  inv.global.language = language;
  app.add_option("--timeout", inv.global.timeout_seconds, h(MessageKey::cli_help_timeout))
      ->check(CLI::PositiveNumber)
      ->capture_default_str();

  auto leaf = [&leaves](CLI::App* sub, Command command) {
    leaves.emplace_back(sub, command);
    return sub;
  };
  auto id_arg = [&inv](CLI::App* sub, const std::string& what) {
    sub->add_option("ID", inv.id, what)->required();
  };

  // Jobs.
  auto* submit =
      leaf(app.add_subcommand("submit", h(MessageKey::cli_help_submit)), Command::submit);
  submit->add_option("FILE", inv.file, h(MessageKey::cli_help_submit_file))
      ->required()
      ->check(CLI::ExistingFile);
  submit->add_option("--sender", inv.sender, h(MessageKey::cli_help_submit_sender))->required();
  submit->add_option("--called", inv.called, h(MessageKey::cli_help_called));
  submit->add_option("--name", inv.name, h(MessageKey::cli_help_name));

  auto* jobs = leaf(app.add_subcommand("jobs", h(MessageKey::cli_help_jobs)), Command::jobs);
  jobs->add_option("--state", inv.states, h(MessageKey::cli_help_jobs_state))->delimiter(',');
  jobs->add_option("--recipient", inv.recipient, h(MessageKey::cli_help_recipient_key));
  jobs->add_option("--sender", inv.sender, h(MessageKey::cli_help_sender));
  jobs->add_option("--after", inv.after, h(MessageKey::cli_help_after));
  jobs->add_option("--before", inv.before, h(MessageKey::cli_help_before));
  jobs->add_option("--limit", inv.limit, h(MessageKey::cli_help_jobs_limit))
      ->check(CLI::PositiveNumber);

  id_arg(leaf(app.add_subcommand("show", h(MessageKey::cli_help_show)), Command::show),
         h(MessageKey::cli_help_job_id));
  id_arg(leaf(app.add_subcommand("history", h(MessageKey::cli_help_history)), Command::history),
         h(MessageKey::cli_help_job_id));
  auto* release =
      leaf(app.add_subcommand("release", h(MessageKey::cli_help_release)), Command::release);
  id_arg(release, h(MessageKey::cli_help_job_id));
  release->add_option("--printer", inv.printer, h(MessageKey::cli_help_release_printer));
  id_arg(leaf(app.add_subcommand("delete", h(MessageKey::cli_help_delete)), Command::delete_job),
         h(MessageKey::cli_help_job_id));

  auto* preview =
      leaf(app.add_subcommand("preview", h(MessageKey::cli_help_preview)), Command::preview);
  id_arg(preview, h(MessageKey::cli_help_job_id));
  preview->add_option("-o,--output", inv.output, h(MessageKey::cli_help_preview_output))
      ->required();
  preview->add_option("--page", inv.page, h(MessageKey::cli_help_preview_page))
      ->check(CLI::PositiveNumber);
  preview->add_option("--size", inv.size, h(MessageKey::cli_help_preview_size))
      ->check(CLI::Range(1, 3000));

  auto* document =
      leaf(app.add_subcommand("document", h(MessageKey::cli_help_document)), Command::document);
  id_arg(document, h(MessageKey::cli_help_job_id));
  document->add_option("-o,--output", inv.output, h(MessageKey::cli_help_document_output))
      ->required();
  document->add_flag("--printable", inv.printable, h(MessageKey::cli_help_document_printable));

  // Recipient table.
  auto* recipients = app.add_subcommand("recipients", h(MessageKey::cli_help_recipients));
  recipients->require_subcommand(1);
  leaf(recipients->add_subcommand("list", h(MessageKey::cli_help_recipients_list)),
       Command::recipients_list);
  auto* add = leaf(recipients->add_subcommand("add", h(MessageKey::cli_help_recipients_add)),
                   Command::recipients_add);
  add->add_option("PATTERN", inv.pattern, h(MessageKey::cli_help_pattern))->required();
  add->add_option("RECIPIENT", inv.recipient, h(MessageKey::cli_help_recipient_key))->required();
  add->add_option("--printer", inv.printer, h(MessageKey::cli_help_rule_printer));
  add->add_option("--note", inv.note, h(MessageKey::cli_help_note));
  add->add_option("--language", inv.language, h(MessageKey::cli_help_rule_language))
      ->check(CLI::IsMember({"en", "ja"}));
  id_arg(leaf(recipients->add_subcommand("remove", h(MessageKey::cli_help_recipients_remove)),
              Command::recipients_remove),
         h(MessageKey::cli_help_rule_id));
  leaf(recipients->add_subcommand("import", h(MessageKey::cli_help_recipients_import)),
       Command::recipients_import)
      ->add_option("FILE", inv.file, h(MessageKey::cli_help_import_file))
      ->required()
      ->check(CLI::ExistingFile);
  leaf(recipients->add_subcommand("export", h(MessageKey::cli_help_recipients_export)),
       Command::recipients_export)
      ->add_flag("--toml", inv.toml, h(MessageKey::cli_help_export_toml));
  auto* route = leaf(app.add_subcommand("route", h(MessageKey::cli_help_route)), Command::route);
  route->add_option("--sender", inv.sender, h(MessageKey::cli_help_sender))->required();
  route->add_option("--called", inv.called, h(MessageKey::cli_help_called));

  // Personal print queue tokens (atdesk-ippd's /ipp/print/u/<token>).
  auto* tokens = app.add_subcommand("ipp-token", h(MessageKey::cli_help_ipp_token));
  tokens->require_subcommand(1);
  leaf(tokens->add_subcommand("list", h(MessageKey::cli_help_ipp_token_list)),
       Command::ipp_token_list);
  leaf(tokens->add_subcommand("add", h(MessageKey::cli_help_ipp_token_add)), Command::ipp_token_add)
      ->add_option("USER", inv.user, h(MessageKey::cli_help_ipp_user))
      ->required();
  id_arg(leaf(tokens->add_subcommand("revoke", h(MessageKey::cli_help_ipp_token_revoke)),
              Command::ipp_token_revoke),
         h(MessageKey::cli_help_token_id));

  // Mode tables and schedule.
  auto* modes = app.add_subcommand("modes", h(MessageKey::cli_help_modes));
  modes->require_subcommand(1);
  leaf(modes->add_subcommand("list", h(MessageKey::cli_help_modes_list)), Command::modes_list);
  leaf(modes->add_subcommand("show", h(MessageKey::cli_help_modes_show)), Command::modes_show)
      ->add_option("NAME", inv.name, h(MessageKey::cli_help_table_name))
      ->required();
  auto* set =
      leaf(modes->add_subcommand("set", h(MessageKey::cli_help_modes_set)), Command::modes_set);
  set->add_option("NAME", inv.name, h(MessageKey::cli_help_table_name))->required();
  set->add_option("AVAILABILITY", inv.availability, h(MessageKey::cli_help_availability))
      ->required();
  set->add_option("LOCATION", inv.location, h(MessageKey::cli_help_location))->required();
  set->add_option("ACTION", inv.action, h(MessageKey::cli_help_action))->required();
  set->add_flag("--create", inv.create, h(MessageKey::cli_help_create));
  leaf(modes->add_subcommand("delete", h(MessageKey::cli_help_modes_delete)), Command::modes_delete)
      ->add_option("NAME", inv.name, h(MessageKey::cli_help_table_name))
      ->required();
  auto* schedule = app.add_subcommand("schedule", h(MessageKey::cli_help_schedule));
  schedule->require_subcommand(1);
  leaf(schedule->add_subcommand("show", h(MessageKey::cli_help_schedule_show)),
       Command::schedule_show);
  leaf(schedule->add_subcommand("set", h(MessageKey::cli_help_schedule_set)), Command::schedule_set)
      ->add_option("FILE", inv.file, h(MessageKey::cli_help_schedule_file))
      ->required()
      ->check(CLI::ExistingFile);

  // Presence, channels and the local chat service.
  auto* presence = app.add_subcommand("presence", h(MessageKey::cli_help_presence));
  presence->require_subcommand(1);
  leaf(presence->add_subcommand("list", h(MessageKey::cli_help_presence_list)),
       Command::presence_list);
  auto* pset = leaf(presence->add_subcommand("set", h(MessageKey::cli_help_presence_set)),
                    Command::presence_set);
  pset->add_option("USER", inv.user, h(MessageKey::cli_help_user_name))->required();
  pset->add_option("AVAILABILITY", inv.availability, h(MessageKey::cli_help_availability))
      ->required();
  pset->add_option("LOCATION", inv.location, h(MessageKey::cli_help_presence_location));
  pset->add_option("--status", inv.status_text, h(MessageKey::cli_help_status));
  pset->add_option("--service", inv.service, h(MessageKey::cli_help_service))
      ->capture_default_str();
  auto* channel = app.add_subcommand("channel", h(MessageKey::cli_help_channel));
  channel->require_subcommand(1);
  auto* members = leaf(channel->add_subcommand("members", h(MessageKey::cli_help_channel_members)),
                       Command::channel_members);
  members->add_option("CHANNEL", inv.channel, h(MessageKey::cli_help_channel_name))->required();
  members->add_option("USER", inv.members, h(MessageKey::cli_help_members));
  members->add_option("--service", inv.service, h(MessageKey::cli_help_service))
      ->capture_default_str();
  auto* messages =
      leaf(app.add_subcommand("messages", h(MessageKey::cli_help_messages)), Command::messages);
  messages->add_option("--to", inv.to, h(MessageKey::cli_help_messages_to))->required();
  messages->add_option("--after", inv.after, h(MessageKey::cli_help_messages_after));
  auto* command =
      leaf(app.add_subcommand("command", h(MessageKey::cli_help_command)), Command::command);
  command->add_option("--from", inv.from, h(MessageKey::cli_help_user_name))->required();
  command->add_option("--channel", inv.channel, h(MessageKey::cli_help_command_channel));
  command->add_option("--service", inv.service, h(MessageKey::cli_help_service))
      ->capture_default_str();
  command->add_option("TEXT", words, h(MessageKey::cli_help_command_text))->required();

  // The rest.
  leaf(app.add_subcommand("printers", h(MessageKey::cli_help_printers)), Command::printers);
  auto* audit = leaf(app.add_subcommand("audit", h(MessageKey::cli_help_audit)), Command::audit);
  audit->add_option("--limit", inv.limit, h(MessageKey::cli_help_audit_limit))
      ->check(CLI::PositiveNumber);
  audit->add_option("--before", inv.before, h(MessageKey::cli_help_audit_before));
  leaf(app.add_subcommand("health", h(MessageKey::cli_help_health)), Command::health);

  localize(app, language);
  try {
    // CLI11 takes the words in reverse order, without the program name.
    std::vector<std::string> reversed(args.size() > 1 ? args.begin() + 1 : args.end(), args.end());
    std::ranges::reverse(reversed);
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    std::ostringstream out;
    std::ostringstream err;
    ParseOutcome outcome;
    outcome.exit_code = report_parse_error(app, e, language, "atdesk", out, err);
    outcome.out = out.str();
    outcome.err = err.str();
    return outcome;
  }

  auto found = std::ranges::find_if(leaves, [](const auto& l) { return l.first->parsed(); });
  if (found == leaves.end()) return usage_error("no command given", inv.global.language);
  inv.command = found->second;
  inv.text = join(words, " ");

  if (token_file_option->count() > 0) {
    inv.global.token_file = token_file_flag;
  } else {
    if (env.token && !env.token->empty()) inv.global.token = env.token;
    if (env.token_file && !env.token_file->empty()) inv.global.token_file = *env.token_file;
  }
  if (auto problem = normalize(inv)) return usage_error(*problem, inv.global.language);

  ParseOutcome outcome;
  outcome.invocation = std::move(inv);
  return outcome;
}

}  // namespace atdesk::cli
