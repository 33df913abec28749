// atdesk: the command-line client of atdeskd's REST API (docs/cli.md).
#include <curl/curl.h>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "atdesk/cli/exit_code.hpp"
#include "atdesk/cli/help.hpp"
#include "atdesk/cli/invocation.hpp"
#include "atdesk/cli/run.hpp"
#include "backup_command.hpp"
#include "curl_transport.hpp"
#include "fax_send.hpp"
#include "migrate_command.hpp"

namespace {

std::optional<std::string> env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

// curl_global_init/cleanup around the whole run.
struct CurlGlobal {
  CurlGlobal() : ok(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK) {}
  ~CurlGlobal() {
    if (ok) curl_global_cleanup();
  }
  CurlGlobal(const CurlGlobal&) = delete;
  CurlGlobal& operator=(const CurlGlobal&) = delete;
  bool ok;
};

}  // namespace

int main(int argc, char** argv) {
  using namespace atdesk::cli;
  const std::vector<std::string> args(argv, argv + argc);
  const std::optional<std::string> locale = locale_from_environment();
  const atdesk::Language language = choose_language(args, locale);
  // The commands that work without atdeskd, also after a leading --lang: `atdesk --lang ja backup`.
  std::size_t first = 1;
  if (args.size() > 2 && args[1] == "--lang") {
    first = 3;
  } else if (args.size() > 1 && args[1].starts_with("--lang=")) {
    first = 2;
  }
  if (first < args.size()) {
    std::vector<std::string> local = {args[0]};
    local.insert(local.end(), args.begin() + static_cast<std::ptrdiff_t>(first), args.end());
    const std::string& word = local[1];
    if (word == "fax") return run_fax_command(local, language);  // local, no atdeskd
    if (word == "backup" || word == "restore") {
      return run_backup_command(local, language);  // on the state folder, no atdeskd
    }
    if (word == "migrate") return run_migrate_command(local, language);  // no atdeskd
  }
  const Environment environment{env("ATDESK_URL"), env("ATDESK_TOKEN_FILE"), env("ATDESK_TOKEN"),
                                env("ATDESK_CA_FILE"), locale};
  ParseOutcome parsed = parse_command_line(args, environment);
  std::cout << parsed.out;
  std::cerr << parsed.err;
  if (!parsed.invocation) return parsed.exit_code;

  CurlGlobal curl;
  if (!curl.ok) {
    std::cerr << "atdesk: cannot initialise libcurl\n";
    return to_int(ExitCode::error);
  }
  CurlTransport transport({parsed.invocation->global.url, parsed.invocation->global.timeout_seconds,
                           parsed.invocation->global.ca_file});
  return run(*parsed.invocation, transport, std::cout, std::cerr);
}
