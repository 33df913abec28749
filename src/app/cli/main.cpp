// atdesk: the command-line client of atdeskd's REST API (docs/cli.md).
#include <curl/curl.h>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "atdesk/cli/exit_code.hpp"
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
  if (args.size() > 1 && args[1] == "fax") return run_fax_command(args);  // local, no atdeskd
  if (args.size() > 1 && (args[1] == "backup" || args[1] == "restore")) {
    return run_backup_command(args);  // on the state folder, no atdeskd
  }
  if (args.size() > 1 && args[1] == "migrate") return run_migrate_command(args);  // no atdeskd
  // POSIX: LC_ALL overrides LC_MESSAGES, which overrides LANG; an empty one counts as unset.
  std::optional<std::string> language;
  for (const char* name : {"LC_ALL", "LC_MESSAGES", "LANG"}) {
    if (auto v = env(name); v && !v->empty()) {
      language = v;
      break;
    }
  }
  const Environment environment{env("ATDESK_URL"), env("ATDESK_TOKEN_FILE"), env("ATDESK_TOKEN"),
                                env("ATDESK_CA_FILE"), language};
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
