// The Microsoft Teams chat service, through Microsoft Graph v1.0.
//
// - Presence: application token (client credentials, Presence.Read.All, User.Read.All); users
//   given as UPN or e-mail are resolved to object ids once; reads are batched with
//   POST /communications/getPresencesByUserId.
// - Push: one change-notification subscription on /communications/presences (Graph allows one
//   per user and application; it needs a delegated token, so it is made with the service
//   account's), kept in the vault across restarts, renewed at two thirds of its granted
//   lifetime; users it does not cover are polled, and everyone watched is re-read every
//   reread_interval because work location and out of office are not pushed. With several
//   nodes, only the primary (set_primary) keeps the subscription and polls.
// - Chat: the service account ("the fax machine", signed in once by the device authorization
//   grant) writes in a 1:1 chat with each recipient or in a channel; replies in those chats are
//   polled and delivered as commands. Requests are paced and throttled per workload (presence,
//   chat reads, chat posts, subscriptions, directory).
// - Language: the user resource's preferredLanguage (Graph "user resource type", readable with
//   User.Read.All, which presence already needs; mailboxSettings would need MailboxSettings.Read
//   besides), read once per user.
// - Tokens are sealed with a key derived from the spool key and kept in the TableStore
//   (namespace "graph.tokens"). A revoked refresh token marks the service broken.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "atdesk/chat/chat_service.hpp"
#include "atdesk/core/clock.hpp"
#include "atdesk/store/table_store.hpp"

namespace atdesk::chat {

// What the webhook endpoint answers: status, content type and body.
struct WebhookResult {
  int status = 202;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// The device authorization grant in progress (RFC 8628): what the admin is shown, and what the
// poll needs. `device_code` is a secret of the flow: show user_code and verification_uri only.
struct DeviceSignIn {
  std::string user_code;
  std::string verification_uri;
  std::string message;  // the identity platform's sentence for people
  std::chrono::seconds interval{5};
  Timestamp expires_at{};
  std::string device_code;
};

// The authorization code grant with PKCE (RFC 7636) in progress: the admin's browser is sent to
// `authorize_url`; the identity platform sends it back to `redirect_uri` with a code and `state`.
// `code_verifier` and `state` are secrets of the flow: never shown or logged.
struct BrowserSignIn {
  std::string authorize_url;
  std::string redirect_uri;
  std::string state;
  std::string code_verifier;
  Timestamp expires_at{};
};

enum class SignInStatus { pending, slow_down, signed_in, expired, denied };
std::string_view to_string(SignInStatus s);

class GraphChatService final : public ChatService {
 public:
  struct Settings {
    std::string name = "teams";
    std::string tenant;         // directory (tenant) id or domain
    std::string client_id;      // application (client) id of the app registration
    std::string client_secret;  // read from client_secret_file by the factory; never logged
    std::string graph_url = "https://graph.microsoft.com/v1.0";
    std::string login_url = "https://login.microsoftonline.com";
    // Where Graph reaches atdeskd from outside ("https://fax.example.org"); empty: no
    // subscriptions, presence is polled.
    std::string public_url;
    std::filesystem::path key_file;  // the spool key; tokens are sealed with a key derived from it
    std::chrono::seconds poll_interval{60};            // polling of presence (fallback) and replies
    std::chrono::milliseconds timeout{3000};           // the decision path: presence()
    std::chrono::milliseconds request_timeout{30000};  // everything else (send, subscriptions)
    double max_requests_per_second = 10;
    std::size_t presence_batch = 650;      // documented maximum of getPresencesByUserId
    std::size_t subscription_batch = 650;  // ids in the one presence subscription; the rest polled
    // Asked for; Graph may grant less, and renewal comes at two thirds of what it granted, never
    // more often than min_renew_interval.
    std::chrono::minutes subscription_lifetime{55};
    std::chrono::seconds min_renew_interval{60};
    // Everyone watched is read again this often even when covered by push: Graph notifies
    // presence changes of availability and activity only, not of work location or out of office.
    std::chrono::seconds reread_interval{300};
    // Replies in a chat are watched (subscription, else polling) this long after the last notice.
    std::chrono::hours reply_window{24};
    std::chrono::milliseconds max_backoff{60000};
    // Delegated permissions asked for in the service account's sign-in, below the scope root of
    // graph_url ("https://graph.microsoft.us/Chat.ReadWrite" in that national cloud); the OpenID
    // scopes (offline_access, openid, profile, email) are sent as they are.
    std::string delegated_scopes =
        "offline_access User.Read Presence.Read.All Chat.ReadWrite ChatMessage.Send "
        "ChannelMessage.Send";
  };

  GraphChatService(Settings settings, store::TableStore& tables, const Clock& clock);
  ~GraphChatService() override;

  const std::string& name() const override;
  // connected once Graph answers and the service account is signed in (notices and replies
  // need it); connecting before; broken when the identity platform refused its tokens.
  ServiceState state() const override;
  // "the service account is not signed in ..." until it is; the problem when broken.
  std::string last_error() const override;
  Result<void> start() override;
  void stop() override;

  Result<std::map<std::string, Presence>> presence(std::span<const std::string> users) override;
  Result<std::vector<std::string>> channel_members(const std::string& channel) override;
  void watch(std::vector<std::string> users, PresenceHandler handler) override;
  Result<void> send(const Recipient& to, const ChatMessage& message) override;
  void on_command(CommandHandler handler) override;
  // Several nodes on one database: only the primary (the holder of the lease "chat:<name>")
  // creates, renews, reauthorizes, recreates and deletes the presence subscription and polls
  // presence. A standby resolves its watched users, answers presence() and accepts the
  // notifications Graph sends it for the subscription the primary stored in the vault (read
  // again, at most once a second, when a notification names one it does not hold), and hands
  // the lifecycle events it gets (reauthorizationRequired, subscriptionRemoved) to the primary
  // through the vault. A node that becomes primary reads the vault again and renews the stored
  // subscription as soon as Graph allows (min_renew_interval after its last renewal), or makes
  // one when Graph no longer has it. Never blocks; before any call the service is primary.
  void set_primary(bool primary) override;
  Result<void> verify(const Recipient& recipient) override;
  // The user's preferredLanguage ("ja-JP") from the user resource, read once per user with the
  // application's User.Read.All and kept; "" when unset, or when Graph refuses (403, 404: logged
  // once), so the rule's language or [general] language decides.
  std::string language(const std::string& user) const override;

  // The webhook of change and lifecycle notifications, routed by atdeskd's HTTP server at
  // POST <public_url>/api/v1/webhooks/graph/<name> (no bearer auth: Graph cannot send one; the
  // clientState authenticates). `validation_token` is the decoded query parameter
  // validationToken (empty when absent); `body` is the request body.
  WebhookResult handle_webhook(std::string_view validation_token, std::string_view body);
  // The path of that route, "/api/v1/webhooks/graph/<name>".
  std::string webhook_path() const;

  // The service account's sign-in by device code: begin, then poll at `interval` until
  // signed_in, expired or denied. poll raises `sign_in.interval` by 5 s on slow_down.
  Result<DeviceSignIn> begin_device_sign_in();
  Result<SignInStatus> poll_device_sign_in(DeviceSignIn& sign_in);
  // The service account's sign-in in the admin's browser (authorization code with PKCE, S256):
  // begin gives the URL to open; finish redeems the code the identity platform sent back to
  // redirect_uri (the caller checks `state` first). Works where Conditional Access blocks the
  // device code flow.
  Result<BrowserSignIn> begin_browser_sign_in(const std::string& redirect_uri);
  Result<void> finish_browser_sign_in(const BrowserSignIn& sign_in, const std::string& code);
  // Why the service is broken (empty when it is not), for the admin.
  std::string problem() const;

  // One round of background work: subscriptions (create, renew, recreate), queued
  // notifications, presence polling while no subscription works, polling of replies. The
  // worker started by start() calls it; it is public so that tests drive it step by step.
  void run_once();

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace atdesk::chat
