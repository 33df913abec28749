#include "ipp_ingress.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

Result<std::unique_ptr<IppIngress>> start_ipp_ingress(const Config& config,
                                                      engine::Engine& engine) {
  auto settings = ipp_server_settings(config);
  if (!settings) return fail(settings.error());
  const std::optional<IppServerSettings>& wanted = *settings;
  if (!wanted) return std::unique_ptr<IppIngress>{};
  auto ingress = std::make_unique<IppIngress>();
  ingress->settings = wanted.value();
  ippd::HandoffServer::Settings hs;
  hs.socket_path = ingress->settings.socket;
  hs.max_document_bytes = config.limits.max_file_bytes;
  ingress->handoff = std::make_unique<ippd::HandoffServer>(
      hs, [&engine](IncomingDocument d) { return engine.submit(std::move(d)); });
  if (auto ok = ingress->handoff->start(); !ok) {
    return fail(ok.error().code, config.source + ": [ipp_server]: " + ok.error().message);
  }
  ingress->printer = std::make_unique<ChildSupervisor>(ingress->settings.arguments(),
                                                       ingress->settings.restart_delay);
  ingress->printer->start();
  return ingress;
}

}  // namespace atdesk::app
