#include "ipp_ingress.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "atdesk/api/accounts.hpp"
#include "atdesk/api/ipp_tokens.hpp"
#include "config_section.hpp"

namespace atdesk::app {
namespace fs = std::filesystem;

std::vector<std::string> IppServerSettings::arguments() const {
  std::vector<std::string> a = {program.string(),
                                "--socket",
                                socket.string(),
                                "--spool",
                                spool_dir.string(),
                                "--listen",
                                listen,
                                "--port",
                                std::to_string(port),
                                "--log-level",
                                log_level,
                                "--max-document-bytes",
                                std::to_string(max_document_bytes)};
  for (const auto& q : queues) {
    a.push_back("--queue");
    a.push_back(q);
  }
  for (const auto& [queue, user] : owners) {
    a.push_back("--owner");
    a.push_back(queue + "=" + user);
  }
  if (dnssd) a.push_back("--dnssd");
  if (tls) {
    a.push_back("--tls");
    a.push_back("--tls-dir");
    a.push_back(tls_dir.string());
  }
  if (sign_in) a.push_back("--sign-in");
  if (personal_tokens) a.push_back("--token-queue");
  return a;
}

namespace {

bool valid_queue_name(const std::string& q) {
  if (q.empty() || q.size() > 127) return false;
  for (unsigned char c : q) {
    if (!(std::isalnum(c) || c == '-' || c == '_' || c == '.')) return false;
  }
  return true;
}

fs::path default_program() {
  std::error_code ec;
  const auto self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    // The build tree keeps atdesk-ippd in its own folder; the package puts both in /usr/sbin.
    for (const auto& candidate :
         {self.parent_path() / "atdesk-ippd",
          self.parent_path().parent_path().parent_path() / "ippd" / "printer" / "atdesk-ippd"}) {
      if (fs::exists(candidate, ec)) return candidate;
    }
  }
  return "/usr/sbin/atdesk-ippd";
}

}  // namespace

Result<std::optional<IppServerSettings>> ipp_server_settings(const Config& config) {
  if (!config.ipp_server) return std::nullopt;
  Section s(&*config.ipp_server, "ipp_server", config.source);
  bool enabled = true;
  IppServerSettings out;
  ATDESK_TRY(s.boolean("enabled", enabled));
  std::string program;
  ATDESK_TRY(s.string("program", program));
  ATDESK_TRY(s.string("listen", out.listen));
  ATDESK_TRY(s.integer("port", out.port, 1, 65535));
  ATDESK_TRY(s.strings("queues", out.queues));
  if (out.queues.empty()) return fail(Errc::invalid_argument, s.where("queues") + ": empty");
  for (const auto& q : out.queues) {
    if (!valid_queue_name(q)) {
      return fail(Errc::invalid_argument,
                  s.where("queues") +
                      ": expected names of letters, digits, '-', '_' and '.', "
                      "got \"" +
                      q + "\"");
    }
  }
  if (const auto* owners = s.get("owners")) {
    if (!owners->is_table()) {
      return fail(Errc::invalid_argument,
                  s.where("owners") + ": expected a table of queue = \"user\"");
    }
    for (const auto& [queue, user] : owners->as_table()) {
      if (!user.is_string() || user.as_string().str.empty()) {
        return fail(Errc::invalid_argument, s.where("owners." + queue) + ": expected a user name");
      }
      if (std::find(out.queues.begin(), out.queues.end(), queue) == out.queues.end()) {
        return fail(Errc::invalid_argument,
                    s.where("owners." + queue) + ": not one of the queues in [ipp_server] queues");
      }
      out.owners[queue] = user.as_string().str;
    }
  }
  std::string unknown_owner;
  ATDESK_TRY(s.string("unknown_owner", unknown_owner));
  if (!unknown_owner.empty()) {
    auto r = Recipient::parse_key(unknown_owner);
    if (!r) {
      return fail(Errc::invalid_argument,
                  s.where("unknown_owner") +
                      ": expected a recipient such as \"channel:local:front-desk\" or "
                      "\"user:xmpp:desk@example.org\", got \"" +
                      unknown_owner + "\"");
    }
    out.unknown_owner = *r;
  }
  ATDESK_TRY(s.boolean("trust_user_names", out.trust_user_names));
  ATDESK_TRY(s.boolean("tls", out.tls));
  std::string tls_dir = (config.state_dir / "ipp-tls").string();
  ATDESK_TRY(s.string("tls_dir", tls_dir));
  out.tls_dir = tls_dir;
  ATDESK_TRY(s.boolean("sign_in", out.sign_in));
  ATDESK_TRY(s.boolean("personal_tokens", out.personal_tokens));
  for (const auto& [key, on] :
       {std::pair{"sign_in", out.sign_in}, std::pair{"personal_tokens", out.personal_tokens}}) {
    if (on && !out.tls) {
      return fail(Errc::invalid_argument,
                  s.where(key) +
                      ": needs tls = true (PAPPL takes credentials only over TLS, and asks other "
                      "hosts for TLS once it checks who a client is)");
    }
  }
  if (out.personal_tokens && std::ranges::find(out.queues, "u") != out.queues.end()) {
    return fail(
        Errc::invalid_argument,
        s.where("queues") + ": \"u\" is the queue of personal_tokens (/ipp/print/u/<token>)");
  }
  ATDESK_TRY(s.boolean("dnssd", out.dnssd));
  ATDESK_TRY(s.string("log_level", out.log_level));
  if (out.log_level != "debug" && out.log_level != "info" && out.log_level != "warn" &&
      out.log_level != "error") {
    return fail(Errc::invalid_argument,
                s.where("log_level") + ": expected debug, info, warn or error");
  }
  std::string spool = (config.state_dir / "ipp-spool").string();
  ATDESK_TRY(s.string("spool_dir", spool));
  std::string socket = (config.state_dir / "ippd.sock").string();
  ATDESK_TRY(s.string("socket", socket));
  long long delay = out.restart_delay.count();
  ATDESK_TRY(s.integer("restart_delay_ms", delay, 100, 60000));
  ATDESK_TRY(s.no_unknown_keys());
  if (!enabled) return std::nullopt;
  out.program = program.empty() ? default_program() : fs::path(program);
  out.spool_dir = spool;
  out.socket = socket;
  out.restart_delay = std::chrono::milliseconds(delay);
  out.max_document_bytes = config.limits.max_file_bytes;
  return out;
}

std::optional<IncomingDocument::OwnerUnknown> owner_unknown(const ippd::HandoffHeader& h,
                                                            const std::vector<RecipientRule>& rules,
                                                            const IppServerSettings& settings) {
  const bool trusted = ippd::is_trusted_identity(h.identity);
  const auto has_rule = [&] {
    return std::ranges::any_of(rules, [&](const RecipientRule& r) {
      return r.pattern.kind == PatternKind::ipp_user && r.pattern.value == h.user;
    });
  };
  // The computer's address (known with sign-in or personal queue URLs) in an IP-network rule
  // names the person as a fax's line does: that counts as an owner too.
  if (auto ip = canonical_ip(h.host)) {
    Sender by_address;
    by_address.ip = *ip;
    const RecipientTable table(rules);
    const auto match = table.match(by_address);
    if (std::ranges::any_of(match.rules, [](const RecipientRule* r) {
          return r->pattern.kind == PatternKind::ip_cidr;
        })) {
      return std::nullopt;
    }
  }
  std::string why;
  if (h.user.empty()) {
    why = "the print job came with no user name and nobody signed in";
  } else if (trusted) {
    if (has_rule()) return std::nullopt;
    why = "the print job is from \"" + h.user + "\" (" +
          (h.identity == "basic" ? "signed in" : "personal queue") + "), but no ipp:" + h.user +
          " rule of the recipient table says who that is";
  } else if (!settings.trust_user_names) {
    why = "nobody signed in or used a personal queue, and the user name the computer sent (\"" +
          h.user + "\") is not trusted here";
  } else {
    if (has_rule()) return std::nullopt;
    why = "nobody signed in or used a personal queue, and the user name the computer sent (\"" +
          h.user + "\") is in no ipp: rule of the recipient table";
  }
  IncomingDocument::OwnerUnknown out;
  out.why = "owner unknown: " + why;
  if (settings.unknown_owner) {
    out.hold_for.push_back(*settings.unknown_owner);
  } else {
    for (const auto& r : rules) {
      if (r.pattern.kind == PatternKind::others &&
          std::ranges::find(out.hold_for, r.recipient) == out.hold_for.end()) {
        out.hold_for.push_back(r.recipient);
      }
    }
  }
  std::string names;
  for (const auto& r : out.hold_for) names += (names.empty() ? "" : ", ") + r.address;
  out.why += names.empty() ? "; held for the administrator (no [ipp_server] unknown_owner)"
                           : "; held for " + names;
  return out;
}

ChildSupervisor::ChildSupervisor(std::vector<std::string> argv,
                                 std::chrono::milliseconds restart_delay)
    : argv_(std::move(argv)), restart_delay_(restart_delay) {}

ChildSupervisor::~ChildSupervisor() {
  stop();
}

void ChildSupervisor::start() {
  thread_ = std::thread([this] { run(); });
}

int ChildSupervisor::starts() const {
  std::lock_guard lock(mutex_);
  return starts_;
}

void ChildSupervisor::run() {
  // Everything the child needs is built before fork(): after it, only async-signal-safe calls.
  std::vector<char*> argv;
  for (auto& a : argv_) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  auto delay = restart_delay_;
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    const auto started = std::chrono::steady_clock::now();
    const pid_t pid = ::fork();
    if (pid == 0) {
      // The death signal follows this (the supervising) thread of atdeskd.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(0);
      sigset_t all;
      sigemptyset(&all);
      ::sigprocmask(SIG_SETMASK, &all, nullptr);  // atdeskd blocks SIGTERM for its sigwait()
      ::signal(SIGPIPE, SIG_DFL);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    if (pid < 0) {
      spdlog::error("atdesk-ippd: cannot start: {}", std::strerror(errno));
    } else {
      {
        std::lock_guard lock(mutex_);
        pid_ = pid;
        ++starts_;
        // stop() ran between the check above and fork(): it could not see this child.
        if (stopping_) ::kill(pid, SIGTERM);
      }
      spdlog::info("atdesk-ippd started (pid {})", pid);
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      std::lock_guard lock(mutex_);
      pid_ = -1;
      if (stopping_) return;
      if (WIFEXITED(status)) {
        spdlog::error("atdesk-ippd (pid {}) exited with status {}{}", pid, WEXITSTATUS(status),
                      WEXITSTATUS(status) == 127 ? " (could not run " + argv_[0] + ")" : "");
      } else if (WIFSIGNALED(status)) {
        spdlog::error("atdesk-ippd (pid {}) ended by signal {}", pid, WTERMSIG(status));
      }
    }
    // A child that ran for a minute was healthy: start again soon. One that keeps failing at
    // once is started less and less often, up to every 30 s.
    if (std::chrono::steady_clock::now() - started > std::chrono::minutes(1)) {
      delay = restart_delay_;
    } else {
      delay = std::min<std::chrono::milliseconds>(delay * 2, std::chrono::seconds(30));
    }
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, delay, [this] { return stopping_; });
  }
}

void ChildSupervisor::stop() {
  pid_t pid = -1;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    pid = pid_;
  }
  wake_.notify_all();
  if (pid > 0) {
    ::kill(pid, SIGTERM);
    // The supervising thread reaps it; give it 10 s to finish its jobs, then end it.
    for (int i = 0; i < 100; ++i) {
      {
        std::lock_guard lock(mutex_);
        if (pid_ < 0) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::lock_guard lock(mutex_);
    if (pid_ > 0) ::kill(pid_, SIGKILL);
  }
  if (thread_.joinable()) thread_.join();
}

void IppIngress::stop() {
  if (printer) printer->stop();
  if (handoff) handoff->stop();
}

Result<std::unique_ptr<IppIngress>> start_ipp_ingress(const Config& config, engine::Engine& engine,
                                                      store::TableStore& tables) {
  auto settings = ipp_server_settings(config);
  if (!settings) return fail(settings.error());
  const std::optional<IppServerSettings>& wanted = *settings;
  if (!wanted) return std::unique_ptr<IppIngress>{};
  auto ingress = std::make_unique<IppIngress>();
  ingress->settings = wanted.value();
  ippd::HandoffServer::Settings hs;
  hs.socket_path = ingress->settings.socket;
  hs.max_document_bytes = config.limits.max_file_bytes;
  ippd::HandoffServer::Hooks hooks;
  hooks.owner_unknown =
      [&engine, settings = ingress->settings](
          const ippd::HandoffHeader& h) -> std::optional<IncomingDocument::OwnerUnknown> {
    auto rules = engine.recipient_rules();
    if (!rules) {
      // The table cannot be read: nobody can be established, and the job must not print.
      spdlog::error("ipp hand-off: the recipient table cannot be read: {}", rules.error().message);
      return owner_unknown(h, {}, settings);
    }
    return owner_unknown(h, *rules, settings);
  };
  hooks.identify = [&tables, settings = ingress->settings](
                       const ippd::IdentifyRequest& r) -> Result<std::string> {
    if (r.kind == "token") {
      if (!settings.personal_tokens) {
        return fail(Errc::permission_denied, "[ipp_server] personal_tokens is off");
      }
      return api::IppTokenStore(tables).user_of(r.token);
    }
    if (!settings.sign_in) return fail(Errc::permission_denied, "[ipp_server] sign_in is off");
    auto account = api::AccountStore(tables).verify(r.user, r.password);
    if (!account) return fail(account.error());
    const std::optional<api::Account>& found = *account;
    if (!found) return fail(Errc::permission_denied, "wrong account name or password");
    return found->name;
  };
  ingress->handoff = std::make_unique<ippd::HandoffServer>(
      hs, [&engine](IncomingDocument d) { return engine.submit(std::move(d)); }, std::move(hooks));
  if (auto ok = ingress->handoff->start(); !ok) {
    return fail(ok.error().code, config.source + ": [ipp_server]: " + ok.error().message);
  }
  ingress->printer = std::make_unique<ChildSupervisor>(ingress->settings.arguments(),
                                                       ingress->settings.restart_delay);
  ingress->printer->start();
  return ingress;
}

}  // namespace atdesk::app
