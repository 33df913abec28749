// The XMPP chat service (libstrophe over TLS): a bot account that subscribes to the presence of
// watched people, pushes their changes, sends them direct messages or messages in MUC rooms
// (with the page-1 preview uploaded by XEP-0363 when the server offers it), and delivers the
// commands people send back. libstrophe runs on the adapter's own thread; the engine's calls are
// handed to it through a queue and wait at most `timeout`.
//
// Several atdeskd on one database share one bot account: each node connects, one of them is the
// primary (set_primary, from the lease "chat:<name>"). The primary binds the configured
// `resource` and sends a positive priority, so the server delivers the commands sent to the bot's
// bare address to it alone; a standby binds `<resource>-<random>` with a negative priority (RFC
// 6121 4.7.2.3: it never gets bare-address messages, it still gets presence), runs only what is
// sent to its own full address, ignores room commands and leaves the offline storage alone.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "atdesk/chat/chat_service.hpp"
#include "atdesk/core/clock.hpp"
#include "atdesk/core/presence.hpp"

namespace atdesk::chat {

class XmppChatService final : public ChatService {
 public:
  struct Settings {
    std::string name = "xmpp";
    std::string jid;         // the bot account, "atdesk@example.org"
    std::string password;    // read from a file by the caller; never logged
    std::string server;      // host to connect to instead of the JID's domain (SRV); "" = none
    std::uint16_t port = 0;  // 0: 5222, or SRV when no server is given
    bool tls_required = true;
    std::string ca_file;             // extra CA (PEM) for the server and the upload host
    bool trust_self_signed = false;  // accept any certificate (test servers only)
    // The resource atdesk binds as primary, the same at every connection: a restart (or a new
    // primary) replaces the session a killed process left behind (the server closes it) instead
    // of adding a second one. A standby binds this plus "-" and a random part of its own.
    std::string resource = "atdesk";
    std::string nick = "atdesk";     // our nick in MUC rooms
    std::vector<std::string> rooms;  // rooms joined at connect (others are joined on demand)
    WorkLocation default_location = WorkLocation::unknown;
    // Status-text keywords per work location; empty: office ("office", "in office", "im büro",
    // "出社") and remote ("home", "wfh", "remote", "在宅").
    std::vector<std::pair<WorkLocation, std::vector<std::string>>> location_keywords;
    std::chrono::milliseconds timeout{5000};  // longest wait of presence/send/verify/members
    // A direct message that arrives late (XEP-0203 <delay/>: held in offline storage or in a
    // stream-management queue while atdesk was away) is carried out as a command when it was
    // sent at most this long ago; an older one is answered with why it was not. 0: never.
    std::chrono::seconds late_command_max_age{600};
    std::chrono::milliseconds reconnect_min{1000};
    std::chrono::milliseconds reconnect_max{60000};
  };

  XmppChatService(Settings settings, const Clock& clock);
  ~XmppChatService() override;  // stops the connection thread

  const std::string& name() const override;
  ServiceState state() const override;
  std::string last_error() const override;
  // The language (xml:lang) the user last wrote in to atdesk; "" before they did.
  std::string language(const std::string& user) const override;
  Result<void> start() override;
  void stop() override;
  // Primary or standby (see the head of this file); before any call, primary. Does not block:
  // the connection thread reconnects with the role's resource and priority (a new session, so
  // that the server hands a new primary what waits in offline storage).
  void set_primary(bool primary) override;
  // True while a session is up with the role last asked for (diagnostics and tests).
  bool serving_as(bool primary) const;

  Result<std::map<std::string, Presence>> presence(std::span<const std::string> users) override;
  Result<std::vector<std::string>> channel_members(const std::string& channel) override;
  void watch(std::vector<std::string> users, PresenceHandler handler) override;
  Result<void> send(const Recipient& to, const ChatMessage& message) override;
  void on_command(CommandHandler handler) override;
  Result<void> verify(const Recipient& recipient) override;

  class Loop;  // the libstrophe side, private to the adapter

 private:
  std::unique_ptr<Loop> loop_;
};

}  // namespace atdesk::chat
