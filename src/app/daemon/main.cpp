// atdeskd: reads atdesk.toml, builds the concrete adapters (SQLite store and encrypted spool, or
// PostgreSQL; IPP printers, local chat service, inbox folder) and injects them into the engine and
// the HTTP API.
#include <fcntl.h>
#include <malloc.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <stop_token>
#include <thread>

#include "atdesk/api/accounts.hpp"
#include "atdesk/api/auth.hpp"
#include "atdesk/api/http_server.hpp"
#include "atdesk/api/recipients_toml.hpp"
#include "atdesk/api/rest_api.hpp"
#include "atdesk/api/web_session.hpp"
#include "atdesk/api/web_ui.hpp"
#include "atdesk/chat/local/local_chat_service.hpp"
#include "atdesk/engine/engine.hpp"
#include "atdesk/fax/inbox.hpp"
#include "atdesk/print/ipp_printer.hpp"
#include "atdesk/store/pg_store.hpp"
#include "atdesk/store/spool.hpp"
#include "atdesk/store/sqlite_store.hpp"
#include "atdesk/store/state_lock.hpp"
#include "atdesk/tz/zone.hpp"
#include "chat_factories.hpp"
#include "config.hpp"
#include "graph_routes.hpp"
#include "holidays.hpp"
#include "ipp_ingress.hpp"
#include "journal_log.hpp"
#include "secrets.hpp"
#include "service_manager.hpp"
#include "sip_ingress.hpp"

namespace {

// This process's name in the leases it holds on a shared database: the host name and a random
// part, new at every start (a restarted node does not own what its earlier life left; those
// leases simply expire).
std::string new_node_id() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::strcpy(host, "atdeskd");
  std::random_device rd;  // /dev/urandom on Linux
  char suffix[9];
  std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(rd()));
  return std::string(host) + "-" + suffix;
}

// The first web UI account: when there is none, "admin" with a random password written to
// `file` (mode 0600, created exclusively); the operator reads it once and changes it.
atdesk::Result<bool> create_first_admin(atdesk::api::AccountStore& accounts,
                                        const std::filesystem::path& file) {
  using namespace atdesk;
  auto existing = accounts.list();
  if (!existing) return fail(existing.error());
  if (!existing->empty()) return false;
  const auto password = api::random_password();
  std::error_code ec;
  std::filesystem::remove(file, ec);
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const std::string why = std::strerror(errno);
    return fail(Errc::unavailable, file.string() + ": cannot create the password file: " + why);
  }
  const std::string text = password + "\n";
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!written) return fail(Errc::unavailable, file.string() + ": cannot write the password");
  auto account = accounts.create("admin", password, api::Role::admin, {});
  if (!account) return fail(account.error());
  return true;
}

// [recipients] file: the file is the recipient table; it replaces the table in the store.
atdesk::Result<std::size_t> load_recipients_file(atdesk::engine::Engine& engine,
                                                 const atdesk::app::Config& config) {
  using namespace atdesk;
  if (!config.recipients_file) return 0;
  const auto& file = *config.recipients_file;
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return fail(Errc::not_found,
                config.source + ": [recipients] file: cannot open " + file.string());
  }
  std::stringstream text;
  text << in.rdbuf();
  auto rules = api::rules_from_toml(text.str(), config.numbers);
  if (!rules) return fail(rules.error().code, file.string() + ": " + rules.error().message);
  auto replaced = engine.replace_recipient_rules(std::move(*rules), "config:" + file.string());
  if (!replaced) return fail(replaced.error());
  return replaced->size();
}

// [holidays] calendars into the engine (none: the dates imported before are dropped, as after a
// reload that removed them); a failure keeps the dates imported before.
atdesk::Result<std::size_t> refresh_holidays(atdesk::engine::Engine& engine,
                                             const std::vector<std::string>& calendars) {
  using namespace std::chrono;
  const year_month_day today{floor<days>(system_clock::now())};
  auto dates = atdesk::app::load_holidays(calendars, today);
  if (!dates) return atdesk::fail(dates.error());
  const auto count = dates->size();
  engine.set_imported_holidays(std::move(*dates), "config:[holidays]");
  return count;
}

// spdlog's level from [general] log_level (checked when the file was read).
void apply_log_level(const std::string& level) {
  spdlog::set_level(spdlog::level::from_str(level));
}

int run(const atdesk::app::Config& config, const std::string& config_file,
        atdesk::app::ServiceManager& service) {
  using namespace atdesk;
  std::error_code ec;
  std::filesystem::create_directories(config.state_dir, ec);
  std::filesystem::permissions(config.state_dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);

  // One atdeskd per state folder, and none while `atdesk restore` replaces it.
  auto state_lock = store::StateLock::acquire(config.state_dir, "atdeskd");
  if (!state_lock) {
    spdlog::critical("{}", state_lock.error().message);
    return 2;
  }
  auto zone = tz::load_time_zone(config.time_zone);
  if (!zone) {
    spdlog::critical("{}: [general] time_zone: {}", config.source, zone.error().message);
    return 2;
  }
  // The store: SQLite and the encrypted spool in the state folder (the default), or PostgreSQL
  // with the documents in the database ([store] url).
  std::unique_ptr<store::SqliteStore> sqlite;
  std::unique_ptr<store::PgStore> pg;
  std::unique_ptr<store::BlobStore> blobs;
  store::JobStore* jobs = nullptr;
  store::TableStore* tables = nullptr;
  std::string store_name;
  if (config.store_url.empty()) {
    auto db = store::SqliteStore::open(config.database, config.numbers);
    if (!db) {
      spdlog::critical("cannot open the store: {}", db.error().message);
      return 2;
    }
    auto spool = store::EncryptedSpool::open(config.spool_dir, config.key_file);
    if (!spool) {
      spdlog::critical("cannot open the spool: {}", spool.error().message);
      return 2;
    }
    sqlite = std::move(*db);
    jobs = sqlite.get();
    tables = sqlite.get();
    blobs = std::move(*spool);
    store_name = config.database.string();
  } else {
    // One connection per engine worker and HTTP thread, and two for the ingresses.
    const auto connections = config.store_connections > 0
                                 ? config.store_connections
                                 : config.worker_threads + config.http_threads + 2;
    auto db = store::PgStore::open({.url = config.store_url,
                                    .connections = static_cast<std::size_t>(connections),
                                    .node_id = new_node_id(),
                                    .lease = config.lease},
                                   config.numbers);
    if (!db) {
      spdlog::critical("cannot open the store: {}", db.error().message);
      return 2;
    }
    auto documents = store::PgBlobStore::open((*db)->connections(), config.key_file);
    if (!documents) {
      spdlog::critical("cannot open the documents: {}", documents.error().message);
      return 2;
    }
    pg = std::move(*db);
    jobs = pg.get();
    tables = pg.get();
    blobs = std::move(*documents);
    store_name = "PostgreSQL, schema " + std::to_string(store::PgStore::highest_schema_version()) +
                 ", " + std::to_string(connections) + " connections, node " + pg->node_id() +
                 ", lease " + std::to_string(config.lease.count()) + " s";
    spdlog::info("node {}: jobs it works on are leased for {} s, renewed every {} s", pg->node_id(),
                 config.lease.count(), config.lease.count() / 3.0);
  }
  bool created = false;
  auto token = app::load_or_create_token(config.token_file, created);
  if (!token) {
    spdlog::critical("{}", token.error().message);
    return 2;
  }

  SystemClock clock;
  std::vector<std::unique_ptr<print::IppPrinter>> printers;
  std::map<std::string, print::Printer*> printer_map;
  for (const auto& p : config.printers) {
    printers.push_back(
        std::make_unique<print::IppPrinter>(print::IppPrinter::Settings{p.name, p.uri, p.timeout}));
    printer_map.emplace(p.name, printers.back().get());
  }
  std::unique_ptr<chat::LocalChatService> local;
  std::map<std::string, chat::ChatService*> chat_map;
  if (config.local_chat) {
    local = std::make_unique<chat::LocalChatService>(chat::LocalChatService::Settings{}, *tables,
                                                     clock);
    chat_map.emplace(local->name(), local.get());
  }
  std::vector<std::unique_ptr<chat::ChatService>> services;
  app::ChatContext chat_context{config, *tables, clock, config.key_file};
  for (const auto& [name, table] : config.chat_services) {
    auto service = app::make_chat_service(name, table, config.source, chat_context);
    if (!service) {
      spdlog::critical("{}", service.error().message);
      return 2;
    }
    chat_map.emplace(name, service->get());
    services.push_back(std::move(*service));
  }

  engine::Settings settings;
  settings.policy = config.policy;
  settings.numbers = config.numbers;
  settings.match = config.match;
  settings.limits = config.limits;
  settings.default_printer = config.default_printer();
  settings.retention = config.retention;
  settings.housekeeping_interval = config.housekeeping_interval;
  // A third of the lease: two renewals may fail (a slow database, a busy machine) before it
  // expires. Expired leases are looked for as often, at most every 5 s.
  settings.lease_renew_interval =
      std::chrono::duration_cast<std::chrono::milliseconds>(config.lease) / 3;
  settings.takeover_interval =
      std::min<std::chrono::milliseconds>(settings.lease_renew_interval, std::chrono::seconds(5));
  settings.singleton_lease = config.lease;
  settings.print_retry_min = config.print_retry_min;
  settings.print_retry_max = config.print_retry_max;
  settings.print_stopped_notice = config.print_stopped_notice;
  settings.worker_threads = config.worker_threads;
  settings.language = config.language;
  engine::Engine engine(
      settings, engine::Dependencies{*jobs, *tables, *blobs, clock, **zone, printer_map, chat_map});
  if (auto ok = engine.start(); !ok) {
    spdlog::critical("cannot start: {}", ok.error().message);
    return 2;
  }
  if (auto loaded = load_recipients_file(engine, config); !loaded) {
    spdlog::critical("{}", loaded.error().message);
    engine.stop();
    return 2;
  } else if (config.recipients_file) {
    spdlog::info("recipient table: {} rules from {}", *loaded, config.recipients_file->string());
  }
  // On a shared database one node takes each service's commands and owns its subscriptions:
  // told before the service connects, then whenever the lease changes hands.
  for (const auto& [name, service] : chat_map) {
    engine.singleton("chat:" + name, [service](bool primary) { service->set_primary(primary); });
  }
  // Chat services connect on their own threads; one that cannot connect now keeps trying (and
  // the engine holds jobs while presence is unavailable), so only a refusal to start is fatal.
  for (auto& service : services) {
    if (auto ok = service->start(); !ok) {
      spdlog::critical("chat service {}: {}", service->name(), ok.error().message);
      engine.stop();
      return 2;
    }
  }

  // The bearer token (CLI, scripts) or a web UI session cookie with its CSRF token.
  // [holidays]: the calendars now (a file that is not iCalendar stops the start like any other
  // configuration error; a URL that does not answer is tried again), then every refresh_hours.
  if (auto loaded = refresh_holidays(engine, config.holiday_calendars); !loaded) {
    if (loaded.error().code != Errc::unavailable) {
      spdlog::critical("[holidays] calendars: {}", loaded.error().message);
      engine.stop();
      return 2;
    }
    spdlog::warn("[holidays] calendars: {}; trying again in {} h", loaded.error().message,
                 config.holiday_refresh.count());
  } else if (!config.holiday_calendars.empty()) {
    spdlog::info("holidays: {} dates from {} calendar(s)", *loaded,
                 config.holiday_calendars.size());
  }
  // The periodic refresh reads the calendars and interval in force: SIGHUP replaces them.
  std::mutex holiday_mutex;
  std::condition_variable_any holiday_wake;
  std::vector<std::string> holiday_calendars = config.holiday_calendars;
  std::chrono::hours holiday_refresh = config.holiday_refresh;
  std::jthread holiday_refresher([&](std::stop_token stop) {
    while (!stop.stop_requested()) {
      std::vector<std::string> calendars;
      {
        std::unique_lock lock(holiday_mutex);
        // Nothing but the stop request or the interval ends the wait.
        (void)holiday_wake.wait_for(lock, stop, holiday_refresh, [] { return false; });
        calendars = holiday_calendars;
      }
      if (stop.stop_requested()) break;
      if (auto ok = refresh_holidays(engine, calendars); !ok) {
        spdlog::warn("[holidays] calendars: {}; the dates imported before stay",
                     ok.error().message);
      }
    }
  });

  api::AccountStore accounts(*tables);
  const auto admin_password_file = config.state_dir / "web-admin.password";
  auto first_admin = create_first_admin(accounts, admin_password_file);
  if (!first_admin) {
    spdlog::critical("{}", first_admin.error().message);
    engine.stop();
    return 2;
  }
  api::SessionStore sessions(
      api::SessionStore::Settings{std::chrono::hours(config.web.session_hours),
                                  config.web.secure_cookies},
      clock);
  api::SignInLimiter limiter(api::SignInLimiter::Settings{}, clock);
  api::TokenAuthenticator bearer(*token);
  api::SessionAuthenticator session_auth(sessions, accounts);
  api::CompositeAuthenticator auth(bearer, session_auth);
  // The fax calls' media timing ([sip]), counted by their media threads, shown in /metrics;
  // declared before the router and the server that read it.
  fax_sip::MediaTiming media_timing;
  api::Router router(auth);
  api::install_rest_api(router, engine, local.get(), auth,
                        [&media_timing] { return app::render_media_timing(media_timing); });
  api::install_web_api(router,
                       api::WebApiContext{engine, accounts, sessions, limiter, *tables, auth});
  api::install_web_ui(router, auth);
  std::vector<chat::GraphChatService*> graph_services;
  for (auto& service : services) {
    if (auto* g = dynamic_cast<chat::GraphChatService*>(service.get())) {
      graph_services.push_back(g);
    }
  }
  auto graph_sign_ins = app::install_graph_routes(router, auth, graph_services);
  api::HttpServer::Settings http;
  http.address = config.listen_address;
  http.port = config.port;
  http.threads = config.http_threads;
  http.tls_cert = config.tls_cert.string();
  http.tls_key = config.tls_key.string();
  http.trusted_proxies = config.trusted_proxies;
  api::HttpServer server(http, router);
  if (auto ok = server.start(); !ok) {
    spdlog::critical("cannot listen on {}:{}: {}", config.listen_address, config.port,
                     ok.error().message);
    engine.stop();
    return 2;
  }

  std::unique_ptr<fax::InboxWatcher> inbox;
  if (config.inbox_dir) {
    inbox = std::make_unique<fax::InboxWatcher>(
        fax::InboxWatcher::Settings{*config.inbox_dir, config.inbox_poll, config.numbers,
                                    config.limits.max_file_bytes},
        [&engine](IncomingDocument d) { return engine.submit(std::move(d)); },
        [&engine](const std::string& action, const std::string& subject,
                  const std::string& detail) {
          return engine.record_audit("inbox", action, subject, detail);
        });
    if (auto ok = inbox->start(); !ok) {
      spdlog::critical("{}", ok.error().message);
      return 2;
    }
  }

  // [sip]: faxes over SIP (sip_ingress.cpp)
  auto sip = app::start_sip_ingress(config, engine, &media_timing);
  if (!sip) {
    spdlog::critical("{}", sip.error().message);
    return 2;
  }

  // [ipp_server]: atdesk-ippd, the IPP Everywhere printer (ipp_ingress.cpp)
  auto ipp = app::start_ipp_ingress(config, engine, *tables);
  if (!ipp) {
    spdlog::critical("{}", ipp.error().message);
    return 2;
  }

  const std::string host = config.listen_address.find(':') != std::string::npos
                               ? "[" + config.listen_address + "]"
                               : config.listen_address;
  const bool https = !config.tls_cert.empty();
  std::cout << "atdeskd is running\n"
            << "  web UI and API:   " << (https ? "https://" : "http://") << host << ":"
            << server.port() << "/\n"
            << "  admin token:      " << config.token_file.string()
            << (created ? " (created now)" : "") << "\n";
  if (*first_admin) {
    std::cout << "  first web admin:  user admin, password in " << admin_password_file.string()
              << " (created now; sign in and change it)\n";
  }
  std::cout << "  store:            " << store_name << "\n";
  if (sqlite) std::cout << "  spool:            " << config.spool_dir.string() << "\n";
  for (const auto& p : config.printers) {
    std::cout << "  printer:          " << p.name << " " << p.uri
              << (p.name == settings.default_printer ? " (default)" : "") << "\n";
  }
  if (config.inbox_dir) std::cout << "  inbox folder:     " << config.inbox_dir->string() << "\n";
  if (*sip) std::cout << "  SIP fax:          [sip] in " << config.source << "\n";
  if (*ipp) {
    const auto& is = (*ipp)->settings;
    for (const auto& q : is.queues) {
      std::cout << "  IPP printer:      ipp://" << is.listen << ":" << is.port << "/ipp/print/" << q
                << "\n";
    }
  }
  std::cout << std::flush;

  service.ready("serving on " + host + ":" + std::to_string(server.port()));
  if (const auto interval = service.watchdog_interval()) {
    // A task that runs longer than half the watchdog interval while nothing else finishes is a
    // hang (the longest printer or chat call is bounded well below it).
    const auto bound = std::chrono::duration_cast<std::chrono::milliseconds>(*interval / 2);
    service.start_watchdog([&engine, bound] { return engine.making_progress(bound); });
  }

  // Wait for SIGINT/SIGTERM; then stop taking work, and let the engine stop cleanly. Jobs in
  // flight are durable and resume at the next start. SIGHUP re-reads what can change without a
  // restart: the log level, the recipient-table file and the TLS certificate.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  int sig = 0;
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
    service.reloading();
    spdlog::info("SIGHUP: reloading {}", config.source);
    auto fresh = config_file.empty() ? app::parse_config("", "<embedded defaults>")
                                     : app::load_config(config_file);
    if (!fresh) {
      spdlog::error("reload: {}; keeping the running configuration", fresh.error().message);
      service.reloaded("reload failed; running configuration kept");
      continue;
    }
    apply_log_level(fresh->log_level);
    std::string outcome = "log level " + fresh->log_level;
    if (auto loaded = load_recipients_file(engine, *fresh); !loaded) {
      spdlog::error("reload: {}; the recipient table is unchanged", loaded.error().message);
      outcome += "; recipient table unchanged (error)";
    } else if (fresh->recipients_file) {
      outcome += "; " + std::to_string(*loaded) + " recipient rules";
    }
    {
      std::lock_guard lock(holiday_mutex);
      holiday_calendars = fresh->holiday_calendars;
      holiday_refresh = fresh->holiday_refresh;
    }
    if (auto holidays = refresh_holidays(engine, fresh->holiday_calendars); !holidays) {
      spdlog::error("reload: [holidays] calendars: {}; the dates imported before stay",
                    holidays.error().message);
      outcome += "; holidays unchanged (error)";
    } else if (!fresh->holiday_calendars.empty()) {
      outcome += "; " + std::to_string(*holidays) + " holiday dates";
    }
    if (https && (fresh->tls_cert != config.tls_cert || fresh->tls_key != config.tls_key)) {
      spdlog::warn("reload: [server] tls_cert/tls_key moved to other files; that takes a restart");
    }
    if (auto ok = server.reload_tls(); !ok) {
      spdlog::error("reload: {}; the previous certificate stays in use", ok.error().message);
      outcome += "; certificate unchanged (error)";
    } else if (https) {
      outcome += "; certificate re-read";
    }
    spdlog::info("reloaded: {}", outcome);
    service.reloaded("serving; reloaded: " + outcome);
  }
  spdlog::info("signal {}: stopping", sig);
  service.stopping();
  holiday_refresher.request_stop();
  holiday_refresher.join();
  if (inbox) inbox->stop();
  if (*sip) (*sip)->stop();
  if (*ipp) (*ipp)->stop();
  server.stop();
  engine.stop();
  for (auto& service : services) service->stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Block the stop signals before any thread starts, so that only sigwait() receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  // glibc gives threads that allocate at once arenas of their own, up to 8 per core; atdeskd's
  // dozen threads made its resident memory grow by half again in a soak (docs/performance.md).
  // Two arenas keep it lower at no measurable cost. MALLOC_ARENA_MAX, when set, wins.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) {
    (void)mallopt(M_ARENA_MAX, 2);  // fails only for an option glibc does not know
  }

  CLI::App cli{"atdeskd: prints or holds faxes and print jobs by their recipient's chat presence"};
  std::string config_file;
  std::string state_dir;
  bool check = false;
  cli.add_option("-c,--config", config_file, "atdesk.toml (default: embedded defaults)");
  cli.add_option("--state-dir", state_dir, "overrides [storage] state_dir and the paths under it");
  cli.add_flag("--check-config", check, "validate the configuration and exit");
  CLI11_PARSE(cli, argc, argv);

  auto config = config_file.empty() ? atdesk::app::parse_config("", "<embedded defaults>")
                                    : atdesk::app::load_config(config_file);
  if (!config) {
    std::cerr << "atdeskd: " << config.error().message << "\n";
    return 2;
  }
  if (!state_dir.empty()) {
    config->state_dir = state_dir;
    config->database = config->state_dir / "atdesk.db";
    config->spool_dir = config->state_dir / "spool";
    config->key_file = config->state_dir / "spool.key";
    config->token_file = config->state_dir / "admin.token";
  }
  if (check) {
    if (auto sip = atdesk::app::sip_settings(*config); !sip) {
      std::cerr << "atdeskd: " << sip.error().message << "\n";
      return 2;
    }
    if (auto ipp = atdesk::app::ipp_server_settings(*config); !ipp) {
      std::cerr << "atdeskd: " << ipp.error().message << "\n";
      return 2;
    }
    std::cout << config->source << ": ok\n";
    return 0;
  }
  if (atdesk::app::stderr_is_journal()) {
    // Under systemd: the journal adds time and host itself, and keeps the job's fields apart.
    spdlog::set_default_logger(
        std::make_shared<spdlog::logger>("atdeskd", atdesk::app::make_journal_sink()));
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  }
  apply_log_level(config->log_level);
  atdesk::app::ServiceManager service;
  return run(*config, config_file, service);
}
