// Notices in Teams: a 1:1 chat between the service account and each recipient (created once,
// its id kept in the TableStore namespace "graph.chats"), or a channel; the page-1 preview as
// hosted content shown inline. Replies in those chats are polled and delivered as commands.
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "graph_impl.hpp"

namespace atdesk::chat {
namespace {

using json = nlohmann::json;
constexpr const char* kChatNamespace = "graph.chats";
constexpr const char* kReadNamespace = "graph.reads";

SteadyTime steady_now() {
  return std::chrono::steady_clock::now();
}

std::string html_escape(std::string_view text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      case '\n':
        out += "<br>";
        break;
      case '\r':
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Whether `tag` (the text after '<') opens or closes an <at> mention: "at>", "at id=...".
bool at_tag(std::string_view tag, bool closing) {
  if (closing) {
    if (!tag.starts_with('/')) return false;
    tag.remove_prefix(1);
  }
  if (tag.size() < 3 || (tag[0] != 'a' && tag[0] != 'A') || (tag[1] != 't' && tag[1] != 'T')) {
    return false;
  }
  return tag[2] == '>' || tag[2] == ' ' || tag[2] == '\t' || tag[2] == '\n';
}

// The text of an HTML chat message body: tags dropped, <at> mentions dropped with their text
// (Graph "chatMessageMention": the body names a mention as <at id="0">Fax desk</at>), the
// common entities decoded, spaces trimmed ("<p>print at lobby</p>" -> "print at lobby").
std::string html_to_text(std::string_view html) {
  std::string out;
  bool in_tag = false;
  for (std::size_t i = 0; i < html.size(); ++i) {
    const char c = html[i];
    if (!in_tag && c == '<' && at_tag(html.substr(i + 1), false)) {
      // Skip to the end of the matching </at>; an unclosed mention drops the rest.
      std::size_t j = i + 1;
      while (j < html.size()) {
        const auto open = html.find('<', j);
        if (open == std::string_view::npos) {
          j = html.size();
          break;
        }
        if (at_tag(html.substr(open + 1), true)) {
          const auto close = html.find('>', open);
          j = close == std::string_view::npos ? html.size() : close + 1;
          break;
        }
        j = open + 1;
      }
      out += ' ';
      i = j - 1;
      continue;
    }
    if (in_tag) {
      if (c == '>') in_tag = false;
      continue;
    }
    if (c == '<') {
      in_tag = true;
      out += ' ';
      continue;
    }
    if (c == '&') {
      static const std::pair<std::string_view, char> kEntities[] = {
          {"&amp;", '&'},  {"&lt;", '<'},   {"&gt;", '>'},
          {"&quot;", '"'}, {"&#39;", '\''}, {"&nbsp;", ' '}};
      bool matched = false;
      for (const auto& [name, ch] : kEntities) {
        if (html.substr(i, name.size()) == name) {
          out += ch;
          i += name.size() - 1;
          matched = true;
          break;
        }
      }
      if (matched) continue;
    }
    out += c;
  }
  // Collapse runs of white space.
  std::string text;
  for (const char c : out) {
    const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (space) {
      if (!text.empty() && text.back() != ' ') text += ' ';
    } else {
      text += c;
    }
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

std::string base64(std::span<const std::byte> data) {
  std::string out(sodium_base64_ENCODED_LEN(data.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(data.data()),
                    data.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

// The chatMessage of a notice: HTML-escaped text, and the preview as inline hosted content.
json message_body(const ChatMessage& message) {
  std::string html = "<p>" + html_escape(message.text) + "</p>";
  json body{{"body", {{"contentType", "html"}}}};
  if (!message.preview_png.empty()) {
    html += "<img src=\"../hostedContents/1/$value\" alt=\"page 1\">";
    body["hostedContents"] = json::array({{{"@microsoft.graph.temporaryId", "1"},
                                           {"contentBytes", base64(message.preview_png)},
                                           {"contentType", "image/png"}}});
  }
  body["body"]["content"] = html;
  return body;
}

}  // namespace

Result<void> GraphChatService::Impl::load_chats() {
  if (chats_loaded_) return {};
  auto rows = tables_.settings(kChatNamespace);
  if (!rows) return fail(rows.error());
  const std::string prefix = s_.name + "/";
  for (const auto& [key, value] : *rows) {
    if (!key.starts_with(prefix)) continue;
    auto j = json::parse(value, nullptr, false);
    if (!j.is_object()) continue;
    ChatState chat{j.value("chat_id", ""), j.value("user", ""), j.value("user_id", ""),
                   j.value("cursor", ""),
                   Timestamp(std::chrono::milliseconds(j.value("active_until", 0LL)))};
    if (!chat.chat_id.empty()) chats_[key.substr(prefix.size())] = chat;
  }
  chats_loaded_ = true;
  return {};
}

Result<void> GraphChatService::Impl::save_chat(const ChatState& chat) {
  json j{{"chat_id", chat.chat_id},
         {"user", chat.user},
         {"user_id", chat.user_id},
         {"cursor", chat.cursor},
         {"active_until", chat.active_until.time_since_epoch().count()}};
  return tables_.put_setting(kChatNamespace, s_.name + "/" + lower_ascii(chat.user), j.dump());
}

Result<void> GraphChatService::send(const Recipient& to, const ChatMessage& message) {
  auto& i = *impl_;
  if (auto ok = i.check_usable(); !ok) return ok;
  const auto deadline = steady_now() + i.s_.request_timeout;
  const std::string body = message_body(message).dump();
  if (to.kind == RecipientKind::channel) {
    const auto slash = to.address.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == to.address.size()) {
      return fail(Errc::invalid_argument,
                  "Teams channel: expected \"<team id>/<channel id>\", got '" + to.address + "'");
    }
    Impl::Call c{"POST",
                 "/teams/" + graph::url_encode(to.address.substr(0, slash)) + "/channels/" +
                     graph::url_encode(to.address.substr(slash + 1)) + "/messages",
                 body, Impl::Auth::delegated, "channel message to " + to.address};
    auto r = i.call(c, deadline);
    if (!r) return fail(r.error());
    auto j = i.expect_json(c, *r, {201});
    if (!j) return fail(j.error());
    return {};
  }
  auto user_id = i.resolve_user(to.address, deadline);
  if (!user_id) return fail(user_id.error());
  std::string account_id;
  Impl::ChatState chat;
  {
    std::lock_guard lock(i.mutex_);
    if (auto ok = i.load_chats(); !ok) return ok;
    account_id = i.account_id_;
    if (const auto it = i.chats_.find(lower_ascii(to.address)); it != i.chats_.end()) {
      chat = it->second;
    }
  }
  if (account_id.empty()) {
    return fail(Errc::unavailable, "the Teams service account of '" + i.s_.name +
                                       "' is not signed in: start the device code sign-in");
  }
  for (int round = 0; round < 2; ++round) {
    if (chat.chat_id.empty()) {
      // oneOnOne chats are unique per pair: Graph returns the existing one if there is one.
      auto member = [&](const std::string& id) {
        return json{{"@odata.type", "#microsoft.graph.aadUserConversationMember"},
                    {"roles", json::array({"owner"})},
                    {"user@odata.bind", i.s_.graph_url + "/users('" + id + "')"}};
      };
      json create{{"chatType", "oneOnOne"},
                  {"members", json::array({member(account_id), member(*user_id)})}};
      Impl::Call c{"POST", "/chats", create.dump(), Impl::Auth::delegated,
                   "create chat with " + to.address};
      auto r = i.call(c, deadline);
      if (!r) return fail(r.error());
      auto j = i.expect_json(c, *r, {200, 201});
      if (!j) return fail(j.error());
      auto id = Impl::string_field(c, *j, "id");
      if (!id) return fail(id.error());
      chat = {std::move(*id), to.address, *user_id, "", {}};
    }
    Impl::Call c{"POST", "/chats/" + graph::url_encode(chat.chat_id) + "/messages", body,
                 Impl::Auth::delegated, "chat message to " + to.address};
    auto r = i.call(c, deadline);
    if (!r) return fail(r.error());
    if (r->status == 404 && round == 0) {
      chat.chat_id.clear();  // the chat is gone: make it again
      continue;
    }
    auto j = i.expect_json(c, *r, {201});
    if (!j) return fail(j.error());
    // Replies are what comes after our own message.
    if (const auto created = j->find("createdDateTime");
        created != j->end() && created->is_string()) {
      const auto at = parse_precise_time(created->get<std::string>());
      const auto cursor = parse_precise_time(chat.cursor);
      if (at && (!cursor || *at > *cursor)) chat.cursor = created->get<std::string>();
    }
    // Replies are watched for a while after each notice.
    chat.active_until = i.clock_.now() + i.s_.reply_window;
    {
      std::lock_guard lock(i.mutex_);
      i.chats_[lower_ascii(to.address)] = chat;
    }
    i.wake_.notify_all();
    if (auto ok = i.save_chat(chat); !ok) return ok;
    return {};
  }
  return fail(Errc::unavailable, "Graph chat message to " + to.address + ": the chat vanished");
}

namespace {

SteadyTime steady() {
  return std::chrono::steady_clock::now();
}

std::string random_state() {
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
  return std::string(hex, 64);
}

Timestamp renew_time(Timestamp now, Timestamp expires, std::chrono::seconds min_interval) {
  return now + std::max<std::chrono::milliseconds>(
                   std::chrono::duration_cast<std::chrono::milliseconds>((expires - now) * 2 / 3),
                   min_interval);
}

}  // namespace

Result<std::map<std::string, GraphChatService::Impl::ChatSubscription>>
GraphChatService::Impl::read_stored_chat_subscriptions() {
  std::map<std::string, ChatSubscription> out;
  auto text = vault_.load(s_.name + "/chat-subscriptions");
  if (!text) {
    if (text.error().code != Errc::corrupt) return fail(text.error());
    return out;
  }
  if (text->empty()) return out;
  auto j = json::parse(*text, nullptr, false);
  sodium_memzero(text->data(), text->size());
  if (!j.is_object()) return out;
  for (const auto& [chat_id, v] : j.items()) {
    if (!v.is_object()) continue;
    ChatSubscription sub;
    sub.id = v.value("id", "");
    sub.client_state = v.value("client_state", "");
    sub.expires_at = Timestamp(std::chrono::milliseconds(v.value("expires_at", 0LL)));
    sub.renew_at = Timestamp(std::chrono::milliseconds(v.value("renew_at", 0LL)));
    if (!sub.id.empty() && sub.expires_at > clock_.now()) out[chat_id] = sub;
  }
  return out;
}

void GraphChatService::Impl::load_chat_subscriptions() {
  {
    std::lock_guard lock(mutex_);
    if (chat_subs_loaded_) return;
    chat_subs_loaded_ = true;
  }
  auto stored = read_stored_chat_subscriptions();
  if (!stored) return;
  std::lock_guard lock(mutex_);
  chat_subs_ = std::move(*stored);
}

void GraphChatService::Impl::refresh_shared_chats() {
  {
    std::lock_guard lock(mutex_);
    const auto now = clock_.now();
    if (now < next_chats_refresh_) return;
    next_chats_refresh_ = now + kHandoverCheck;
  }
  auto rows = tables_.settings(kChatNamespace);
  if (!rows) {
    spdlog::warn("chat {}: cannot read chats: {}", s_.name, rows.error().describe());
    return;
  }
  const std::string prefix = s_.name + "/";
  std::lock_guard lock(mutex_);
  for (const auto& [key, value] : *rows) {
    if (!key.starts_with(prefix)) continue;
    auto j = json::parse(value, nullptr, false);
    if (!j.is_object()) continue;
    ChatState stored{j.value("chat_id", ""), j.value("user", ""), j.value("user_id", ""),
                     j.value("cursor", ""),
                     Timestamp(std::chrono::milliseconds(j.value("active_until", 0LL)))};
    if (stored.chat_id.empty()) continue;
    auto& mine = chats_[key.substr(prefix.size())];
    if (mine.chat_id.empty()) {
      mine = stored;
      continue;
    }
    // Another node's notice: the chat is active until its window ends, and replies come after
    // its message.
    if (stored.active_until > mine.active_until) {
      mine.active_until = stored.active_until;
      mine.chat_id = stored.chat_id;
    }
    const auto stored_cursor = parse_precise_time(stored.cursor);
    const auto my_cursor = parse_precise_time(mine.cursor);
    if (stored_cursor && (!my_cursor || *stored_cursor > *my_cursor)) mine.cursor = stored.cursor;
  }
}

void GraphChatService::Impl::hand_over_chat_read(const std::string& chat_id,
                                                 const std::string& event) {
  // A new value each time (the primary acts on a change): the time, a random part, and the
  // lifecycle event if any.
  unsigned char raw[8];
  randombytes_buf(raw, sizeof raw);
  char hex[17];
  sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
  const std::string value = std::to_string(clock_.now().time_since_epoch().count()) + "-" +
                            std::string(hex, 16) + "-" + event;
  if (auto ok = tables_.put_setting(kReadNamespace, s_.name + "/" + chat_id, value); !ok) {
    // The reply stays unread until the next notification of that chat.
    spdlog::warn("chat {}: cannot hand a reply notification to the primary node: {}", s_.name,
                 ok.error().describe());
  }
}

std::vector<std::string> GraphChatService::Impl::take_handed_over_reads() {
  auto rows = tables_.settings(kReadNamespace);
  if (!rows) {
    spdlog::warn("chat {}: cannot read handed-over reply notifications: {}", s_.name,
                 rows.error().describe());
    return {};
  }
  const std::string prefix = s_.name + "/";
  std::vector<std::string> chats;
  std::lock_guard lock(mutex_);
  for (const auto& [key, value] : *rows) {
    if (!key.starts_with(prefix) || value.empty()) continue;
    // reads_seen_ starts empty on a new primary: every active chat handed over is read once (a
    // hand-over may have come while no node was primary); a read finds only what is newer than
    // the chat's cursor, and chats past their reply window are not read.
    auto& seen = reads_seen_[key];
    if (seen == value) continue;
    seen = value;
    const std::string chat_id = key.substr(prefix.size());
    // The subscription's owner does what a lifecycle event asks for (the read covers "missed").
    if (auto it = chat_subs_.find(chat_id); it != chat_subs_.end()) {
      if (value.ends_with("-reauthorizationRequired")) it->second.reauthorize = true;
      if (value.ends_with("-subscriptionRemoved")) it->second.removed = true;
    }
    chats.push_back(chat_id);
  }
  return chats;
}

void GraphChatService::Impl::save_chat_subscriptions() {
  json j = json::object();
  for (const auto& [chat_id, sub] : chat_subs_) {
    j[chat_id] = {{"id", sub.id},
                  {"client_state", sub.client_state},
                  {"expires_at", sub.expires_at.time_since_epoch().count()},
                  {"renew_at", sub.renew_at.time_since_epoch().count()}};
  }
  std::string text = j.dump();
  if (auto ok = vault_.save(s_.name + "/chat-subscriptions", text); !ok) {
    spdlog::warn("chat {}: cannot store chat subscriptions: {}", s_.name, ok.error().describe());
  }
  sodium_memzero(text.data(), text.size());
}

Result<GraphChatService::Impl::ChatSubscription> GraphChatService::Impl::create_chat_subscription(
    const std::string& chat_id) {
  // Graph "Get change notifications for messages in Teams channels and chats": /chats/{id}/
  // messages, basic notifications (no resource data), delegated.
  ChatSubscription sub;
  sub.client_state = random_state();
  const std::string url = s_.public_url + "/api/v1/webhooks/graph/" + s_.name;
  json body{{"changeType", "created"},
            {"notificationUrl", url},
            {"lifecycleNotificationUrl", url},
            {"resource", "/chats/" + chat_id + "/messages"},
            {"expirationDateTime", format_time(clock_.now() + s_.subscription_lifetime)},
            {"clientState", sub.client_state}};
  {
    // Registered before the request: Graph may notify before the answer arrives.
    std::lock_guard lock(mutex_);
    chat_subs_[chat_id] = sub;
  }
  Call c{"POST", "/subscriptions", body.dump(), Auth::delegated, "create chat subscription"};
  auto r = call(c, steady() + s_.request_timeout);
  auto j = r ? expect_json(c, *r, {201}) : Result<json>(fail(r.error()));
  std::optional<Timestamp> expires;
  if (j && j->contains("id") && (*j)["id"].is_string()) {
    expires = parse_precise_time(j->value("expirationDateTime", ""));
  }
  std::lock_guard lock(mutex_);
  if (!expires) {
    chat_subs_.erase(chat_id);
    if (!j) return fail(j.error());
    return fail(Errc::invalid_argument,
                "Graph " + c.what + ": id and expirationDateTime: expected a subscription");
  }
  auto& held = chat_subs_[chat_id];
  held.id = (*j)["id"].get<std::string>();
  held.expires_at = *expires;
  held.renew_at = renew_time(clock_.now(), *expires, s_.min_renew_interval);
  save_chat_subscriptions();
  return held;
}

void GraphChatService::Impl::maintain_replies() {
  {
    std::lock_guard lock(mutex_);
    // A standby neither subscribes to chats nor polls them: it hands the notifications it
    // receives to the primary (handle_webhook), which reads every reply once.
    if (!primary_) return;
  }
  refresh_shared_chats();
  for (auto& chat_id : take_handed_over_reads()) {
    std::lock_guard lock(mutex_);
    chats_to_read_.insert(std::move(chat_id));
  }
  std::vector<ChatState> chats;
  std::string account_id;
  CommandHandler handler;
  bool can_subscribe = false;
  {
    std::lock_guard lock(mutex_);
    if (auto ok = load_chats(); !ok) {
      spdlog::warn("chat {}: cannot read chats: {}", s_.name, ok.error().describe());
      return;
    }
    if (!command_handler_ || account_id_.empty() || delegated_.refresh_token.empty()) return;
    for (const auto& [key, chat] : chats_) chats.push_back(chat);
    account_id = account_id_;
    handler = command_handler_;
    can_subscribe = !s_.public_url.empty() && problem_.empty();
  }
  load_chat_subscriptions();
  const auto deadline = steady() + s_.request_timeout;
  for (auto& chat : chats) {
    const auto now = clock_.now();
    std::optional<ChatSubscription> sub;
    bool read_now = false;
    {
      std::lock_guard lock(mutex_);
      if (const auto it = chat_subs_.find(chat.chat_id); it != chat_subs_.end()) sub = it->second;
      read_now = chats_to_read_.erase(chat.chat_id) > 0;
    }
    if (now >= chat.active_until) {
      // No notice for reply_window: neither subscribed nor polled.
      if (sub) {
        (void)call({"DELETE", "/subscriptions/" + graph::url_encode(sub->id), "", Auth::delegated,
                    "delete chat subscription"},
                   deadline);  // a failure leaves it to expire by itself within the hour
        std::lock_guard lock(mutex_);
        chat_subs_.erase(chat.chat_id);
        next_chat_poll_.erase(chat.chat_id);
        save_chat_subscriptions();
      }
      continue;
    }
    if (sub && (sub->removed || sub->expires_at <= now)) {
      std::lock_guard lock(mutex_);
      chat_subs_.erase(chat.chat_id);
      save_chat_subscriptions();
      sub.reset();
      read_now = true;  // messages may have come while it was gone
    }
    if (sub && (sub->reauthorize || now >= sub->renew_at)) {
      Call c{"PATCH", "/subscriptions/" + graph::url_encode(sub->id),
             json{{"expirationDateTime", format_time(now + s_.subscription_lifetime)}}.dump(),
             Auth::delegated, "renew chat subscription"};
      auto r = call(c, deadline);
      auto j = r && r->status == 200 ? expect_json(c, *r, {200}) : Result<json>(json());
      const auto expires = r && r->status == 200 && j
                               ? parse_precise_time(j->value("expirationDateTime", ""))
                               : std::nullopt;
      std::lock_guard lock(mutex_);
      auto it = chat_subs_.find(chat.chat_id);
      if (it != chat_subs_.end()) {
        if (expires) {
          it->second.expires_at = *expires;
          it->second.renew_at = renew_time(now, *expires, s_.min_renew_interval);
          it->second.reauthorize = false;
        } else if (r && r->status == 404) {
          chat_subs_.erase(it);
          sub.reset();
          read_now = true;
        } else {
          it->second.renew_at = now + s_.min_renew_interval;
        }
        save_chat_subscriptions();
      }
    }
    if (!sub && can_subscribe) {
      bool due = false;
      {
        std::lock_guard lock(mutex_);
        due = now >= next_chat_subscribe_[chat.chat_id];
      }
      if (due) {
        if (auto made = create_chat_subscription(chat.chat_id); made) {
          sub = *made;
          read_now = true;  // what came before the subscription
        } else {
          spdlog::warn("chat {}: reply subscription for the chat with {} failed, polling: {}",
                       s_.name, chat.user, made.error().describe());
          std::lock_guard lock(mutex_);
          next_chat_subscribe_[chat.chat_id] = now + s_.poll_interval;
        }
      }
    }
    if (!sub) {
      // The bounded fallback: once per poll_interval while no subscription works.
      std::lock_guard lock(mutex_);
      auto& next = next_chat_poll_[chat.chat_id];
      if (now >= next) {
        next = now + s_.poll_interval;
        read_now = true;
      }
    }
    if (read_now) read_replies(chat, account_id, handler);
  }
}

void GraphChatService::Impl::read_replies(ChatState chat, const std::string& account_id,
                                          const CommandHandler& handler) {
  {
    Call c{"GET",
           "/chats/" + graph::url_encode(chat.chat_id) +
               "/messages?$top=50&$orderby=createdDateTime%20desc",
           "", Auth::delegated, "messages of the chat with " + chat.user};
    const auto cursor_time = parse_precise_time(chat.cursor);
    // Graph "List messages in a chat": newest first, @odata.nextLink to older pages. Pages are
    // followed until one reaches what was seen before.
    auto pages = get_pages(c, steady_now() + s_.request_timeout, 10, [&](const json& page) {
      for (const auto& m : page["value"]) {
        if (!m.is_object()) continue;
        const auto at = parse_precise_time(m.value("createdDateTime", ""));
        if (at && cursor_time && *at <= *cursor_time) return false;
      }
      return true;
    });
    if (!pages) {
      spdlog::warn("chat {}: {}", s_.name, pages.error().describe());
      return;
    }
    // Collect what is newer than the cursor, then deliver in the order of the parsed times.
    std::vector<std::pair<Timestamp, ChatCommand>> commands;
    std::string newest = chat.cursor;
    auto newest_time = cursor_time;
    for (const auto& page : *pages) {
      for (const auto& m : page["value"]) {
        if (!m.is_object()) continue;
        const std::string created = m.value("createdDateTime", "");
        const auto at = parse_precise_time(created);
        if (!at || (cursor_time && *at <= *cursor_time)) continue;
        if (!newest_time || *at > *newest_time) {
          newest_time = at;
          newest = created;
        }
        if (m.value("messageType", "message") != "message") continue;
        std::string from_id;
        if (m.contains("from") && m["from"].is_object() && m["from"].contains("user") &&
            m["from"]["user"].is_object()) {
          from_id = m["from"]["user"].value("id", "");
        }
        // Our own notices, and anyone else added to the chat, are not commands.
        if (from_id.empty() || from_id == account_id || from_id != chat.user_id) continue;
        std::string text;
        if (m.contains("body") && m["body"].is_object()) {
          const std::string content = m["body"].value("content", "");
          text = m["body"].value("contentType", "text") == "html" ? html_to_text(content) : content;
        }
        if (text.empty()) continue;
        commands.emplace_back(*at, ChatCommand{s_.name, chat.user, std::nullopt, text});
      }
    }
    std::stable_sort(commands.begin(), commands.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    if (newest != chat.cursor) {
      chat.cursor = newest;
      {
        std::lock_guard lock(mutex_);
        chats_[lower_ascii(chat.user)].cursor = newest;
      }
      (void)save_chat(chat);
    }
    for (const auto& [at, command] : commands) handler(command);
  }
}

}  // namespace atdesk::chat
