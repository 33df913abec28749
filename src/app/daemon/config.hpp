// atdesk.toml: what an operator sets once. A bad file fails at start with the file, the key and
// what was expected. Secrets are never in this file: only paths to files that hold them.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <toml.hpp>
#include <vector>

#include "atdesk/core/decide.hpp"
#include "atdesk/core/error.hpp"
#include "atdesk/core/language.hpp"
#include "atdesk/core/recipient_table.hpp"
#include "atdesk/core/sender.hpp"
#include "atdesk/document/document.hpp"

namespace atdesk::app {

struct PrinterConfig {
  std::string name;
  std::string uri;
  bool is_default = false;
  // Connect timeout and the longest wait for an answer; a printer slower than this is retried.
  std::chrono::milliseconds timeout{10000};
};

struct Config {
  std::string source = "<embedded defaults>";  // the file it was read from

  // [server]
  std::string listen_address = "127.0.0.1";
  std::uint16_t port = 8631;
  int http_threads = 2;
  // HTTPS: PEM certificate chain and private key (both or neither); re-read on SIGHUP.
  std::filesystem::path tls_cert;
  std::filesystem::path tls_key;
  // Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or CIDR
  // ranges); from anyone else those fields are ignored.
  std::vector<std::string> trusted_proxies;

  // [storage]
  std::filesystem::path state_dir = "/var/lib/atdesk";
  std::filesystem::path database;    // default <state_dir>/atdesk.db
  std::filesystem::path spool_dir;   // default <state_dir>/spool
  std::filesystem::path key_file;    // default <state_dir>/spool.key
  std::filesystem::path token_file;  // default <state_dir>/admin.token

  // [store]: where jobs, tables and documents are kept. url empty (the default): SQLite at
  // `database` and the encrypted spool; "postgresql://..." (or a libpq key=value string):
  // PostgreSQL, documents in the database sealed with `key_file` (docs/postgresql.md).
  std::string store_url;
  int store_connections = 0;  // 0: worker_threads + [server] threads + 2
  // [cluster] lease_s: how long a node's lease on a job (and on housekeeping) lasts without a
  // renewal, by the database's clock; another node takes the work over after it. PostgreSQL only.
  std::chrono::seconds lease{30};

  // [general]
  std::string time_zone = "UTC";
  int worker_threads = 4;
  std::string log_level = "info";  // trace, debug, info, warn, error; re-read on SIGHUP
  // Chat messages to a recipient whose chat service and rule name no language, and the web UI
  // for a browser that asks for none atdesk has: "en" or "ja".
  Language language = Language::en;

  // [recipients] file: a recipient table in TOML (the format `atdesk recipients export --toml`
  // writes). When set, the file is the table: it replaces the table at start and on SIGHUP.
  std::optional<std::filesystem::path> recipients_file;

  // [holidays] calendars: iCalendar files or http(s) URLs whose events are holidays for the
  // schedule; re-read every refresh_hours and on SIGHUP.
  std::vector<std::string> holiday_calendars;
  std::chrono::hours holiday_refresh{24};

  NumberPlan numbers;  // [numbers]
  Policy policy;       // [policy]
  MatchPreference match = MatchPreference::sender_first;
  std::chrono::seconds retention{7 * 24 * 3600};  // [retention] held_days
  // [retention] check_interval_s: how often held jobs are checked for expiry and for a switch of
  // the scheduled mode table
  std::chrono::seconds housekeeping_interval{30};
  document::Limits limits;  // [limits]

  // [printing] retry_min_s / retry_max_s: the backoff of a job the printer could not take (the
  // first retry after retry_min_s, doubling up to retry_max_s, without end); stopped_notice_min:
  // how long a job may wait at a stopped queue before its recipients are told.
  std::chrono::seconds print_retry_min{2};
  std::chrono::seconds print_retry_max{300};
  std::chrono::minutes print_stopped_notice{10};

  std::vector<PrinterConfig> printers;  // [[printer]]
  bool local_chat = true;               // [chat.local] enabled
  // [chat.<name>] for every other chat service: its table, read by the factory of its `type`
  // (default: the name) in chat_factories.cpp.
  std::map<std::string, toml::value> chat_services;

  // [sip]: the SIP fax receiver's table, read by sip_ingress.cpp when atdeskd starts.
  std::optional<toml::value> sip;

  // [ipp_server]: atdesk-ippd, the IPP Everywhere printer, read by ipp_ingress.cpp.
  std::optional<toml::value> ipp_server;

  std::optional<std::filesystem::path> inbox_dir;  // [inbox] dir
  std::chrono::milliseconds inbox_poll{1000};      // [inbox] poll_ms

  // [web]: the browser UI's sessions.
  struct Web {
    int session_hours = 8;        // a session ends this long after sign-in
    bool secure_cookies = false;  // true when atdeskd is reached over HTTPS (a proxy in front)
  } web;

  std::string default_printer() const;
};

// Reads and validates a TOML file. Unknown keys are errors (they are usually typos).
Result<Config> load_config(const std::filesystem::path& file);
// Parses TOML text; `name` is used in messages.
Result<Config> parse_config(const std::string& text, const std::string& name);

}  // namespace atdesk::app
