#include "fax_send.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <fstream>
#include <iostream>
#include <optional>

#include "atdesk/cli/exit_code.hpp"
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

int run_fax_command(const std::vector<std::string>& args) {
  CLI::App app{"atdesk fax: send a fax over SIP with atdesk's soft modem (no atdeskd needed)",
               "atdesk fax"};
  app.require_subcommand(1);
  auto* send = app.add_subcommand("send", "send FILE.tif to a SIP URI and wait for the result");
  fax_sip::SendSettings s;
  std::string file;
  send->add_option("FILE", file, "the fax (TIFF, 1-bit, fax widths and resolutions)")
      ->required()
      ->check(CLI::ExistingFile);
  send->add_option("--to", s.to, "the receiver, e.g. sip:4930123456@192.0.2.10:5060")->required();
  send->add_option("--from", s.from, "From URI (the caller ID)")->capture_default_str();
  send->add_option("--asserted-identity", s.asserted_identity,
                   "P-Asserted-Identity URI to send, e.g. sip:+4930123456@pbx");
  send->add_option("--ident", s.ident, "our TSI (up to 20 characters)")->capture_default_str();
  send->add_option("--local-address", s.local_address,
                   "the IP address SIP and media use on this machine")
      ->capture_default_str();
  send->add_flag("--t38", s.t38, "switch to T.38 by re-INVITE once answered");
  send->add_flag("--ecm,!--no-ecm", s.ecm, "error correction mode (default on)");
  std::string password_file;
  send->add_option("--user", s.user, "user name for digest authentication, if challenged");
  send->add_option("--password-file", password_file,
                   "file whose first line is the password for --user")
      ->check(CLI::ExistingFile);
  try {
    // CLI11 takes the arguments after the program name, last first; "fax" itself is skipped.
    std::vector<std::string> rest(args.begin() + std::min<std::ptrdiff_t>(2, std::ssize(args)),
                                  args.end());
    std::reverse(rest.begin(), rest.end());
    app.parse(rest);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help or the error
    return code == 0 ? 0 : to_int(ExitCode::usage);
  }
  s.file = file;
  if (!password_file.empty()) {
    auto password = read_password(password_file);
    if (!password) {
      std::cerr << "atdesk fax send: --password-file " << password_file
                << ": cannot read a password from its first line\n";
      return to_int(ExitCode::usage);
    }
    s.password = std::move(*password);
  }
  if (s.user.empty() != password_file.empty()) {
    std::cerr << "atdesk fax send: --user and --password-file go together\n";
    return to_int(ExitCode::usage);
  }
  s.on_page = [](int pages) {
    std::cout << "page " << pages << " confirmed\n" << std::flush;
    return true;
  };
  auto report = fax_sip::send_fax(s);
  if (!report) {
    std::cerr << "atdesk fax send: " << report.error().message << "\n";
    return to_int(report.error().code == Errc::invalid_argument ||
                          report.error().code == Errc::not_found
                      ? ExitCode::usage
                      : ExitCode::cannot_connect);
  }
  std::cout << (report->completed ? "sent " : "not completed: ") << report->pages << " page(s) to "
            << s.to << " (receiver \"" << report->remote_ident << "\", "
            << (report->t38 ? "T.38" : "G.711") << ", " << report->bit_rate << " bit/s"
            << (report->ecm ? ", ECM" : "") << ")" << (report->completed ? "" : ": ")
            << (report->completed ? "" : report->reason) << "\n";
  std::cout << "media: " << report->late_packets << " late packet(s), " << report->late_ticks
            << " of " << report->ticks << " 20 ms ticks 10 ms or more late\n";
  return to_int(report->completed ? ExitCode::ok : ExitCode::error);
}

}  // namespace atdesk::cli
