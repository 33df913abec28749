// The `local` chat service, atdesk's embedded default: presence is set through the API or CLI
// and kept in the TableStore (it survives restarts); messages are kept per recipient and read
// through the API. Commands can be posted through the API as if typed in a chat.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "atdesk/chat/chat_service.hpp"
#include "atdesk/core/clock.hpp"
#include "atdesk/store/table_store.hpp"

namespace atdesk::chat {

struct StoredMessage {
  std::int64_t seq = 0;
  Timestamp at{};
  std::string to;  // Recipient::key()
  std::string text;
  std::string job_id;
  bool has_preview = false;
};

class LocalChatService final : public ChatService {
 public:
  struct Settings {
    std::string name = "local";
    std::size_t max_messages_per_recipient = 1000;
  };
  LocalChatService(Settings settings, store::TableStore& tables, const Clock& clock);

  const std::string& name() const override { return settings_.name; }
  ServiceState state() const override { return ServiceState::connected; }
  Result<std::map<std::string, Presence>> presence(std::span<const std::string> users) override;
  Result<std::vector<std::string>> channel_members(const std::string& channel) override;
  void watch(std::vector<std::string> users, PresenceHandler handler) override;
  Result<void> send(const Recipient& to, const ChatMessage& message) override;
  void on_command(CommandHandler handler) override;
  Result<void> verify(const Recipient& recipient) override;

  // Local-only operations, for the API and CLI.
  Result<void> set_presence(const std::string& user, Presence presence);
  Result<void> set_channel_members(const std::string& channel, std::vector<std::string> members);
  // Messages to one recipient (Recipient::key()), or to everyone when `to_key` is empty.
  std::vector<StoredMessage> messages(const std::string& to_key, std::int64_t after_seq = 0) const;
  // Delivers a command as if `from` had typed `text` (optionally in `channel`).
  void post_command(const ChatCommand& command);

 private:
  Settings settings_;
  store::TableStore& tables_;
  const Clock& clock_;
  mutable std::mutex mutex_;
  PresenceHandler presence_handler_;
  CommandHandler command_handler_;
  std::vector<std::string> watched_;
  std::vector<StoredMessage> messages_;
  std::int64_t next_seq_ = 1;
};

}  // namespace atdesk::chat
