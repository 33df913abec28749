// Chat service adapters by `type`: each factory reads its [chat.<name>] table (with Section, so
// errors name the file, the table and the key) and builds the adapter. It must not connect:
// atdeskd calls ChatService::start() once the engine is ready, and --check-config only builds.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <toml.hpp>

#include "atdesk/chat/chat_service.hpp"
#include "atdesk/core/clock.hpp"
#include "atdesk/store/table_store.hpp"
#include "config.hpp"

namespace atdesk::app {

struct ChatContext {
  const Config& config;       // the whole configuration (state_dir, numbers, ...)
  store::TableStore& tables;  // settings namespaces for the adapter's own state
  const Clock& clock;
  std::filesystem::path key_file;  // the spool key, for tokens encrypted at rest
};

using ChatFactory = std::function<Result<std::unique_ptr<chat::ChatService>>(
    const std::string& name, const toml::value& table, const std::string& file,
    ChatContext& context)>;

// type -> factory. One line per adapter in chat_factories.cpp.
const std::map<std::string, ChatFactory>& chat_factories();

// The service `name` from its table: the factory named by its `type` key (default: the name).
Result<std::unique_ptr<chat::ChatService>> make_chat_service(const std::string& name,
                                                             const toml::value& table,
                                                             const std::string& file,
                                                             ChatContext& context);

}  // namespace atdesk::app
