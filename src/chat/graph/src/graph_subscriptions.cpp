// Presence watch: change-notification subscriptions (create, renew, reauthorize, recreate), the
// webhook (validation handshake, clientState, lifecycle events), and batched polling for the
// users no working subscription covers.
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

#include "graph_impl.hpp"

namespace atdesk::chat {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

SteadyTime steady_now() {
  return std::chrono::steady_clock::now();
}

// 32 random bytes, hex: the clientState Graph echoes in every notification (at most 128
// characters are allowed).
std::string random_client_state() {
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
  return std::string(hex, 64);
}

bool same_secret(const std::string& a, const std::string& b) {
  return a.size() == b.size() && !a.empty() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

// "communications/presences('id')" or "/communications/presences/id" -> "id".
std::string id_from_resource(const std::string& resource) {
  const auto open = resource.find("('");
  if (open != std::string::npos) {
    const auto close = resource.find("')", open + 2);
    if (close != std::string::npos) return resource.substr(open + 2, close - open - 2);
  }
  const auto slash = resource.rfind('/');
  return slash == std::string::npos ? std::string() : resource.substr(slash + 1);
}

// Why a notification request body is not a changeNotificationCollection, naming the field
// ("value[0].subscriptionId: expected a string"); nullopt when its shape is right. A missing
// clientState is not malformed: such a notification is refused like a wrong one.
std::optional<std::string> malformed_notifications(std::string_view body) {
  const auto j = json::parse(body, nullptr, false);
  if (j.is_discarded()) return "body: expected JSON (a changeNotificationCollection), got no JSON";
  if (!j.is_object()) return std::string("body: expected a JSON object, got ") + j.type_name();
  const auto value = j.find("value");
  if (value == j.end() || !value->is_array()) return "value: expected an array of notifications";
  for (std::size_t i = 0; i < value->size(); ++i) {
    const auto& n = (*value)[i];
    const std::string where = "value[" + std::to_string(i) + "]";
    if (!n.is_object()) return where + ": expected an object";
    const auto sub = n.find("subscriptionId");
    if (sub == n.end() || !sub->is_string()) return where + ".subscriptionId: expected a string";
    for (const char* field : {"clientState", "lifecycleEvent", "resource", "changeType"}) {
      const auto f = n.find(field);
      if (f != n.end() && !f->is_string() && !f->is_null()) {
        return where + "." + field + ": expected a string";
      }
    }
    if (const auto d = n.find("resourceData"); d != n.end() && !d->is_object() && !d->is_null()) {
      return where + ".resourceData: expected an object";
    }
    if (const auto d = n.find("resourceData"); d != n.end() && d->is_object()) {
      if (const auto id = d->find("id"); id != d->end() && !id->is_string()) {
        return where + ".resourceData.id: expected a string";
      }
    }
  }
  return std::nullopt;
}

}  // namespace

void GraphChatService::watch(std::vector<std::string> users, PresenceHandler handler) {
  {
    std::lock_guard lock(impl_->mutex_);
    if (!handler) {
      // Detaching (the engine stops): the subscription is kept for the next start, which
      // reuses it; deleting it here would cost a new one at every restart.
      impl_->presence_handler_ = nullptr;
      return;
    }
    impl_->watched_ = std::move(users);
    impl_->presence_handler_ = std::move(handler);
    impl_->watch_changed_ = true;
    impl_->next_poll_ = {};
  }
  impl_->wake_.notify_all();
}

void GraphChatService::on_command(CommandHandler handler) {
  std::lock_guard lock(impl_->mutex_);
  impl_->command_handler_ = std::move(handler);
}

void GraphChatService::set_primary(bool primary) {
  {
    std::lock_guard lock(impl_->mutex_);
    if (impl_->primary_ == primary) return;
    impl_->primary_ = primary;
    spdlog::info("chat {}: {} the presence subscription", impl_->s_.name,
                 primary ? "this node now keeps" : "another node keeps");
    if (primary) {
      // The last primary may have renewed or replaced the subscription since this node read it:
      // read it again, renew it soon (or make one if Graph no longer has it), and read everyone
      // watched once, since changes may have gone unseen while no node was primary.
      impl_->subscription_loaded_ = false;
      impl_->took_over_ = true;
      impl_->next_poll_ = {};
      impl_->next_handover_check_ = {};
      if (impl_->presence_handler_) impl_->watch_changed_ = true;
      // Reply subscriptions and chats too: the last primary's, and other nodes' notices.
      impl_->chat_subs_loaded_ = false;
      impl_->next_chats_refresh_ = {};
      impl_->reads_seen_.clear();
    }
  }
  impl_->wake_.notify_all();
}

WebhookResult GraphChatService::handle_webhook(std::string_view validation_token,
                                               std::string_view body) {
  // The handshake of a new subscription: echo the token as text/plain at once (Graph waits 10
  // seconds at most). No lock is taken: the subscription request that caused it is in flight.
  if (!validation_token.empty()) {
    if (validation_token.size() > 2048) return {400, "text/plain; charset=utf-8", "token too long"};
    return {200, "text/plain", std::string(validation_token)};
  }
  if (auto bad = malformed_notifications(body)) {
    spdlog::warn("chat {}: refused a malformed notification request: {}", name(), *bad);
    return {400, "text/plain; charset=utf-8", "Graph notification: " + *bad};
  }
  const auto j = json::parse(body);
  // A notification for a subscription this node does not hold in memory: on a standby, the
  // primary may have made or replaced it since this node read the vault. Read it again (rate
  // limited: forged requests cost at most one store read per kVaultReread) before refusing.
  bool unplaced = false;
  {
    std::lock_guard lock(impl_->mutex_);
    for (const auto& n : j.at("value")) {
      const std::string sub_id = n.value("subscriptionId", "");
      const bool chat = std::any_of(impl_->chat_subs_.begin(), impl_->chat_subs_.end(),
                                    [&](const auto& c) { return c.second.id == sub_id; });
      const auto& current = impl_->subscription_;
      const std::string client_state = n.contains("clientState") && n["clientState"].is_string()
                                           ? n["clientState"].get<std::string>()
                                           : std::string();
      if (!chat && (!current || current->id != sub_id ||
                    !same_secret(current->client_state, client_state))) {
        unplaced = true;
      }
    }
  }
  if (unplaced) impl_->reread_subscription_if_due();
  std::size_t accepted = 0, refused = 0, dropped = 0;
  std::vector<std::pair<std::string, std::string>> handover;           // (subscription, event)
  std::vector<std::pair<std::string, std::string>> chats_for_primary;  // (chat id, event)
  {
    std::lock_guard lock(impl_->mutex_);
    for (const auto& n : j.at("value")) {
      const std::string sub_id = n.value("subscriptionId", "");
      const std::string client_state = n.contains("clientState") && n["clientState"].is_string()
                                           ? n["clientState"].get<std::string>()
                                           : std::string();
      const std::string event = n.contains("lifecycleEvent") && n["lifecycleEvent"].is_string()
                                    ? n["lifecycleEvent"].get<std::string>()
                                    : std::string();
      // A new message in a chat watched for replies: read that chat.
      auto chat = std::find_if(impl_->chat_subs_.begin(), impl_->chat_subs_.end(),
                               [&](const auto& c) { return c.second.id == sub_id; });
      if (chat != impl_->chat_subs_.end() && !sub_id.empty()) {
        if (!same_secret(chat->second.client_state, client_state)) {
          ++refused;
          continue;
        }
        ++accepted;
        if (!impl_->primary_) {
          // Replies are read by the primary alone (each reply one command), and lifecycle
          // events are done by the subscription's owner: handed over with the chat to read.
          chats_for_primary.emplace_back(chat->first, event);
        } else if (event == "reauthorizationRequired") {
          chat->second.reauthorize = true;
        } else if (event == "subscriptionRemoved") {
          chat->second.removed = true;
        } else {
          impl_->chats_to_read_.insert(chat->first);  // also for "missed"
        }
        continue;
      }
      auto& current = impl_->subscription_;
      auto* sub = current && current->id == sub_id ? &*current : nullptr;
      // A subscription atdesk no longer has (deleted, replaced, from before a lost vault):
      // accepted and dropped. Graph retries refused deliveries for hours ("Set up notifications
      // for changes in resource data": anything but 2xx is a failed delivery).
      if (sub == nullptr) {
        ++dropped;
        continue;
      }
      if (!same_secret(sub->client_state, client_state)) {
        ++refused;
        continue;
      }
      ++accepted;
      if (!impl_->primary_ &&
          (event == "reauthorizationRequired" || event == "subscriptionRemoved")) {
        // The primary renews or recreates the subscription, not this node.
        handover.emplace_back(sub_id, event);
      } else if (event == "reauthorizationRequired") {
        sub->reauthorize = true;
      } else if (event == "subscriptionRemoved") {
        sub->removed = true;
        impl_->uncovered_.insert(sub->user_ids.begin(), sub->user_ids.end());
      } else if (event == "missed") {
        impl_->reread_.insert(sub->user_ids.begin(), sub->user_ids.end());
      } else if (event.empty()) {
        std::string id;
        if (n.contains("resourceData") && n["resourceData"].is_object()) {
          id = n["resourceData"].value("id", "");
        }
        if (id.empty() && n.contains("resource") && n["resource"].is_string()) {
          id = id_from_resource(n["resource"].get<std::string>());
        }
        if (std::find(sub->user_ids.begin(), sub->user_ids.end(), id) != sub->user_ids.end() &&
            impl_->id_users_.contains(id)) {
          impl_->reread_.insert(id);
        }
      }
    }
  }
  for (const auto& [sub_id, event] : handover) impl_->hand_over_lifecycle(sub_id, event);
  for (const auto& [chat_id, event] : chats_for_primary) {
    impl_->hand_over_chat_read(chat_id, event);
  }
  if (dropped > 0) {
    spdlog::info("chat {}: dropped {} notification(s) of a subscription no longer held", name(),
                 dropped);
  }
  if (refused > 0) {
    spdlog::warn("chat {}: refused {} notification(s) with a wrong clientState", name(), refused);
  }
  if (accepted == 0 && refused > 0) {
    return {403, "text/plain; charset=utf-8", "refused: wrong clientState"};
  }
  impl_->wake_.notify_all();
  return {202, "text/plain; charset=utf-8", ""};
}

namespace {

json subscription_to_json(const GraphChatService::Impl::Subscription& sub) {
  return {{"id", sub.id},
          {"client_state", sub.client_state},
          {"expires_at", sub.expires_at.time_since_epoch().count()},
          {"renew_at", sub.renew_at.time_since_epoch().count()},
          {"renewed_at", sub.renewed_at.time_since_epoch().count()},
          {"user_ids", sub.user_ids},
          {"obsolete", sub.obsolete}};
}

}  // namespace

Result<std::optional<GraphChatService::Impl::Subscription>>
GraphChatService::Impl::read_stored_subscription() {
  auto text = vault_.load(s_.name + "/presence-subscription");
  if (!text) {
    if (text.error().code != Errc::corrupt) return fail(text.error());
    spdlog::warn("chat {}: stored presence subscription unusable: {}", s_.name,
                 text.error().describe());
    return std::optional<Subscription>();
  }
  if (text->empty()) return std::optional<Subscription>();
  auto j = json::parse(*text, nullptr, false);
  sodium_memzero(text->data(), text->size());
  if (!j.is_object() || !j.contains("id") || !j["id"].is_string() || !j.contains("user_ids") ||
      !j["user_ids"].is_array()) {
    spdlog::warn("chat {}: stored presence subscription: expected an object with id and user_ids",
                 s_.name);
    return std::optional<Subscription>();
  }
  Subscription sub;
  sub.id = j["id"].get<std::string>();
  sub.client_state = j.value("client_state", "");
  sub.expires_at = Timestamp(std::chrono::milliseconds(j.value("expires_at", 0LL)));
  sub.renew_at = Timestamp(std::chrono::milliseconds(j.value("renew_at", 0LL)));
  sub.renewed_at = Timestamp(std::chrono::milliseconds(j.value("renewed_at", 0LL)));
  sub.obsolete = j.value("obsolete", false);
  for (const auto& id : j["user_ids"]) {
    if (id.is_string()) sub.user_ids.push_back(id.get<std::string>());
  }
  return std::optional<Subscription>(std::move(sub));
}

bool GraphChatService::Impl::load_subscription() {
  {
    std::lock_guard lock(mutex_);
    if (subscription_loaded_) return true;
  }
  auto stored = read_stored_subscription();
  if (!stored) {
    spdlog::warn("chat {}: cannot read the stored presence subscription: {}", s_.name,
                 stored.error().describe());
    return false;
  }
  auto& sub = *stored;
  std::lock_guard lock(mutex_);
  subscription_loaded_ = true;
  if (sub && sub->expires_at <= clock_.now()) sub.reset();  // Graph has removed it by itself
  if (sub && took_over_) {
    // Taken over from another node: renewed as soon as Graph allows (which also finds out
    // whether Graph still has it), never a second one beside it.
    sub->renew_at = std::max(clock_.now(), sub->renewed_at + s_.min_renew_interval);
  }
  took_over_ = false;
  if (sub && (!subscription_ || subscription_->id != sub->id)) {
    spdlog::info("chat {}: presence subscription {} from the vault, until {}", s_.name, sub->id,
                 format_time(sub->expires_at));
  }
  subscription_ = std::move(sub);
  return true;
}

void GraphChatService::Impl::reread_subscription_if_due() {
  {
    std::lock_guard lock(mutex_);
    if (primary_ && subscription_loaded_) return;  // its own subscription is the one it keeps
    const auto now = clock_.now();
    if (vault_reread_at_ && now - *vault_reread_at_ < kVaultReread) return;
    vault_reread_at_ = now;
  }
  auto stored = read_stored_subscription();
  if (!stored) {
    spdlog::warn("chat {}: cannot read the stored presence subscription: {}", s_.name,
                 stored.error().describe());
    return;
  }
  // A standby's reply subscriptions are the primary's, as stored.
  auto chat_subs = read_stored_chat_subscriptions();
  std::lock_guard lock(mutex_);
  if (!primary_ && chat_subs) chat_subs_ = std::move(*chat_subs);
  if (primary_ && subscription_loaded_) return;  // loaded by its worker meanwhile
  auto& sub = *stored;
  if (sub && sub->expires_at <= clock_.now()) sub.reset();
  subscription_ = std::move(sub);
  if (primary_) {
    subscription_loaded_ = true;
    if (subscription_ && took_over_) {
      subscription_->renew_at =
          std::max(clock_.now(), subscription_->renewed_at + s_.min_renew_interval);
    }
    took_over_ = false;
  }
}

void GraphChatService::Impl::hand_over_lifecycle(const std::string& sub_id,
                                                 const std::string& event) {
  spdlog::info("chat {}: {} for presence subscription {}: handed to the primary node", s_.name,
               event, sub_id);
  // A new value each time: the primary acts on a change and never clears it, so an event
  // written while the primary looks is not lost.
  unsigned char raw[8];
  randombytes_buf(raw, sizeof raw);
  char nonce[17];
  sodium_bin2hex(nonce, sizeof nonce, raw, sizeof raw);
  const std::string text =
      json{{"id", sub_id}, {"event", event}, {"nonce", std::string(nonce, 16)}}.dump();
  if (auto ok = vault_.save(s_.name + "/presence-subscription-event", text); !ok) {
    // The primary's next renewal (at two thirds of the lifetime) does the same, later.
    spdlog::warn("chat {}: cannot hand {} to the primary node: {}", s_.name, event,
                 ok.error().describe());
  }
}

void GraphChatService::Impl::take_handed_over_lifecycle() {
  {
    std::lock_guard lock(mutex_);
    const auto now = clock_.now();
    if (now < next_handover_check_) return;
    next_handover_check_ = now + kHandoverCheck;
  }
  auto text = vault_.load(s_.name + "/presence-subscription-event");
  if (!text || text->empty()) return;
  const auto j = json::parse(*text, nullptr, false);
  if (!j.is_object()) return;
  const std::string id = j.value("id", "");
  const std::string event = j.value("event", "");
  std::lock_guard lock(mutex_);
  if (*text == handover_seen_) return;
  handover_seen_ = *text;
  if (subscription_ && subscription_->id == id) {
    spdlog::info("chat {}: {} for presence subscription {}, received by another node", s_.name,
                 event, id);
    if (event == "reauthorizationRequired") subscription_->reauthorize = true;
    if (event == "subscriptionRemoved") subscription_->removed = true;
  }
}

void GraphChatService::Impl::save_subscription() {
  std::string text = subscription_ ? subscription_to_json(*subscription_).dump() : std::string();
  if (auto ok = vault_.save(s_.name + "/presence-subscription", text); !ok) {
    spdlog::warn("chat {}: cannot store the presence subscription: {}", s_.name,
                 ok.error().describe());
  }
  sodium_memzero(text.data(), text.size());
}

bool GraphChatService::Impl::delete_subscription(const Subscription& sub, SteadyTime deadline) {
  auto r = call({"DELETE", "/subscriptions/" + graph::url_encode(sub.id), "", Auth::delegated,
                 "delete presence subscription"},
                deadline);
  const bool gone = r && (r->status == 204 || r->status == 200 || r->status == 404);
  std::lock_guard lock(mutex_);
  if (!gone) {
    spdlog::warn("chat {}: deleting presence subscription {} failed ({}); trying again", s_.name,
                 sub.id, r ? "HTTP " + std::to_string(r->status) : r.error().describe());
    if (subscription_ && subscription_->id == sub.id) {
      subscription_->obsolete = true;
      subscription_->renew_at = clock_.now() + s_.min_renew_interval;
      save_subscription();
    }
    return false;
  }
  if (subscription_ && subscription_->id == sub.id) {
    subscription_.reset();
    save_subscription();
  }
  return true;
}

Result<void> GraphChatService::Impl::create_subscription(const std::vector<std::string>& ids) {
  std::string filter = "/communications/presences?$filter=id in (";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    filter += (i ? ",'" : "'") + ids[i] + "'";
  }
  filter += ")";
  Subscription sub;
  sub.client_state = random_client_state();
  sub.user_ids = ids;
  const std::string url = s_.public_url + "/api/v1/webhooks/graph/" + s_.name;
  const auto asked_at = clock_.now();
  json body{{"changeType", "updated"},
            {"notificationUrl", url},
            {"lifecycleNotificationUrl", url},
            {"resource", filter},
            {"expirationDateTime", format_time(asked_at + s_.subscription_lifetime)},
            {"clientState", sub.client_state}};
  Call c{"POST", "/subscriptions", body.dump(), Auth::delegated, "create presence subscription"};
  auto r = call(c, steady_now() + s_.request_timeout);
  if (!r) return fail(r.error());
  auto j = expect_json(c, *r, {201});
  if (!j) return fail(j.error());
  auto id = string_field(c, *j, "id");
  if (!id) return fail(id.error());
  sub.id = std::move(*id);
  const auto expires = parse_precise_time(j->value("expirationDateTime", ""));
  if (!expires) {
    return fail(Errc::invalid_argument,
                "Graph " + c.what + ": expirationDateTime: expected an ISO 8601 time");
  }
  sub.expires_at = *expires;
  const auto now = clock_.now();
  sub.renewed_at = now;
  sub.renew_at =
      now +
      std::max<std::chrono::milliseconds>(
          std::chrono::duration_cast<std::chrono::milliseconds>((sub.expires_at - now) * 2 / 3),
          s_.min_renew_interval);
  std::lock_guard lock(mutex_);
  for (const auto& id : ids) uncovered_.erase(id);
  subscription_ = std::move(sub);
  save_subscription();
  return {};
}

void GraphChatService::Impl::renew_subscription(const Subscription& sub, SteadyTime deadline) {
  const auto now = clock_.now();
  const auto until = now + s_.subscription_lifetime;
  Call c{"PATCH", "/subscriptions/" + graph::url_encode(sub.id),
         json{{"expirationDateTime", format_time(until)}}.dump(), Auth::delegated,
         "renew presence subscription"};
  auto r = call(c, deadline);
  if (r && r->status == 200) {
    auto j = expect_json(c, *r, {200});
    const auto expires = j ? parse_precise_time(j->value("expirationDateTime", "")) : std::nullopt;
    std::lock_guard lock(mutex_);
    if (!subscription_ || subscription_->id != sub.id) return;
    subscription_->expires_at = expires.value_or(until);
    subscription_->renew_at = now + std::max<std::chrono::milliseconds>(
                                        std::chrono::duration_cast<std::chrono::milliseconds>(
                                            (subscription_->expires_at - now) * 2 / 3),
                                        s_.min_renew_interval);
    subscription_->reauthorize = false;
    subscription_->renewed_at = now;
    save_subscription();
    return;
  }
  std::lock_guard lock(mutex_);
  if (!subscription_ || subscription_->id != sub.id) return;
  if (r && r->status == 404) {
    // Graph no longer has it: made anew (nothing to delete).
    spdlog::warn("chat {}: presence subscription {} is gone (HTTP 404); making a new one", s_.name,
                 sub.id);
    subscription_->removed = true;
    return;
  }
  // Still live until it expires: try again after the minimum interval, never a new one beside it.
  spdlog::warn("chat {}: renewing presence subscription {} failed ({}); trying again", s_.name,
               sub.id, r ? "HTTP " + std::to_string(r->status) : r.error().describe());
  subscription_->renew_at = now + s_.min_renew_interval;
}

void GraphChatService::Impl::maintain_subscriptions() {
  bool primary = true;
  {
    std::lock_guard lock(mutex_);
    primary = primary_;
  }
  // A standby reads the vault when a notification needs it (handle_webhook), not every round.
  if (primary && !load_subscription()) return;
  if (primary) take_handed_over_lifecycle();
  std::vector<std::string> watched;
  bool changed = false;
  bool can_subscribe = false;
  {
    std::lock_guard lock(mutex_);
    watched = watched_;
    changed = watch_changed_;
    watch_changed_ = false;
    can_subscribe = !s_.public_url.empty() && !delegated_.refresh_token.empty() && problem_.empty();
  }
  const auto deadline = steady_now() + s_.request_timeout;
  if (changed) {
    std::map<std::string, std::string> id_users;
    std::vector<std::string> ids;
    for (const auto& user : watched) {
      auto id = resolve_user(user, deadline);
      if (!id) {
        spdlog::warn("chat {}: cannot watch {}: {}", s_.name, user, id.error().describe());
        continue;
      }
      if (id_users.emplace(*id, user).second) ids.push_back(*id);
    }
    std::lock_guard lock(mutex_);
    id_users_ = std::move(id_users);
    // The subscription covers the first subscription_batch ids; the others are polled.
    const auto covered = std::min(ids.size(), s_.subscription_batch);
    wanted_ids_.assign(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(covered));
    uncovered_ = std::set<std::string>(ids.begin(), ids.end());
    reread_.insert(ids.begin(), ids.end());  // the initial state of everyone watched
    next_reread_ = clock_.now() + s_.reread_interval;
    for (auto it = last_presence_.begin(); it != last_presence_.end();) {
      it = id_users_.contains(it->first) ? std::next(it) : last_presence_.erase(it);
    }
    if (subscription_ && !subscription_->obsolete) {
      const std::set<std::string> have(subscription_->user_ids.begin(),
                                       subscription_->user_ids.end());
      if (have == std::set<std::string>(wanted_ids_.begin(), wanted_ids_.end())) {
        for (const auto& id : wanted_ids_) uncovered_.erase(id);  // reused as it is
      } else {
        subscription_->obsolete = true;  // its filter cannot be changed: deleted, then made anew
        subscription_->renew_at = {};
      }
    }
  }
  std::optional<Subscription> sub;
  std::vector<std::string> wanted;
  {
    std::lock_guard lock(mutex_);
    // Only the primary acts on the subscription (another node keeps it); it may have become
    // a standby while users were resolved.
    if (!primary_) return;
    sub = subscription_;
    wanted = wanted_ids_;
  }
  const auto now = clock_.now();
  if (sub && sub->expires_at <= now) {
    // Expired: Graph has removed it; a new one is made below.
    std::lock_guard lock(mutex_);
    uncovered_.insert(sub->user_ids.begin(), sub->user_ids.end());
    reread_.insert(sub->user_ids.begin(), sub->user_ids.end());
    subscription_.reset();
    save_subscription();
    sub.reset();
  }
  if (sub && sub->obsolete) {
    // Deleted before a new one is made (Graph allows one); a failed deletion is tried again
    // after min_renew_interval.
    if (now < sub->renew_at) return;
    if (!delete_subscription(*sub, deadline)) return;
    sub.reset();
  }
  if (sub && sub->removed) {
    std::lock_guard lock(mutex_);
    uncovered_.insert(sub->user_ids.begin(), sub->user_ids.end());
    reread_.insert(sub->user_ids.begin(), sub->user_ids.end());  // changes may have been lost
    subscription_.reset();
    save_subscription();
    sub.reset();
  }
  if (sub) {
    if (sub->reauthorize || now >= sub->renew_at) renew_subscription(*sub, deadline);
    return;
  }
  if (!can_subscribe || wanted.empty()) return;
  {
    std::lock_guard lock(mutex_);
    if (now < next_subscribe_) return;
  }
  if (auto ok = create_subscription(wanted); !ok) {
    spdlog::warn("chat {}: presence subscription failed, polling instead: {}", s_.name,
                 ok.error().describe());
    subscribe_later();
  }
}

void GraphChatService::Impl::subscribe_later() {
  std::lock_guard lock(mutex_);
  next_subscribe_ = clock_.now() + s_.poll_interval;
}

void GraphChatService::run_once() {
  impl_->run_round();
}

void GraphChatService::Impl::run_round() {
  if (!check_usable()) return;
  maintain_subscriptions();
  std::vector<std::string> reread;
  {
    std::lock_guard lock(mutex_);
    reread_.merge(retry_reads_);
    retry_reads_.clear();
    const auto now = clock_.now();
    // Polling is the primary's (a standby reads only what notifications and failed decisions
    // ask for: every node polling would multiply the reads by the number of nodes).
    if (primary_ && now >= next_reread_ && !id_users_.empty()) {
      // Work location and out of office are not pushed: everyone watched is read again.
      next_reread_ = now + s_.reread_interval;
      for (const auto& [id, user] : id_users_) reread_.insert(id);
    }
    if (primary_ && now >= next_poll_) {
      next_poll_ = now + s_.poll_interval;
      // Polling covers the users no working subscription does.
      reread_.insert(uncovered_.begin(), uncovered_.end());
    }
    reread.assign(reread_.begin(), reread_.end());
    reread_.clear();
  }
  refresh_and_notify(reread);
  maintain_replies();
}

void GraphChatService::Impl::worker_loop() {
  for (;;) {
    run_round();
    std::unique_lock lock(mutex_);
    if (stopping_) return;
    // Woken early by notifications and watch changes; otherwise once a second, which is when
    // renewals and polls fall due (their times are checked against the Clock).
    wake_.wait_for(lock, 1s, [&] {
      return stopping_ || !reread_.empty() || !chats_to_read_.empty() || watch_changed_;
    });
    if (stopping_) return;
  }
}

}  // namespace atdesk::chat
