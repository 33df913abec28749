// [chat.<name>] with type = "teams": Microsoft Teams through Microsoft Graph (docs/teams.md).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "atdesk/chat/graph/graph_chat_service.hpp"
#include "chat_factories.hpp"
#include "config_section.hpp"
#include "secrets.hpp"

namespace atdesk::app {
namespace {

Result<void> check_url(Section& section, const std::string& key, const std::string& url,
                       bool allow_empty) {
  if (url.empty() && allow_empty) return {};
  if (!url.starts_with("https://") && !url.starts_with("http://")) {
    return fail(Errc::invalid_argument,
                section.where(key) + ": expected an http:// or https:// URL, got '" + url + "'");
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<chat::ChatService>> make_teams_chat(const std::string& name,
                                                           const toml::value& table,
                                                           const std::string& file,
                                                           ChatContext& context) {
  Section section(&table, "chat." + name, file);
  chat::GraphChatService::Settings s;
  s.name = name;
  std::string type, secret_file;
  ATDESK_TRY(section.string("type", type));
  ATDESK_TRY(section.required_string("tenant", s.tenant));
  ATDESK_TRY(section.required_string("client_id", s.client_id));
  ATDESK_TRY(section.required_string("client_secret_file", secret_file));
  ATDESK_TRY(section.string("graph_url", s.graph_url));
  ATDESK_TRY(section.string("login_url", s.login_url));
  ATDESK_TRY(section.string("public_url", s.public_url));
  ATDESK_TRY(check_url(section, "graph_url", s.graph_url, false));
  ATDESK_TRY(check_url(section, "login_url", s.login_url, false));
  ATDESK_TRY(check_url(section, "public_url", s.public_url, true));
  // Graph delivers change notifications to HTTPS endpoints only ("Receive change notifications
  // through webhooks"); plain http is accepted for loopback, where Graph cannot reach anyway
  // (a local stand-in can).
  if (!s.public_url.empty() && !s.public_url.starts_with("https://") &&
      !s.public_url.starts_with("http://127.0.0.1") &&
      !s.public_url.starts_with("http://localhost") && !s.public_url.starts_with("http://[::1]")) {
    return fail(
        Errc::invalid_argument,
        section.where("public_url") +
            ": expected an https:// URL (Graph sends notifications over HTTPS only), got '" +
            s.public_url + "'");
  }
  int poll_seconds = 60, timeout_ms = 3000;
  ATDESK_TRY(section.integer("poll_seconds", poll_seconds, 5, 3600));
  ATDESK_TRY(section.integer("timeout_ms", timeout_ms, 100, 60000));
  // Everyone watched is read again this often: work location and out of office are not pushed.
  int reread_seconds = 300;
  ATDESK_TRY(section.integer("reread_seconds", reread_seconds, 5, 3600));
  s.reread_interval = std::chrono::seconds(reread_seconds);
  // Replies in a chat are watched (subscription, else polling) this long after its last notice.
  int reply_window_hours = 24;
  ATDESK_TRY(section.integer("reply_window_hours", reply_window_hours, 1, 24 * 14));
  s.reply_window = std::chrono::hours(reply_window_hours);
  s.poll_interval = std::chrono::seconds(poll_seconds);
  s.timeout = std::chrono::milliseconds(timeout_ms);
  if (const auto* v = section.get("max_requests_per_second")) {
    double rate = 0;
    if (v->is_integer()) {
      rate = static_cast<double>(v->as_integer());
    } else if (v->is_floating()) {
      rate = v->as_floating();
    } else {
      return fail(Errc::invalid_argument,
                  section.where("max_requests_per_second") + ": expected a number");
    }
    if (!(rate >= 0.1 && rate <= 1000)) {
      return fail(Errc::invalid_argument,
                  section.where("max_requests_per_second") + ": expected 0.1 to 1000");
    }
    s.max_requests_per_second = rate;
  }
  ATDESK_TRY(section.no_unknown_keys());
  auto secret = read_secret_file(secret_file, section.where("client_secret_file"));
  if (!secret) return fail(secret.error());
  s.client_secret = std::move(*secret);
  s.key_file = context.key_file;
  return std::make_unique<chat::GraphChatService>(std::move(s), context.tables, context.clock);
}

}  // namespace atdesk::app
