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
#include "atdesk/store/table_store.hpp"
#include "config.hpp"

namespace atdesk::app {

struct IppServerSettings {
  std::filesystem::path program;  // atdesk-ippd (default: next to atdeskd)
  std::string listen = "127.0.0.1";
  int port = 8632;
  std::vector<std::string> queues{"atdesk"};
  std::map<std::string, std::string> owners;  // personal queues: queue -> user
  // Whom jobs are held for when their owner cannot be established; empty: the recipients of
  // the recipient table's `others` rule. Such jobs never print unattended.
  std::optional<Recipient> unknown_owner;
  // Whether a client's requesting-user-name, matched to an ipp:<user> rule, establishes the
  // owner (trusted networks). false: only sign-ins and personal queues do.
  bool trust_user_names = true;
  bool tls = false;               // ipps:// on the port (beside plain IPP)
  std::filesystem::path tls_dir;  // default <state_dir>/ipp-tls: <host>.key/.crt, 0700
  bool sign_in = false;           // HTTP Basic over TLS against atdesk's accounts
  bool personal_tokens = false;   // /ipp/print/u/<token> (atdesk ipp-token add)
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

// Whether a print job's owner is established: by a trusted identity (sign-in, personal queue)
// or, on trusted networks, by its requesting-user-name, and in either case by an ipp:<user>
// rule of the recipient table that says who the person is; or by an IP-network rule matching
// the computer's address. nullopt: established; otherwise
// whom the job is held for (settings.unknown_owner, or the `others` rule's recipients) and why,
// in words for the notice.
std::optional<IncomingDocument::OwnerUnknown> owner_unknown(const ippd::HandoffHeader& header,
                                                            const std::vector<RecipientRule>& rules,
                                                            const IppServerSettings& settings);

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
// `tables` holds atdesk's accounts (sign-in) and the personal queue tokens; it must outlive
// the ingress.
Result<std::unique_ptr<IppIngress>> start_ipp_ingress(const Config& config, engine::Engine& engine,
                                                      store::TableStore& tables);

}  // namespace atdesk::app
