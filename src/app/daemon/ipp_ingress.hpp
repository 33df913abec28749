// [ipp_server] of atdesk.toml: atdesk as an IPP Everywhere printer. atdeskd opens the hand-off
// socket (atdesk::ippd::HandoffServer, submitting to the engine) and starts atdesk-ippd as a
// child process that it restarts when it ends. docs/printing.md lists the keys.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "atdesk/engine/engine.hpp"
#include "atdesk/ippd/handoff_server.hpp"
#include "config.hpp"

namespace atdesk::app {

struct IppServerSettings {
  std::filesystem::path program;  // atdesk-ippd (default: next to atdeskd)
  std::string listen = "127.0.0.1";
  int port = 8632;
  std::vector<std::string> queues{"atdesk"};
  std::map<std::string, std::string> owners;  // personal queues: queue -> user
  bool dnssd = false;
  std::string log_level = "info";
  std::filesystem::path spool_dir;  // default <state_dir>/ipp-spool
  std::filesystem::path socket;     // default <state_dir>/ippd.sock
  std::chrono::milliseconds restart_delay{1000};
  std::uint64_t max_document_bytes = 64ull << 20;  // [limits] max_file_mb

  // atdesk-ippd's command line.
  std::vector<std::string> arguments() const;
};

// nullopt when there is no [ipp_server] table or it says enabled = false.
Result<std::optional<IppServerSettings>> ipp_server_settings(const Config& config);

// Runs atdesk-ippd and starts it again when it ends (after restart_delay, doubling up to 30 s
// while it keeps ending within a minute). The child gets SIGTERM when atdeskd dies
// (PR_SET_PDEATHSIG), so a killed atdeskd leaves no printer behind that nobody hands off to.
class ChildSupervisor {
 public:
  ChildSupervisor(std::vector<std::string> argv, std::chrono::milliseconds restart_delay);
  ~ChildSupervisor();
  ChildSupervisor(const ChildSupervisor&) = delete;
  ChildSupervisor& operator=(const ChildSupervisor&) = delete;
  void start();
  // SIGTERM, then SIGKILL after 10 s; waits for the child.
  void stop();
  int starts() const;

 private:
  void run();
  std::vector<std::string> argv_;
  std::chrono::milliseconds restart_delay_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  pid_t pid_ = -1;
  int starts_ = 0;
  std::thread thread_;
};

struct IppIngress {
  std::unique_ptr<ippd::HandoffServer> handoff;
  std::unique_ptr<ChildSupervisor> printer;
  IppServerSettings settings;
  void stop();
};

// Opens the socket and starts atdesk-ippd when [ipp_server] asks for it (null otherwise).
Result<std::unique_ptr<IppIngress>> start_ipp_ingress(const Config& config, engine::Engine& engine);

}  // namespace atdesk::app
