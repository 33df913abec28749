#include "config.hpp"

#include "atdesk/core/text.hpp"
#include "config_section.hpp"

#include <algorithm>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <toml.hpp>

namespace atdesk::app {
namespace {

Result<Action> action(Section& s, const std::string& key, Action fallback) {
  std::string text(to_string(fallback));
  if (auto ok = s.string(key, text); !ok) return fail(ok.error());
  auto a = parse_action(text);
  if (!a) {
    return fail(Errc::invalid_argument,
                s.where(key) + ": expected \"print\" or \"hold\", got \"" + text + "\"");
  }
  return *a;
}

Result<Config> from_toml(const toml::value& root, const std::string& file) {
  Config c;
  c.source = file;
  if (!root.is_table()) return fail(Errc::invalid_argument, file + ": expected a TOML table");
  Section top(&root, "", file);
  auto section = [&](const std::string& name) -> const toml::value* {
    const auto* v = top.get(name);
    return v && v->is_table() ? v : nullptr;
  };
  for (const auto& [key, value] : root.as_table()) {
    if (key != "printer" && !value.is_table()) {
      return fail(Errc::invalid_argument, file + ": " + key + ": expected a [" + key + "] table");
    }
  }

  Section server(section("server"), "server", file);
  std::string listen = c.listen_address + ":" + std::to_string(c.port);
  ATDESK_TRY(server.string("listen", listen));
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return fail(Errc::invalid_argument,
                server.where("listen") + ": expected \"address:port\", got \"" + listen + "\"");
  }
  c.listen_address = listen.substr(0, colon);
  if (c.listen_address.size() > 2 && c.listen_address.front() == '[') {
    c.listen_address = c.listen_address.substr(1, c.listen_address.size() - 2);
  }
  try {
    std::size_t used = 0;
    const auto port = std::stoul(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1 || port > 65535) throw std::out_of_range("port");
    c.port = static_cast<std::uint16_t>(port);
  } catch (const std::exception&) {
    return fail(Errc::invalid_argument, server.where("listen") +
                                            ": expected a port number 0-65535 after ':', got \"" +
                                            listen + "\"");
  }
  ATDESK_TRY(server.integer("threads", c.http_threads, 1, 64));
  std::string cert, key_path;
  ATDESK_TRY(server.string("tls_cert", cert));
  ATDESK_TRY(server.string("tls_key", key_path));
  if (cert.empty() != key_path.empty()) {
    return fail(Errc::invalid_argument,
                server.where(cert.empty() ? "tls_cert" : "tls_key") +
                    ": expected tls_cert and tls_key together (a certificate and its key)");
  }
  c.tls_cert = cert;
  c.tls_key = key_path;
  ATDESK_TRY(server.strings("trusted_proxies", c.trusted_proxies));
  ATDESK_TRY(server.no_unknown_keys());

  Section storage(section("storage"), "storage", file);
  std::string state = c.state_dir.string(), db, spool, key, token;
  ATDESK_TRY(storage.string("state_dir", state));
  ATDESK_TRY(storage.string("database", db));
  ATDESK_TRY(storage.string("spool_dir", spool));
  ATDESK_TRY(storage.string("key_file", key));
  ATDESK_TRY(storage.string("admin_token_file", token));
  ATDESK_TRY(storage.no_unknown_keys());
  c.state_dir = state;
  c.database = db.empty() ? c.state_dir / "atdesk.db" : std::filesystem::path(db);
  c.spool_dir = spool.empty() ? c.state_dir / "spool" : std::filesystem::path(spool);
  c.key_file = key.empty() ? c.state_dir / "spool.key" : std::filesystem::path(key);
  c.token_file = token.empty() ? c.state_dir / "admin.token" : std::filesystem::path(token);

  Section store(section("store"), "store", file);
  ATDESK_TRY(store.string("url", c.store_url));
  ATDESK_TRY(store.integer("connections", c.store_connections, 1, 256));
  ATDESK_TRY(store.no_unknown_keys());
  if (!c.store_url.empty()) {
    const auto& url = c.store_url;
    const bool uri = url.starts_with("postgresql://") || url.starts_with("postgres://");
    if (!uri && url.find('=') == std::string::npos) {
      return fail(Errc::invalid_argument,
                  store.where("url") +
                      ": expected \"postgresql://user@host/database\" or libpq's \"host=... "
                      "dbname=...\" (leave it out for SQLite in the state folder)");
    }
    // A password in the URL would sit in the configuration and in every message that names the
    // store; libpq reads it from a password file instead.
    const auto authority_end = uri ? url.find_first_of("/?", url.find("://") + 3) : 0;
    const auto authority = uri ? url.substr(0, authority_end) : std::string();
    if (url.find("password=") != std::string::npos ||
        (uri && authority.find('@') != std::string::npos &&
         authority.substr(0, authority.find('@')).find(':', url.find("://") + 3) !=
             std::string::npos)) {
      return fail(Errc::invalid_argument,
                  store.where("url") +
                      ": expected no password in the URL: put it in a password file "
                      "(passfile=/etc/atdesk/pgpass in the URL, or ~/.pgpass of the service "
                      "user; docs/postgresql.md)");
    }
  }

  Section cluster(section("cluster"), "cluster", file);
  long long lease_s = c.lease.count();
  ATDESK_TRY(cluster.integer("lease_s", lease_s, 3, 3600));
  c.lease = std::chrono::seconds(lease_s);
  ATDESK_TRY(cluster.no_unknown_keys());

  Section general(section("general"), "general", file);
  ATDESK_TRY(general.string("time_zone", c.time_zone));
  ATDESK_TRY(general.integer("worker_threads", c.worker_threads, 1, 64));
  ATDESK_TRY(general.string("log_level", c.log_level));
  if (c.log_level != "trace" && c.log_level != "debug" && c.log_level != "info" &&
      c.log_level != "warn" && c.log_level != "error") {
    return fail(Errc::invalid_argument, general.where("log_level") +
                                            ": expected trace, debug, info, warn or error, got \"" +
                                            c.log_level + "\"");
  }
  std::string language(to_string(c.language));
  ATDESK_TRY(general.string("language", language));
  const auto parsed_language = parse_language(language);
  if (!parsed_language || (language != "en" && language != "ja")) {
    return fail(
        Errc::invalid_argument,
        general.where("language") + ": expected \"en\" or \"ja\", got \"" + language + "\"");
  }
  c.language = *parsed_language;
  ATDESK_TRY(general.no_unknown_keys());

  Section recipients(section("recipients"), "recipients", file);
  std::string recipients_file;
  ATDESK_TRY(recipients.string("file", recipients_file));
  ATDESK_TRY(recipients.no_unknown_keys());
  if (!recipients_file.empty()) c.recipients_file = recipients_file;

  Section holidays(section("holidays"), "holidays", file);
  ATDESK_TRY(holidays.strings("calendars", c.holiday_calendars));
  long long refresh = c.holiday_refresh.count();
  ATDESK_TRY(holidays.integer("refresh_hours", refresh, 1, 24 * 31));
  c.holiday_refresh = std::chrono::hours(refresh);
  ATDESK_TRY(holidays.no_unknown_keys());
  for (const auto& calendar : c.holiday_calendars) {
    if (calendar.empty() || (!calendar.starts_with("/") && !calendar.starts_with("https://") &&
                             !calendar.starts_with("http://"))) {
      return fail(Errc::invalid_argument,
                  holidays.where("calendars") +
                      ": expected absolute file paths or http(s) URLs of iCalendar files, got \"" +
                      calendar + "\"");
    }
  }

  Section numbers(section("numbers"), "numbers", file);
  ATDESK_TRY(numbers.string("country_code", c.numbers.country_code));
  ATDESK_TRY(numbers.string("trunk_prefix", c.numbers.trunk_prefix));
  ATDESK_TRY(numbers.string("international_prefix", c.numbers.international_prefix));
  ATDESK_TRY(numbers.no_unknown_keys());
  for (const auto* f :
       {&c.numbers.country_code, &c.numbers.trunk_prefix, &c.numbers.international_prefix}) {
    if (f->find_first_not_of("0123456789") != std::string::npos || f->size() > 4) {
      return fail(Errc::invalid_argument,
                  file + ": [numbers]: expected up to 4 digits, got \"" + *f + "\"");
    }
  }

  Section policy(section("policy"), "policy", file);
  auto unknown = action(policy, "unknown_sender", c.policy.unknown_sender);
  if (!unknown) return fail(unknown.error());
  c.policy.unknown_sender = *unknown;
  auto unavailable = action(policy, "presence_unavailable", c.policy.presence_unavailable);
  if (!unavailable) return fail(unavailable.error());
  c.policy.presence_unavailable = *unavailable;
  std::string match = "sender";
  ATDESK_TRY(policy.string("match_first", match));
  if (match == "sender") {
    c.match = MatchPreference::sender_first;
  } else if (match == "called") {
    c.match = MatchPreference::called_first;
  } else {
    return fail(
        Errc::invalid_argument,
        policy.where("match_first") + ": expected \"sender\" or \"called\", got \"" + match + "\"");
  }
  ATDESK_TRY(policy.no_unknown_keys());

  Section retention(section("retention"), "retention", file);
  long long days = c.retention.count() / 86400;
  ATDESK_TRY(retention.integer("held_days", days, 1, 3650));
  c.retention = std::chrono::seconds(days * 86400);
  long long check = c.housekeeping_interval.count();
  ATDESK_TRY(retention.integer("check_interval_s", check, 1, 3600));
  c.housekeeping_interval = std::chrono::seconds(check);
  ATDESK_TRY(retention.no_unknown_keys());

  Section limits(section("limits"), "limits", file);
  long long mb = static_cast<long long>(c.limits.max_file_bytes >> 20);
  ATDESK_TRY(limits.integer("max_file_mb", mb, 1, 4096));
  c.limits.max_file_bytes = static_cast<std::uint64_t>(mb) << 20;
  ATDESK_TRY(limits.integer("max_pages", c.limits.max_pages, 1, 10000));
  ATDESK_TRY(limits.integer("max_width_px", c.limits.max_width_px, 100, 100000));
  ATDESK_TRY(limits.integer("max_height_px", c.limits.max_height_px, 100, 100000));
  ATDESK_TRY(limits.no_unknown_keys());

  Section printing(section("printing"), "printing", file);
  long long retry_min = c.print_retry_min.count();
  long long retry_max = c.print_retry_max.count();
  long long stopped = c.print_stopped_notice.count();
  ATDESK_TRY(printing.integer("retry_min_s", retry_min, 1, 600));
  ATDESK_TRY(printing.integer("retry_max_s", retry_max, 1, 3600));
  ATDESK_TRY(printing.integer("stopped_notice_min", stopped, 1, 1440));
  if (retry_max < retry_min) {
    return fail(Errc::invalid_argument,
                printing.where("retry_max_s") + ": expected at least retry_min_s (" +
                    std::to_string(retry_min) + "), got " + std::to_string(retry_max));
  }
  c.print_retry_min = std::chrono::seconds(retry_min);
  c.print_retry_max = std::chrono::seconds(retry_max);
  c.print_stopped_notice = std::chrono::minutes(stopped);
  ATDESK_TRY(printing.no_unknown_keys());

  if (const auto* printers = top.get("printer")) {
    if (!printers->is_array()) {
      return fail(Errc::invalid_argument, file + ": printer: expected [[printer]] tables");
    }
    std::size_t i = 0;
    for (const auto& p : printers->as_array()) {
      const std::string path = "printer " + std::to_string(i + 1);
      if (!p.is_table())
        return fail(Errc::invalid_argument, file + ": [" + path + "]: expected a table");
      Section s(&p, path, file);
      PrinterConfig pc;
      ATDESK_TRY(s.string("name", pc.name));
      ATDESK_TRY(s.string("uri", pc.uri));
      ATDESK_TRY(s.boolean("default", pc.is_default));
      long long timeout_ms = pc.timeout.count();
      ATDESK_TRY(s.integer("timeout_ms", timeout_ms, 100, 600000));
      pc.timeout = std::chrono::milliseconds(timeout_ms);
      ATDESK_TRY(s.no_unknown_keys());
      if (pc.name.empty() || pc.name.size() > 64 ||
          pc.name.find_first_not_of(
              "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
              std::string::npos) {
        return fail(
            Errc::invalid_argument,
            s.where("name") + ": expected 1-64 of A-Z a-z 0-9 . _ -, got \"" + pc.name + "\"");
      }
      if (!(pc.uri.starts_with("ipp://") || pc.uri.starts_with("ipps://"))) {
        return fail(Errc::invalid_argument,
                    s.where("uri") + ": expected an ipp:// or ipps:// URI, got \"" + pc.uri + "\"");
      }
      for (const auto& other : c.printers) {
        if (other.name == pc.name) {
          return fail(Errc::invalid_argument,
                      s.where("name") + ": printer \"" + pc.name + "\" is configured twice");
        }
      }
      c.printers.push_back(std::move(pc));
      ++i;
    }
    if (std::count_if(c.printers.begin(), c.printers.end(),
                      [](const PrinterConfig& p) { return p.is_default; }) > 1) {
      return fail(Errc::invalid_argument,
                  file + ": [[printer]] default: only one printer may be the default");
    }
  }

  Section chat(section("chat"), "chat", file);
  if (const auto* local = chat.get("local")) {
    if (!local->is_table())
      return fail(Errc::invalid_argument, chat.where("local") + ": expected a table");
    Section s(local, "chat.local", file);
    ATDESK_TRY(s.boolean("enabled", c.local_chat));
    ATDESK_TRY(s.no_unknown_keys());
  }
  // Every other [chat.<name>] is a chat service connection, read by its adapter's factory
  // (chat_factories.hpp) when atdeskd starts.
  if (chat.present()) {
    for (const auto& [name, value] : section("chat")->as_table()) {
      if (name == "local") continue;
      (void)chat.get(name);
      if (!value.is_table()) {
        return fail(Errc::invalid_argument, chat.where(name) + ": expected a table");
      }
      c.chat_services.emplace(name, value);
    }
  }
  ATDESK_TRY(chat.no_unknown_keys());

  Section inbox(section("inbox"), "inbox", file);
  std::string dir;
  ATDESK_TRY(inbox.string("dir", dir));
  long long poll = c.inbox_poll.count();
  ATDESK_TRY(inbox.integer("poll_ms", poll, 50, 600000));
  c.inbox_poll = std::chrono::milliseconds(poll);
  ATDESK_TRY(inbox.no_unknown_keys());
  if (!dir.empty()) c.inbox_dir = dir;

  // [sip] is read by its own module (sip_ingress.cpp), which names the file, table and key too.
  if (const auto* sip = section("sip")) c.sip = *sip;
  // [ipp_server] likewise (ipp_ingress.cpp).
  if (const auto* ipp = section("ipp_server")) c.ipp_server = *ipp;

  Section web(section("web"), "web", file);
  ATDESK_TRY(web.integer("session_hours", c.web.session_hours, 1, 24 * 30));
  ATDESK_TRY(web.boolean("secure_cookies", c.web.secure_cookies));
  ATDESK_TRY(web.no_unknown_keys());

  ATDESK_TRY(top.no_unknown_keys());
  return c;
}

}  // namespace

std::string Config::default_printer() const {
  for (const auto& p : printers) {
    if (p.is_default) return p.name;
  }
  return printers.empty() ? std::string{} : printers.front().name;
}

Result<Config> parse_config(const std::string& text, const std::string& name) {
  if (auto ok = check_utf8(text, name); !ok) return fail(ok.error());
  try {
    std::istringstream in(text);
    return from_toml(toml::parse(in, name), name);
  } catch (const toml::exception& e) {
    // toml11's text shows the offending line; lead with "file, line N" so the first words say
    // where, as every other configuration error does.
    const auto where = e.location();
    return fail(Errc::invalid_argument, name + ", line " + std::to_string(where.line()) +
                                            ": TOML syntax error\n" + e.what());
  } catch (const std::exception& e) {
    return fail(Errc::invalid_argument, name + ": " + e.what());
  }
}

Result<Config> load_config(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail(Errc::not_found, file.string() + ": cannot open the configuration file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_config(buffer.str(), file.string());
}

}  // namespace atdesk::app
