// app::parse_config over any text: TOML syntax, then atdesk.toml's keys and values.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto config = atdesk::app::parse_config(text, "fuzz.toml");
  atdesk::fuzz::check_error(config);
  if (config) {
    FUZZ_CHECK(config->http_threads > 0 && config->worker_threads > 0);
    FUZZ_CHECK(config->limits.max_pages > 0);
    (void)config->default_printer();
  } else {
    // Errors name the file they are about.
    FUZZ_CHECK(config.error().message.find("fuzz.toml") != std::string::npos);
  }
  return 0;
}
