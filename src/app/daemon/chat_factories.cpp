#include "chat_factories.hpp"

namespace atdesk::app {

// Factories of the adapters, declared in their own files (chat_<type>.cpp).
ChatFactory::result_type make_teams_chat(const std::string&, const toml::value&, const std::string&,
                                         ChatContext&);
ChatFactory::result_type make_xmpp_chat(const std::string&, const toml::value&, const std::string&,
                                        ChatContext&);

const std::map<std::string, ChatFactory>& chat_factories() {
  static const std::map<std::string, ChatFactory> factories = {
      {"teams", make_teams_chat},
      {"xmpp", make_xmpp_chat},
  };
  return factories;
}

Result<std::unique_ptr<chat::ChatService>> make_chat_service(const std::string& name,
                                                             const toml::value& table,
                                                             const std::string& file,
                                                             ChatContext& context) {
  std::string type = name;
  if (table.contains("type")) {
    const auto& t = table.at("type");
    if (!t.is_string()) {
      return fail(Errc::invalid_argument, file + ": [chat." + name + "] type: expected a string");
    }
    type = t.as_string().str;
  }
  const auto& factories = chat_factories();
  const auto it = factories.find(type);
  if (it == factories.end()) {
    std::string known = "local";
    for (const auto& [k, f] : factories) known += ", " + k;
    return fail(Errc::invalid_argument, file + ": [chat." + name +
                                            "] type: unknown chat service \"" + type +
                                            "\" (known: " + known + ")");
  }
  return it->second(name, table, file, context);
}

}  // namespace atdesk::app
