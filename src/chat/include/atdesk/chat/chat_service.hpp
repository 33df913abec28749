// The ChatService port: presence of users, pushed presence changes, messages to a user or a
// channel (with a page-1 preview), and commands people send back. Adapters: local (embedded),
// and later xmpp, graph (Teams), slack, matrix, mattermost.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "atdesk/core/error.hpp"
#include "atdesk/core/presence.hpp"
#include "atdesk/core/recipient.hpp"

namespace atdesk::chat {

struct ChatMessage {
  std::string text;
  std::string job_id;                  // the job it is about, when any
  std::vector<std::byte> preview_png;  // empty: no preview
};

// A command a person sent in reply ("print", "print at lobby", "delete 3fa2c9d1", ...).
struct ChatCommand {
  std::string service;  // the chat service's name
  std::string from;     // the person's address on that service (verified by the service)
  std::optional<std::string> channel;  // set when sent in a channel
  std::string text;
  // The language the message was written in as the service says (XMPP's xml:lang, a BCP 47
  // tag such as "ja-JP"); empty when it does not say. The reply is in this language.
  std::string language = {};
};

enum class ServiceState { connected, connecting, broken };
std::string_view to_string(ServiceState s);

using PresenceHandler = std::function<void(const std::string& user, const Presence& presence)>;
using CommandHandler = std::function<void(const ChatCommand& command)>;

class ChatService {
 public:
  virtual ~ChatService() = default;
  ChatService() = default;
  ChatService(const ChatService&) = delete;
  ChatService& operator=(const ChatService&) = delete;

  virtual const std::string& name() const = 0;
  virtual ServiceState state() const = 0;
  // Why the service is not connected or last lost its connection (a refused password, an
  // untrusted certificate, a stream error), naming the peer; "" when there is nothing to tell.
  // Shown next to the state in /api/v1/chat-services and the web UI's overview.
  virtual std::string last_error() const { return {}; }

  // Connects (on the adapter's own threads: it must not block for long) and stops. atdeskd
  // calls start() after the engine has registered its handlers, and stop() after the engine
  // stopped. Adapters without a connection keep the defaults.
  [[nodiscard]] virtual Result<void> start() { return {}; }
  virtual void stop() {}
  // Several atdeskd nodes on one database: the work one node only may do for this service (take
  // the commands sent to the bot's account, own the push subscription) is done by the node
  // holding the lease "chat:<name>". atdeskd calls this before start() with whether this node
  // holds it, then whenever that changes, from the engine's lease thread: it must not block.
  // Before any call an adapter acts as primary (one node). Adapters with nothing to share keep
  // the default.
  virtual void set_primary(bool primary) { (void)primary; }

  // Presence of several users at once; blocks for at most the adapter's configured timeout.
  // Users the service does not know are absent from the map.
  [[nodiscard]] virtual Result<std::map<std::string, Presence>> presence(
      std::span<const std::string> users) = 0;
  // Members of a channel (whose presence decides for a channel recipient).
  [[nodiscard]] virtual Result<std::vector<std::string>> channel_members(
      const std::string& channel) = 0;
  // Calls `handler` whenever the presence of a watched user changes (push where the service
  // has it, polling where not). Replaces the watched set.
  virtual void watch(std::vector<std::string> users, PresenceHandler handler) = 0;
  [[nodiscard]] virtual Result<void> send(const Recipient& to, const ChatMessage& message) = 0;
  virtual void on_command(CommandHandler handler) = 0;
  // The registration check for a recipient rule: does this user or channel exist?
  [[nodiscard]] virtual Result<void> verify(const Recipient& recipient) = 0;
  // The language the service knows for a user (a BCP 47 tag, "ja-JP"), or "" when it knows none.
  // atdesk writes to the user in that language before any per-recipient or default setting.
  virtual std::string language(const std::string& user) const {
    (void)user;
    return {};
  }
};

}  // namespace atdesk::chat
