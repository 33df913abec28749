#include "atdesk/cli/invocation.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <sstream>
#include <utility>

#include "atdesk/cli/exit_code.hpp"
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
  outcome.err =
      "atdesk: " + atdesk::message(language, MessageKey::cli_usage_refused, {{"error", message}}) +
      "\n" + atdesk::message(language, MessageKey::cli_usage_more) + "\n";
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

  CLI::App app{"atdesk: command-line client for atdeskd (faxes printed or held by chat presence)",
               "atdesk"};
  app.fallthrough();  // global options may follow the command: `atdesk jobs --json`
  app.require_subcommand(1);
  app.footer(
      "Without atdeskd:\n  fax send --to sip:NUMBER@HOST[:PORT] FILE.tif [--t38] [--no-ecm]\n"
      "                              send a test fax over SIP with atdesk's own modem "
      "(atdesk fax send --help)\n"
      "  backup FILE [--state-dir DIR] [--with-key [--passphrase-file F]]\n"
      "                              a consistent backup of the node's state while atdeskd runs\n"
      "  restore FILE [--state-dir DIR] [--force] [--passphrase-file F]\n"
      "                              put a backup back into a stopped node's state folder\n"
      "  migrate --from sqlite:PATH --to postgresql://...\n"
      "                              move a stopped node's store and documents to PostgreSQL\n\n" +
      std::string(exit_code_help()));

  inv.global.url = env.url.value_or(kDefaultUrl);
  app.add_option("--url", inv.global.url, "atdeskd's address (env ATDESK_URL)")
      ->capture_default_str();
  auto* token_file_option =
      app.add_option("--token-file", token_file_flag,
                     "file holding the admin token (env ATDESK_TOKEN_FILE, default " +
                         std::string(kDefaultTokenFile) + "; env ATDESK_TOKEN holds the token)");
  app.add_flag("--json", inv.global.json, "print atdeskd's JSON as is (pretty)");
  inv.global.ca_file = env.ca_file.value_or("");
  app.add_option("--ca-file", inv.global.ca_file,
                 "PEM certificate(s) that an https:// atdeskd's certificate is checked against "
                 "(env ATDESK_CA_FILE; default: the system's CA bundle)")
      ->check(CLI::ExistingFile);
  std::string language_flag;
  app.add_option("--lang", language_flag,
                 "language of the output: en or ja (default: from LC_ALL, LC_MESSAGES or LANG, "
                 "else en)")
      ->check(CLI::IsMember({"en", "ja"}));
  if (env.language) inv.global.language = parse_language(*env.language).value_or(Language::en);
  app.add_option("--timeout", inv.global.timeout_seconds, "seconds to wait for atdeskd")
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
      leaf(app.add_subcommand("submit", "upload a document as a new job"), Command::submit);
  submit->add_option("FILE", inv.file, "the fax document (TIFF or PDF)")
      ->required()
      ->check(CLI::ExistingFile);
  submit->add_option("--sender", inv.sender, "fax number, sip: URI, e-mail or IP")->required();
  submit->add_option("--called", inv.called, "the number that was called");
  submit->add_option("--name", inv.name, "document name");

  auto* jobs = leaf(app.add_subcommand("jobs", "list jobs, newest first"), Command::jobs);
  jobs->add_option("--state", inv.states, "states, comma separated")->delimiter(',');
  jobs->add_option("--recipient", inv.recipient, "recipient key (user:local:alice)");
  jobs->add_option("--sender", inv.sender, "sender");
  jobs->add_option("--after", inv.after, "received after (RFC 3339)");
  jobs->add_option("--before", inv.before, "received before (RFC 3339)");
  jobs->add_option("--limit", inv.limit, "at most N jobs")->check(CLI::PositiveNumber);

  id_arg(leaf(app.add_subcommand("show", "a job and its history"), Command::show), "job id");
  id_arg(leaf(app.add_subcommand("history", "a job's state changes"), Command::history), "job id");
  auto* release = leaf(app.add_subcommand("release", "print a held job"), Command::release);
  id_arg(release, "job id");
  release->add_option("--printer", inv.printer, "printer name (default: the job's printer)");
  id_arg(leaf(app.add_subcommand("delete", "delete a job"), Command::delete_job), "job id");

  auto* preview = leaf(app.add_subcommand("preview", "save a page preview PNG"), Command::preview);
  id_arg(preview, "job id");
  preview->add_option("-o,--output", inv.output, "PNG file to write ('-' = stdout)")->required();
  preview->add_option("--page", inv.page, "page number (1-based)")->check(CLI::PositiveNumber);
  preview->add_option("--size", inv.size, "size in pixels (default 1200)")
      ->check(CLI::Range(1, 3000));

  auto* document = leaf(app.add_subcommand("document", "save a job's document"), Command::document);
  id_arg(document, "job id");
  document->add_option("-o,--output", inv.output, "file to write ('-' = stdout)")->required();
  document->add_flag("--printable", inv.printable, "the printable PDF instead of the original");

  // Recipient table.
  auto* recipients = app.add_subcommand("recipients", "the recipient table (sender -> recipient)");
  recipients->require_subcommand(1);
  leaf(recipients->add_subcommand("list", "list the rules"), Command::recipients_list);
  auto* add = leaf(recipients->add_subcommand("add", "add a rule"), Command::recipients_add);
  add->add_option("PATTERN", inv.pattern, "sender pattern (prefix:03, exact:+81..., ...)")
      ->required();
  add->add_option("RECIPIENT", inv.recipient, "recipient key (user:local:alice)")->required();
  add->add_option("--printer", inv.printer, "printer for this rule");
  add->add_option("--note", inv.note, "free text");
  add->add_option("--language", inv.language,
                  "language of the recipient's chat messages: en or ja (default: the chat "
                  "service's, else [general] language)")
      ->check(CLI::IsMember({"en", "ja"}));
  id_arg(leaf(recipients->add_subcommand("remove", "remove a rule"), Command::recipients_remove),
         "rule id");
  leaf(recipients->add_subcommand("import", "replace the table from a JSON or TOML file"),
       Command::recipients_import)
      ->add_option("FILE", inv.file,
                   "FILE.json: {\"rules\":[...]} or [...]; FILE.toml: [[rule]] tables")
      ->required()
      ->check(CLI::ExistingFile);
  leaf(recipients->add_subcommand("export", "print the table as JSON or TOML (for import)"),
       Command::recipients_export)
      ->add_flag("--toml", inv.toml, "TOML ([[rule]] tables) instead of JSON");
  auto* route =
      leaf(app.add_subcommand("route", "who would receive a fax from a sender"), Command::route);
  route->add_option("--sender", inv.sender, "sender")->required();
  route->add_option("--called", inv.called, "called number");

  // Personal print queue tokens (atdesk-ippd's /ipp/print/u/<token>).
  auto* tokens = app.add_subcommand("ipp-token", "personal print queue URLs (admin)");
  tokens->require_subcommand(1);
  leaf(tokens->add_subcommand("list", "list the tokens (id and person; never the token)"),
       Command::ipp_token_list);
  leaf(tokens->add_subcommand("add", "make a token for a person; prints its queue path once"),
       Command::ipp_token_add)
      ->add_option("USER", inv.user, "the person's IPP user name (as in ipp:<user> rules)")
      ->required();
  id_arg(leaf(tokens->add_subcommand("revoke", "revoke a token"), Command::ipp_token_revoke),
         "token id (from ipp-token list)");

  // Mode tables and schedule.
  auto* modes = app.add_subcommand("modes", "mode tables (presence -> print or hold)");
  modes->require_subcommand(1);
  leaf(modes->add_subcommand("list", "list the tables"), Command::modes_list);
  leaf(modes->add_subcommand("show", "show one table"), Command::modes_show)
      ->add_option("NAME", inv.name, "table name")
      ->required();
  auto* set = leaf(modes->add_subcommand("set", "change one cell of a table"), Command::modes_set);
  set->add_option("NAME", inv.name, "table name")->required();
  set->add_option("AVAILABILITY", inv.availability,
                  "available, busy, dnd, away, brb, offline, unknown")
      ->required();
  set->add_option("LOCATION", inv.location, "office, remote, time_off, unknown")->required();
  set->add_option("ACTION", inv.action, "print or hold")->required();
  set->add_flag("--create", inv.create,
                "create the table if it does not exist (other cells: hold)");
  leaf(modes->add_subcommand("delete", "delete a table"), Command::modes_delete)
      ->add_option("NAME", inv.name, "table name")
      ->required();
  auto* schedule = app.add_subcommand("schedule", "which mode table is active when");
  schedule->require_subcommand(1);
  leaf(schedule->add_subcommand("show", "show the schedule"), Command::schedule_show);
  leaf(schedule->add_subcommand("set", "replace the schedule from a JSON file"),
       Command::schedule_set)
      ->add_option("FILE", inv.file, "JSON Schedule")
      ->required()
      ->check(CLI::ExistingFile);

  // Presence, channels and the local chat service.
  auto* presence = app.add_subcommand("presence", "presence of recipients");
  presence->require_subcommand(1);
  leaf(presence->add_subcommand("list", "presence, action and held jobs per recipient"),
       Command::presence_list);
  auto* pset =
      leaf(presence->add_subcommand("set", "set a local user's presence"), Command::presence_set);
  pset->add_option("USER", inv.user, "user name")->required();
  pset->add_option("AVAILABILITY", inv.availability,
                   "available, busy, dnd, away, brb, offline, unknown")
      ->required();
  pset->add_option("LOCATION", inv.location, "office, remote, time_off, unknown (default unknown)");
  pset->add_option("--status", inv.status_text, "status text");
  pset->add_option("--service", inv.service, "chat service")->capture_default_str();
  auto* channel = app.add_subcommand("channel", "channels of the local chat service");
  channel->require_subcommand(1);
  auto* members = leaf(channel->add_subcommand("members", "replace a channel's members"),
                       Command::channel_members);
  members->add_option("CHANNEL", inv.channel, "channel name")->required();
  members->add_option("USER", inv.members, "members (none: empty the channel)");
  members->add_option("--service", inv.service, "chat service")->capture_default_str();
  auto* messages = leaf(app.add_subcommand("messages", "messages sent by the local chat service"),
                        Command::messages);
  messages->add_option("--to", inv.to, "recipient key")->required();
  messages->add_option("--after", inv.after, "only messages after this seq");
  auto* command = leaf(app.add_subcommand("command", "send a chat reply as if a user typed it"),
                       Command::command);
  command->add_option("--from", inv.from, "user name")->required();
  command->add_option("--channel", inv.channel, "channel the reply was typed in");
  command->add_option("--service", inv.service, "chat service")->capture_default_str();
  command->add_option("TEXT", words, "the reply (print, hold 7, ...)")->required();

  // The rest.
  leaf(app.add_subcommand("printers", "printers and their state"), Command::printers);
  auto* audit = leaf(app.add_subcommand("audit", "the audit log, newest first"), Command::audit);
  audit->add_option("--limit", inv.limit, "at most N entries")->check(CLI::PositiveNumber);
  audit->add_option("--before", inv.before, "entries before this id");
  leaf(app.add_subcommand("health", "is atdeskd up (GET /healthz, no token)"), Command::health);

  std::ostringstream out;
  std::ostringstream err;
  try {
    // CLI11 takes the words in reverse order, without the program name.
    std::vector<std::string> reversed(args.size() > 1 ? args.begin() + 1 : args.end(), args.end());
    std::ranges::reverse(reversed);
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    ParseOutcome outcome;
    const int code = app.exit(e, out, err);
    outcome.exit_code = code == 0 ? 0 : to_int(ExitCode::usage);
    outcome.out = out.str();
    outcome.err = err.str();
    const Language language = parse_language(language_flag).value_or(inv.global.language);
    if (code != 0 && language != Language::en) {
      const std::string detail = outcome.err.substr(0, outcome.err.find('\n'));
      outcome.err = usage_error(detail, language).err;
    }
    return outcome;
  }

  auto found = std::ranges::find_if(leaves, [](const auto& l) { return l.first->parsed(); });
  if (found == leaves.end()) return usage_error("no command given", inv.global.language);
  inv.command = found->second;
  inv.text = join(words, " ");
  if (!language_flag.empty()) {
    if (auto language = parse_language(language_flag)) inv.global.language = *language;
  }

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
