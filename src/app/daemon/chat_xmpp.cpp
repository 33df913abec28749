// [chat.<name>] with type = "xmpp": the XMPP chat service over libstrophe (docs/xmpp.md).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "atdesk/chat/xmpp/xmpp_chat_service.hpp"
#include "chat_factories.hpp"
#include "config_section.hpp"
#include "secrets.hpp"

namespace atdesk::app {
namespace {

// An XMPP address with the parts `kind` needs: "local@domain" for the bot and rooms.
Result<void> check_address(const std::string& where, const std::string& value) {
  const auto at = value.find('@');
  const bool ok = at != std::string::npos && at > 0 && at + 1 < value.size() &&
                  value.find('/') == std::string::npos &&
                  value.find_first_of(" \t\r\n<>'\"&") == std::string::npos &&
                  value.find('@', at + 1) == std::string::npos;
  if (!ok) {
    return fail(Errc::invalid_argument,
                where + ": expected a bare XMPP address local@domain, got '" + value + "'");
  }
  return {};
}

}  // namespace

ChatFactory::result_type make_xmpp_chat(const std::string& name, const toml::value& table,
                                        const std::string& file, ChatContext& context) {
  Section s(&table, "chat." + name, file);
  s.get("type");
  chat::XmppChatService::Settings settings;
  settings.name = name;

  ATDESK_TRY(s.required_string("jid", settings.jid));
  ATDESK_TRY(check_address(s.where("jid"), settings.jid));
  std::string password_file;
  ATDESK_TRY(s.required_string("password_file", password_file));
  ATDESK_TRY(s.string("server", settings.server));
  ATDESK_TRY(s.integer("port", settings.port, 1, 65535));

  std::string tls = "required";
  ATDESK_TRY(s.string("tls", tls));
  if (tls != "required" && tls != "optional") {
    return fail(Errc::invalid_argument,
                s.where("tls") + ": expected \"required\" or \"optional\", got \"" + tls + "\"");
  }
  settings.tls_required = tls == "required";
  ATDESK_TRY(s.string("ca_file", settings.ca_file));
  if (!settings.ca_file.empty() && ::access(settings.ca_file.c_str(), R_OK) != 0) {
    return fail(Errc::io, s.where("ca_file") + ": cannot read " + settings.ca_file);
  }
  ATDESK_TRY(s.boolean("trust_self_signed", settings.trust_self_signed));

  ATDESK_TRY(s.string("resource", settings.resource));
  if (settings.resource.empty() || settings.resource.size() > 64 ||
      settings.resource.find_first_of("/ \t\r\n") != std::string::npos) {
    return fail(Errc::invalid_argument,
                s.where("resource") + ": expected 1-64 characters without '/' or white space");
  }
  ATDESK_TRY(s.string("nick", settings.nick));
  if (settings.nick.empty() || settings.nick.size() > 64 ||
      settings.nick.find_first_of("/\r\n\t") != std::string::npos) {
    return fail(Errc::invalid_argument,
                s.where("nick") + ": expected 1-64 characters without '/' or line breaks");
  }
  ATDESK_TRY(s.strings("rooms", settings.rooms));
  for (const auto& room : settings.rooms) ATDESK_TRY(check_address(s.where("rooms"), room));

  std::string default_location = "unknown";
  ATDESK_TRY(s.string("default_location", default_location));
  const auto location = parse_work_location(default_location);
  if (!location) {
    return fail(Errc::invalid_argument,
                s.where("default_location") +
                    ": expected office, remote, time_off or unknown, got \"" + default_location +
                    "\"");
  }
  settings.default_location = *location;

  if (const auto* keywords = s.get("location_keywords")) {
    if (!keywords->is_table()) {
      return fail(
          Errc::invalid_argument,
          s.where("location_keywords") + ": expected a table of location = [\"keyword\", ...]");
    }
    for (const auto& [key, list] : keywords->as_table()) {
      const auto where = s.where("location_keywords." + key);
      const auto loc = parse_work_location(key);
      if (!loc) {
        return fail(Errc::invalid_argument,
                    where + ": expected a location (office, remote, time_off, unknown)");
      }
      if (!list.is_array()) return fail(Errc::invalid_argument, where + ": expected a list");
      std::vector<std::string> words;
      for (const auto& w : list.as_array()) {
        if (!w.is_string() || w.as_string().str.empty()) {
          return fail(Errc::invalid_argument, where + ": expected non-empty strings");
        }
        words.push_back(w.as_string().str);
      }
      settings.location_keywords.emplace_back(*loc, std::move(words));
    }
  }

  long long timeout_ms = 5000;
  ATDESK_TRY(s.integer("timeout_ms", timeout_ms, 100, 120000));
  settings.timeout = std::chrono::milliseconds(timeout_ms);
  long long late_s = settings.late_command_max_age.count();
  ATDESK_TRY(s.integer("late_command_max_age_s", late_s, 0, 7 * 24 * 3600));
  settings.late_command_max_age = std::chrono::seconds(late_s);
  ATDESK_TRY(s.no_unknown_keys());

  auto password = read_secret_file(password_file, s.where("password_file"));
  if (!password) return fail(password.error());
  settings.password = std::move(*password);
  return std::make_unique<chat::XmppChatService>(std::move(settings), context.clock);
}

}  // namespace atdesk::app
