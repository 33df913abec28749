#include "atdesk/chat/local/local_chat_service.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace atdesk::chat {
namespace {

constexpr const char* kPresenceNs = "presence.local";
constexpr const char* kChannelNs = "channel.local";

std::string encode(const Presence& p) {
  nlohmann::json j{{"availability", to_string(p.availability)},
                   {"location", to_string(p.location)},
                   {"status_text", p.status_text},
                   {"observed_at", p.observed_at.time_since_epoch().count()}};
  return j.dump();
}

Result<Presence> decode(const std::string& user, const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return fail(Errc::corrupt, "stored presence of local user '" + user + "' is not JSON");
  }
  Presence p;
  auto a = parse_availability(j.value("availability", ""));
  auto w = parse_work_location(j.value("location", ""));
  if (!a || !w) {
    return fail(Errc::corrupt, "stored presence of local user '" + user + "' has bad values");
  }
  p.availability = *a;
  p.location = *w;
  p.status_text = j.value("status_text", "");
  p.observed_at = Timestamp(std::chrono::milliseconds(j.value("observed_at", std::int64_t{0})));
  return p;
}

Result<void> check_address(std::string_view what, const std::string& address) {
  if (address.empty() || address.size() > 256 ||
      std::any_of(address.begin(), address.end(),
                  [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
    return fail(Errc::invalid_argument,
                std::string(what) + ": expected 1-256 printable characters, got '" + address + "'");
  }
  return {};
}

}  // namespace

LocalChatService::LocalChatService(Settings settings, store::TableStore& tables, const Clock& clock)
    : settings_(std::move(settings)), tables_(tables), clock_(clock) {}

Result<std::map<std::string, Presence>> LocalChatService::presence(
    std::span<const std::string> users) {
  std::map<std::string, Presence> out;
  for (const auto& user : users) {
    auto stored = tables_.get_setting(kPresenceNs, user);
    if (!stored) return fail(stored.error());
    const std::optional<std::string>& text = *stored;
    if (!text) {
      // A local user nobody has set a presence for: known, but nothing is known about them.
      out.emplace(user, Presence{});
      continue;
    }
    auto p = decode(user, *text);
    if (!p) return fail(p.error());
    out.emplace(user, *p);
  }
  return out;
}

Result<std::vector<std::string>> LocalChatService::channel_members(const std::string& channel) {
  auto stored = tables_.get_setting(kChannelNs, channel);
  if (!stored) return fail(stored.error());
  const std::optional<std::string>& text = *stored;
  if (!text) return fail(Errc::not_found, "local channel '" + channel + "' has no members");
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_array()) {
    return fail(Errc::corrupt, "stored members of local channel '" + channel + "' are not JSON");
  }
  std::vector<std::string> members;
  for (const auto& m : j) {
    if (m.is_string()) members.push_back(m.get<std::string>());
  }
  return members;
}

void LocalChatService::watch(std::vector<std::string> users, PresenceHandler handler) {
  std::lock_guard lock(mutex_);
  watched_ = std::move(users);
  presence_handler_ = std::move(handler);
}

Result<void> LocalChatService::send(const Recipient& to, const ChatMessage& message) {
  std::lock_guard lock(mutex_);
  StoredMessage m;
  m.seq = next_seq_++;
  m.at = clock_.now();
  m.to = to.key();
  m.text = message.text;
  m.job_id = message.job_id;
  m.has_preview = !message.preview_png.empty();
  messages_.push_back(std::move(m));
  // Keep at most max_messages_per_recipient for this recipient: drop its oldest.
  const auto key = to.key();
  auto count = std::count_if(messages_.begin(), messages_.end(),
                             [&](const StoredMessage& s) { return s.to == key; });
  if (static_cast<std::size_t>(count) > settings_.max_messages_per_recipient) {
    auto oldest = std::find_if(messages_.begin(), messages_.end(),
                               [&](const StoredMessage& s) { return s.to == key; });
    messages_.erase(oldest);
  }
  return {};
}

void LocalChatService::on_command(CommandHandler handler) {
  std::lock_guard lock(mutex_);
  command_handler_ = std::move(handler);
}

Result<void> LocalChatService::verify(const Recipient& recipient) {
  return check_address(recipient.kind == RecipientKind::user ? "local user" : "local channel",
                       recipient.address);
}

Result<void> LocalChatService::set_presence(const std::string& user, Presence presence) {
  if (auto ok = check_address("local user", user); !ok) return ok;
  if (presence.status_text.size() > 500) {
    return fail(Errc::invalid_argument, "status_text: expected at most 500 characters");
  }
  if (presence.observed_at == Timestamp{}) presence.observed_at = clock_.now();
  if (auto ok = tables_.put_setting(kPresenceNs, user, encode(presence)); !ok) return ok;
  PresenceHandler handler;
  {
    std::lock_guard lock(mutex_);
    handler = presence_handler_;
  }
  if (handler) handler(user, presence);
  return {};
}

Result<void> LocalChatService::set_channel_members(const std::string& channel,
                                                   std::vector<std::string> members) {
  if (auto ok = check_address("local channel", channel); !ok) return ok;
  for (const auto& m : members) {
    if (auto ok = check_address("local channel member", m); !ok) return ok;
  }
  return tables_.put_setting(kChannelNs, channel, nlohmann::json(members).dump());
}

std::vector<StoredMessage> LocalChatService::messages(const std::string& key,
                                                      std::int64_t after_seq) const {
  std::lock_guard lock(mutex_);
  std::vector<StoredMessage> out;
  for (const auto& m : messages_) {
    if (m.seq > after_seq && (key.empty() || m.to == key)) out.push_back(m);
  }
  return out;
}

void LocalChatService::post_command(const ChatCommand& command) {
  CommandHandler handler;
  {
    std::lock_guard lock(mutex_);
    handler = command_handler_;
  }
  if (handler) handler(command);
}

}  // namespace atdesk::chat
