// [chat.<name>] with type = "teams": Microsoft Teams through Microsoft Graph (docs/teams.md).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "atdesk/chat/graph/graph_chat_service.hpp"
#include "chat_factories.hpp"
#include "config_section.hpp"

namespace atdesk::app {
namespace {

// The client secret: the first line of a file nobody but the owner may read.
Result<std::string> read_secret_file(const std::string& path, const std::string& where) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(Errc::io, where + ": cannot open " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
    ::close(fd);
    return fail(Errc::permission_denied,
                where + ": " + path + " must be a regular file not readable by group or others " +
                    "(chmod 600)");
  }
  std::string text(4096, '\0');
  const auto n = ::read(fd, text.data(), text.size());
  ::close(fd);
  if (n <= 0) return fail(Errc::invalid_argument, where + ": " + path + " is empty");
  text.resize(static_cast<std::size_t>(n));
  if (const auto nl = text.find_first_of("\r\n"); nl != std::string::npos) text.resize(nl);
  while (!text.empty() && text.back() == ' ') text.pop_back();
  if (text.empty()) return fail(Errc::invalid_argument, where + ": " + path + " is empty");
  return text;
}

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
  int poll_seconds = 60, timeout_ms = 3000;
  ATDESK_TRY(section.integer("poll_seconds", poll_seconds, 5, 3600));
  ATDESK_TRY(section.integer("timeout_ms", timeout_ms, 100, 60000));
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
