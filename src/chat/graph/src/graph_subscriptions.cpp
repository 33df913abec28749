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
  std::size_t accepted = 0, refused = 0;
  {
    std::lock_guard lock(impl_->mutex_);
    for (const auto& n : j.at("value")) {
      const std::string sub_id = n.value("subscriptionId", "");
      const std::string client_state = n.contains("clientState") && n["clientState"].is_string()
                                           ? n["clientState"].get<std::string>()
                                           : std::string();
      auto sub = std::find_if(impl_->subscriptions_.begin(), impl_->subscriptions_.end(),
                              [&](const auto& s) { return s.id == sub_id; });
      if (sub == impl_->subscriptions_.end() || !same_secret(sub->client_state, client_state)) {
        ++refused;
        continue;
      }
      ++accepted;
      const std::string event = n.contains("lifecycleEvent") && n["lifecycleEvent"].is_string()
                                    ? n["lifecycleEvent"].get<std::string>()
                                    : std::string();
      if (event == "reauthorizationRequired") {
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
        if (std::find(sub->user_ids.begin(), sub->user_ids.end(), id) != sub->user_ids.end()) {
          impl_->reread_.insert(id);
        }
      }
    }
  }
  if (refused > 0) {
    spdlog::warn(
        "chat {}: refused {} notification(s) with an unknown subscription or a wrong "
        "clientState",
        name(), refused);
  }
  if (accepted == 0 && refused > 0) {
    return {403, "text/plain; charset=utf-8",
            "refused: unknown subscriptionId or wrong clientState"};
  }
  impl_->wake_.notify_all();
  return {202, "text/plain; charset=utf-8", ""};
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
  json body{{"changeType", "updated"},
            {"notificationUrl", url},
            {"lifecycleNotificationUrl", url},
            {"resource", filter},
            {"expirationDateTime", format_time(clock_.now() + s_.subscription_lifetime)},
            {"clientState", sub.client_state}};
  // Registered before the request: Graph may notify before the answer arrives.
  Call c{"POST", "/subscriptions", body.dump(), Auth::delegated, "create presence subscription"};
  auto r = call(c, steady_now() + s_.request_timeout);
  if (!r) return fail(r.error());
  auto j = expect_json(c, *r, {201});
  if (!j) return fail(j.error());
  if (!j->contains("id") || !(*j)["id"].is_string()) {
    return fail(Errc::invalid_argument, "Graph " + c.what + ": id: expected a string");
  }
  sub.id = (*j)["id"].get<std::string>();
  const auto expires = parse_time(j->value("expirationDateTime", ""));
  if (!expires) {
    return fail(Errc::invalid_argument,
                "Graph " + c.what + ": expirationDateTime: expected an ISO 8601 time");
  }
  sub.expires_at = *expires;
  std::lock_guard lock(mutex_);
  for (const auto& id : ids) uncovered_.erase(id);
  subscriptions_.push_back(std::move(sub));
  return {};
}

void GraphChatService::Impl::maintain_subscriptions() {
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
    std::vector<Subscription> old;
    {
      std::lock_guard lock(mutex_);
      id_users_ = std::move(id_users);
      old = std::move(subscriptions_);
      subscriptions_.clear();
      uncovered_ = std::set<std::string>(ids.begin(), ids.end());
      reread_.insert(ids.begin(), ids.end());  // the initial state of everyone watched
      for (auto it = last_presence_.begin(); it != last_presence_.end();) {
        it = id_users_.contains(it->first) ? std::next(it) : last_presence_.erase(it);
      }
    }
    for (const auto& sub : old) {
      (void)call({"DELETE", "/subscriptions/" + graph::url_encode(sub.id), "", Auth::delegated,
                  "delete subscription"},
                 deadline);
    }
    if (can_subscribe) {
      for (std::size_t first = 0; first < ids.size(); first += s_.subscription_batch) {
        std::vector<std::string> chunk(
            ids.begin() + static_cast<std::ptrdiff_t>(first),
            ids.begin() +
                static_cast<std::ptrdiff_t>(std::min(ids.size(), first + s_.subscription_batch)));
        if (auto ok = create_subscription(chunk); !ok) {
          spdlog::warn("chat {}: presence subscription failed, polling instead: {}", s_.name,
                       ok.error().describe());
          subscribe_later();
        }
      }
    }
    return;
  }
  // Renew, reauthorize or recreate what needs it.
  std::vector<Subscription> subs;
  {
    std::lock_guard lock(mutex_);
    subs = subscriptions_;
  }
  const auto now = clock_.now();
  for (const auto& sub : subs) {
    bool recreate = sub.removed || sub.expires_at <= now;
    if (!recreate && (sub.reauthorize || sub.expires_at - s_.renew_before <= now)) {
      const auto until = now + s_.subscription_lifetime;
      Call c{"PATCH", "/subscriptions/" + graph::url_encode(sub.id),
             json{{"expirationDateTime", format_time(until)}}.dump(), Auth::delegated,
             "renew subscription"};
      auto r = call(c, deadline);
      if (r && r->status == 200) {
        auto j = expect_json(c, *r, {200});
        const auto expires = j ? parse_time(j->value("expirationDateTime", "")) : std::nullopt;
        std::lock_guard lock(mutex_);
        for (auto& s : subscriptions_) {
          if (s.id == sub.id) {
            s.expires_at = expires.value_or(until);
            s.reauthorize = false;
          }
        }
        continue;
      }
      spdlog::warn("chat {}: renewing a presence subscription failed ({}); recreating it", s_.name,
                   r ? "HTTP " + std::to_string(r->status) : r.error().describe());
      recreate = true;
    }
    if (recreate) {
      {
        std::lock_guard lock(mutex_);
        std::erase_if(subscriptions_, [&](const auto& s) { return s.id == sub.id; });
        uncovered_.insert(sub.user_ids.begin(), sub.user_ids.end());
        reread_.insert(sub.user_ids.begin(), sub.user_ids.end());  // changes may have been lost
      }
      if (can_subscribe) {
        if (auto ok = create_subscription(sub.user_ids); !ok) {
          spdlog::warn("chat {}: recreating a presence subscription failed, polling: {}", s_.name,
                       ok.error().describe());
          subscribe_later();
        }
      }
    }
  }
  // Users left to polling by a subscription that could not be made: try again once per poll
  // interval, so that push comes back when Graph accepts subscriptions again.
  std::vector<std::string> uncovered;
  {
    std::lock_guard lock(mutex_);
    if (can_subscribe && clock_.now() >= next_subscribe_) {
      uncovered.assign(uncovered_.begin(), uncovered_.end());
    }
  }
  for (std::size_t first = 0; first < uncovered.size(); first += s_.subscription_batch) {
    std::vector<std::string> chunk(
        uncovered.begin() + static_cast<std::ptrdiff_t>(first),
        uncovered.begin() +
            static_cast<std::ptrdiff_t>(std::min(uncovered.size(), first + s_.subscription_batch)));
    if (auto ok = create_subscription(chunk); !ok) {
      spdlog::warn("chat {}: presence subscription still failing, polling: {}", s_.name,
                   ok.error().describe());
      subscribe_later();
      break;
    }
    spdlog::info("chat {}: presence subscription made again; push instead of polling", s_.name);
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
  bool poll = false;
  {
    std::lock_guard lock(mutex_);
    reread_.merge(retry_reads_);
    retry_reads_.clear();
    reread.assign(reread_.begin(), reread_.end());
    reread_.clear();
    const auto now = clock_.now();
    if (now >= next_poll_) {
      poll = true;
      next_poll_ = now + s_.poll_interval;
      // Polling covers the users no working subscription does.
      for (const auto& id : uncovered_) {
        if (std::find(reread.begin(), reread.end(), id) == reread.end()) reread.push_back(id);
      }
    }
  }
  refresh_and_notify(reread);
  if (poll) poll_replies();
}

void GraphChatService::Impl::worker_loop() {
  for (;;) {
    run_round();
    std::unique_lock lock(mutex_);
    if (stopping_) return;
    // Woken early by notifications and watch changes; otherwise once a second, which is when
    // renewals and polls fall due (their times are checked against the Clock).
    wake_.wait_for(lock, 1s, [&] { return stopping_ || !reread_.empty() || watch_changed_; });
    if (stopping_) return;
  }
}

}  // namespace atdesk::chat
