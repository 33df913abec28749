// The state behind GraphChatService, shared by the files that implement it by concern:
// graph_chat_service.cpp (tokens, requests, presence, sign-in), graph_subscriptions.cpp (watch,
// webhook, background work) and graph_chat.cpp (messages and replies).
#pragma once

#include <array>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "atdesk/chat/graph/graph_chat_service.hpp"
#include "atdesk/chat/graph/throttle.hpp"
#include "http.hpp"
#include "oauth.hpp"
#include "token_vault.hpp"

namespace atdesk::chat {

using graph::SteadyTime;

class GraphChatService::Impl {
 public:
  Impl(Settings settings, store::TableStore& tables, const Clock& clock);

  enum class Auth { app, delegated };
  struct Call {
    std::string method;
    std::string path;  // below graph_url, starting with '/'
    std::string body;  // JSON, when any
    Auth auth = Auth::app;
    std::string what;  // for messages: "getPresencesByUserId", "create chat", ...
  };

  // Graph throttles per service and per request type ("Microsoft Graph service-specific
  // throttling limits"): each workload has its own request budget and its own Retry-After, so a
  // 429 on chat messages does not stop presence reads.
  enum class Workload { presence, chat_read, chat_send, subscriptions, directory };
  static constexpr std::size_t kWorkloads = 5;
  static Workload workload_of(const Call& call);
  static std::string_view to_string(Workload w);

  // Sends a Graph request within `deadline`: the workload's token bucket, bearer token
  // (refreshed once on 401), Retry-After of 429/503 and backoff with jitter. A message post is
  // not repeated after a 504 or a broken connection (it may have been delivered: a second try
  // would post the notice twice). Any other status is returned.
  Result<graph::HttpResponse> call(const Call& call, SteadyTime deadline);
  // GET of a collection and of every page its @odata.nextLink names (at most `max_pages`); a
  // nextLink outside graph_url is refused (the bearer token goes to Graph only).
  Result<std::vector<nlohmann::json>> get_pages(
      const Call& first, SteadyTime deadline, std::size_t max_pages,
      const std::function<bool(const nlohmann::json&)>& more = {});
  // A JSON object from a response, or an error naming the call, the status and Graph's code.
  Result<nlohmann::json> expect_json(const Call& call, const graph::HttpResponse& response,
                                     std::initializer_list<long> ok);
  // The non-empty string `key` of an answer of `call` (an object's "id"), or an error naming
  // the call and the field ("Graph create chat with ...: id: expected a string").
  static Result<std::string> string_field(const Call& call, const nlohmann::json& answer,
                                          const char* key);

  Result<std::string> access_token(Auth auth, SteadyTime deadline, bool force_refresh);
  Result<void> load_tokens();
  Result<void> save_tokens();  // with mutex_ held
  void mark_broken(std::string why);
  // The service account has signed in (device code or browser): tokens kept, /me read, stored.
  Result<void> signed_in(graph::TokenSet tokens);
  // Loads stored tokens first: a revoked sign-in is remembered across restarts.
  Result<void> check_usable();

  // UPN, e-mail or object id -> object id; Errc::not_found when the directory has no such user.
  // A user whose mail differs from the UPN is found by $filter=mail eq '...'.
  Result<std::string> resolve_user(const std::string& user, SteadyTime deadline);
  // Presence of object ids, batched; ids Graph does not return are absent.
  Result<std::map<std::string, Presence>> read_presences(const std::vector<std::string>& ids,
                                                         SteadyTime deadline);
  // Re-reads `ids` and calls the presence handler for those that changed (and those in
  // rereport_). Ids whose read fails go to retry_reads_.
  void refresh_and_notify(const std::vector<std::string>& ids);
  // presence() could not answer: queue a re-read and a report of everyone watched.
  void decision_failed();

  // Background work (graph_subscriptions.cpp / graph_chat.cpp).
  void maintain_subscriptions();
  Result<void> create_subscription(const std::vector<std::string>& ids);
  void subscribe_later();  // the next attempt to cover uncovered_: one poll interval from now
  // Replies: a change-notification subscription on /chats/{id}/messages for each chat with a
  // notice in the last reply_window, read when notified; polled every poll_interval only while
  // its subscription cannot be made; neither once the window has passed.
  void maintain_replies();
  void run_round();
  void worker_loop();
  bool sleep_until(SteadyTime until);  // false when stopping

  Settings s_;
  store::TableStore& tables_;
  const Clock& clock_;
  graph::TokenVault vault_;
  std::array<std::unique_ptr<graph::TokenBucket>, kWorkloads> buckets_;

  mutable std::mutex mutex_;  // everything below; never held across a request
  std::mt19937_64 rng_;
  std::mutex token_mutex_;  // serialises token requests (refresh tokens rotate)
  bool tokens_loaded_ = false;
  graph::TokenSet app_;
  graph::TokenSet delegated_;
  std::string account_id_;                              // the service account's object id
  std::string account_upn_;                             // and its user principal name
  std::string problem_;                                 // non-empty: broken, and why
  bool healthy_ = false;                                // a Graph request has succeeded
  std::array<SteadyTime, kWorkloads> blocked_until_{};  // Graph's Retry-After, per workload

  std::map<std::string, std::string> user_ids_;  // lower-case UPN or e-mail -> object id
  // Lower-case UPN or e-mail -> preferredLanguage ("" when unset or not readable); the refusal
  // of that read is logged once.
  std::map<std::string, std::string> languages_;
  bool language_refusal_logged_ = false;

  // Presence watch.
  PresenceHandler presence_handler_;
  std::vector<std::string> watched_;
  bool watch_changed_ = false;
  std::map<std::string, std::string> id_users_;    // object id -> the user as watched
  std::map<std::string, Presence> last_presence_;  // object id -> last presence reported
  // Graph allows one presence subscription per user and application ("Get change
  // notifications for presence updates in Microsoft Teams"): atdesk keeps exactly one, stored
  // sealed in the vault so that a restart renews or deletes the live one instead of being
  // refused a new one for up to an hour.
  struct Subscription {
    std::string id;
    std::string client_state;
    Timestamp expires_at{};
    Timestamp renew_at{};    // about two thirds into the lifetime Graph granted
    Timestamp renewed_at{};  // made or last renewed (a new primary renews no sooner than
                             // min_renew_interval after it)
    std::vector<std::string> user_ids;
    bool reauthorize = false;
    bool removed = false;
    bool obsolete = false;  // to be deleted (the watched users changed); deletion failed so far
  };
  std::optional<Subscription> subscription_;
  bool subscription_loaded_ = false;
  std::vector<std::string> wanted_ids_;  // the ids the subscription should cover
  // The stored subscription (nullopt: none, or unreadable and logged); an error when the store
  // could not be read (tried again on the next round).
  Result<std::optional<Subscription>> read_stored_subscription();
  // From the vault, once, and again after becoming primary; false when the store could not be
  // read (the round does nothing to subscriptions then, so that no second one is made).
  bool load_subscription();
  void save_subscription();  // with mutex_ held

  // Several nodes (set_primary): only the primary creates, renews, reauthorizes, recreates and
  // deletes the presence subscription and polls; a standby reads the subscription the primary
  // stored when a notification names one it does not hold (at most every kVaultReread), and
  // hands the lifecycle events it receives to the primary through the vault.
  bool primary_ = true;
  bool took_over_ = false;  // became primary: renew the stored subscription soon, or make one
  std::optional<Timestamp> vault_reread_at_;  // the last re-read for an unknown notification
  Timestamp next_handover_check_{};           // the primary's next look at handed-over events
  std::string handover_seen_;                 // the handed-over event last acted on
  static constexpr std::chrono::seconds kVaultReread{1};
  static constexpr std::chrono::seconds kHandoverCheck{10};
  // Re-reads the stored subscription for a notification this node cannot place, unless it did
  // within kVaultReread; a standby (or a primary that has not loaded it yet) adopts it.
  void reread_subscription_if_due();
  // A standby received reauthorizationRequired or subscriptionRemoved for `sub_id`: stored for
  // the primary (the vault key "<name>/presence-subscription-event").
  void hand_over_lifecycle(const std::string& sub_id, const std::string& event);
  // The primary applies such an event to its subscription, once (the stored value is never
  // cleared; a new one differs by a random part).
  void take_handed_over_lifecycle();
  bool delete_subscription(const Subscription& sub, SteadyTime deadline);  // gone afterwards
  void renew_subscription(const Subscription& sub, SteadyTime deadline);
  std::set<std::string> uncovered_;  // watched ids no working subscription covers
  std::set<std::string> reread_;     // ids to re-read (change or missed notifications)
  // Ids whose re-read failed (throttled, Graph down): read again on the next round, so that a
  // change notification is not lost with the request that failed.
  std::set<std::string> retry_reads_;
  // Ids to report on their next successful read even if unchanged: a job decision could not
  // get their presence (Graph throttled or down, service broken), so held jobs wait for a new
  // decision that only a reported presence triggers.
  std::set<std::string> rereport_;
  Timestamp next_poll_{};
  Timestamp next_reread_{};  // the periodic re-read of everyone watched (not everything is pushed)
  Timestamp next_subscribe_{};  // when to try again to cover uncovered_ by a subscription

  // Chats.
  CommandHandler command_handler_;
  struct ChatState {
    std::string chat_id;
    std::string user;          // the recipient as addressed (UPN or e-mail)
    std::string user_id;       // their object id
    std::string cursor;        // createdDateTime of the newest message seen
    Timestamp active_until{};  // replies are watched until then (reply_window after a notice)
  };
  struct ChatSubscription {
    std::string id;
    std::string client_state;
    Timestamp expires_at{};
    Timestamp renew_at{};
    bool reauthorize = false;
    bool removed = false;
  };
  std::map<std::string, ChatSubscription> chat_subs_;  // by chat id; sealed in the vault
  bool chat_subs_loaded_ = false;
  // Several nodes: only the primary keeps reply subscriptions and reads replies, so that each
  // reply becomes one command. It merges the chats other nodes sent notices to (their rows in
  // "graph.chats") every kHandoverCheck, and reads a chat at once when a standby accepted a
  // notification for it: the standby writes a new value under "<name>/<chat id>" in
  // "graph.reads", which the primary looks at every round (values are never cleared, so no
  // hand-over is lost between a read and a clear).
  Timestamp next_chats_refresh_{};
  std::map<std::string, std::string> reads_seen_;  // "graph.reads" key -> the value last acted on
  Result<std::map<std::string, ChatSubscription>> read_stored_chat_subscriptions();
  void refresh_shared_chats();
  void hand_over_chat_read(const std::string& chat_id, const std::string& event);
  std::vector<std::string> take_handed_over_reads();
  std::set<std::string> chats_to_read_;                   // chat ids notified of a message
  std::map<std::string, Timestamp> next_chat_poll_;       // fallback polling, by chat id
  std::map<std::string, Timestamp> next_chat_subscribe_;  // after a refused subscription
  void load_chat_subscriptions();
  void save_chat_subscriptions();  // with mutex_ held
  Result<ChatSubscription> create_chat_subscription(const std::string& chat_id);
  void read_replies(ChatState chat, const std::string& account_id, const CommandHandler& handler);
  std::map<std::string, ChatState> chats_;  // by lower-case user
  bool chats_loaded_ = false;
  Result<void> load_chats();  // with mutex_ held
  Result<void> save_chat(const ChatState& chat);

  // Worker.
  std::thread worker_;
  std::condition_variable wake_;
  bool stopping_ = false;
};

std::string lower_ascii(std::string_view s);
std::string format_time(Timestamp t);                   // "2024-05-01T10:00:00Z"
std::optional<Timestamp> parse_time(std::string_view);  // ISO 8601 UTC, fractions ignored
// ISO 8601 with fractions and a Z or +hh:mm offset, to the millisecond: Graph's
// createdDateTime values differ in their number of digits, so they are compared parsed.
std::optional<Timestamp> parse_precise_time(std::string_view);
// The scope root of a Graph URL: "https://graph.microsoft.us/v1.0" -> "https://graph.microsoft.us".
std::string graph_resource(std::string_view graph_url);

}  // namespace atdesk::chat
