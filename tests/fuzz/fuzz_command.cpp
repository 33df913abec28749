// parse_command: chat commands from anyone who can message the bot.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "atdesk/core/command.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto command = atdesk::parse_command(text);
  if (!command) {
    FUZZ_CHECK(!command.error().message.empty());
    return 0;
  }
  if (command->job_id) {
    const auto& id = *command->job_id;
    FUZZ_CHECK(id.size() >= 4 && id.size() <= 32);
    FUZZ_CHECK(std::all_of(id.begin(), id.end(), [](char c) {
      return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    }));
  }
  if (command->printer) {
    const auto& p = *command->printer;
    FUZZ_CHECK(!p.empty() && p.size() <= 64);
    FUZZ_CHECK(std::all_of(p.begin(), p.end(), [](char c) {
      return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             c == '.' || c == '_' || c == '-';
    }));
  }
  return 0;
}
