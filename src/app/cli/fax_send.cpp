#include "fax_send.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <fstream>
#include <iostream>
#include <optional>

#include "atdesk/cli/exit_code.hpp"
#include "atdesk/cli/help.hpp"
#include "atdesk/core/messages.hpp"
#include "atdesk/fax_sip/sender.hpp"

namespace atdesk::cli {
namespace {

// The first line of the password file.
std::optional<std::string> read_password(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) return std::nullopt;
  return line;
}

}  // namespace

int run_fax_command(const std::vector<std::string>& args, Language language) {
  auto h = [language](MessageKey key) { return message(language, key); };
  CLI::App app{h(MessageKey::cli_help_fax), "atdesk fax"};
  app.require_subcommand(1);
  auto* send = app.add_subcommand("send", h(MessageKey::cli_help_fax_send));
  fax_sip::SendSettings s;
  std::string file;
  send->add_option("FILE", file, h(MessageKey::cli_help_fax_file))
      ->required()
      ->check(CLI::ExistingFile);
  send->add_option("--to", s.to, h(MessageKey::cli_help_fax_to))->required();
  send->add_option("--from", s.from, h(MessageKey::cli_help_fax_from))->capture_default_str();
  send->add_option("--asserted-identity", s.asserted_identity,
                   h(MessageKey::cli_help_fax_asserted_identity));
  send->add_option("--ident", s.ident, h(MessageKey::cli_help_fax_ident))->capture_default_str();
  send->add_option("--local-address", s.local_address, h(MessageKey::cli_help_fax_local_address))
      ->capture_default_str();
  send->add_flag("--t38", s.t38, h(MessageKey::cli_help_fax_t38));
  send->add_flag("--ecm,!--no-ecm", s.ecm, h(MessageKey::cli_help_fax_ecm));
  std::string password_file;
  send->add_option("--user", s.user, h(MessageKey::cli_help_fax_user));
  send->add_option("--password-file", password_file, h(MessageKey::cli_help_fax_password_file))
      ->check(CLI::ExistingFile);
  std::string lang;  // chosen by main(); here so `atdesk fax send --lang ja` is accepted
  app.add_option("--lang", lang, h(MessageKey::cli_help_lang))->check(CLI::IsMember({"en", "ja"}));
  send->add_option("--lang", lang, h(MessageKey::cli_help_lang))
      ->check(CLI::IsMember({"en", "ja"}));
  localize(app, language);
  try {
    // CLI11 takes the arguments after the program name, last first; "fax" itself is skipped.
    std::vector<std::string> rest(args.begin() + std::min<std::ptrdiff_t>(2, std::ssize(args)),
                                  args.end());
    std::reverse(rest.begin(), rest.end());
    app.parse(rest);
  } catch (const CLI::ParseError& e) {
    return report_parse_error(app, e, language, "atdesk fax", std::cout, std::cerr);
  }
  s.file = file;
  const char* name = "atdesk fax send: ";
  if (!password_file.empty()) {
    auto password = read_password(password_file);
    if (!password) {
      std::cerr << name
                << message(language, MessageKey::cli_fax_password_unreadable,
                           {{"file", password_file}})
                << "\n";
      return to_int(ExitCode::usage);
    }
    s.password = std::move(*password);
  }
  if (s.user.empty() != password_file.empty()) {
    std::cerr << name << h(MessageKey::cli_fax_user_and_password) << "\n";
    return to_int(ExitCode::usage);
  }
  s.on_page = [language](int pages) {
    std::cout << message(language, MessageKey::cli_fax_page_confirmed,
                         {{"page", std::to_string(pages)}})
              << "\n"
              << std::flush;
    return true;
  };
  auto report = fax_sip::send_fax(s);
  if (!report) {
    std::cerr << name
              << message(language, MessageKey::cli_fax_failed, {{"error", report.error().message}})
              << "\n";
    return to_int(report.error().code == Errc::invalid_argument ||
                          report.error().code == Errc::not_found
                      ? ExitCode::usage
                      : ExitCode::cannot_connect);
  }
  std::cout << message(
                   language,
                   report->completed ? MessageKey::cli_fax_sent : MessageKey::cli_fax_not_completed,
                   {{"pages", std::to_string(report->pages)},
                    {"to", s.to},
                    {"ident", report->remote_ident},
                    {"mode", report->t38 ? "T.38" : "G.711"},
                    {"rate", std::to_string(report->bit_rate)},
                    {"ecm", report->ecm ? h(MessageKey::cli_fax_ecm) : ""},
                    {"reason", report->reason}})
            << "\n";
  std::cout << message(language, MessageKey::cli_fax_media,
                       {{"late", std::to_string(report->late_packets)},
                        {"late_ticks", std::to_string(report->late_ticks)},
                        {"ticks", std::to_string(report->ticks)}})
            << "\n";
  return to_int(report->completed ? ExitCode::ok : ExitCode::error);
}

}  // namespace atdesk::cli
