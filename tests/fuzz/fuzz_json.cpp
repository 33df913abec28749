// api::parse_json on a request body, then every reader of a body the REST API takes: a rule,
// {"rules": [...]}, a mode table, a schedule and a presence. Whatever a reader accepts must
// survive its own writer (to_json then the reader again gives the same value).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "atdesk/api/json_mapping.hpp"
#include "fuzz_check.hpp"

namespace api = atdesk::api;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto json = api::parse_json(text);
  atdesk::fuzz::check_error(json);
  if (!json) return 0;
  (void)api::dump_json(*json);
  const atdesk::NumberPlan plan{.country_code = "81"};

  if (auto rule = api::rule_from_json(*json, plan, "rule"); rule) {
    const auto again = api::rule_from_json(api::to_json(*rule), plan, "rule");
    FUZZ_CHECK(again && *again == *rule);
  } else {
    FUZZ_CHECK(!rule.error().message.empty());
  }
  const auto rules = api::rules_from_json(*json, plan);
  atdesk::fuzz::check_error(rules);
  if (auto table = api::mode_table_from_json(*json, "fuzz", "table"); table) {
    const auto again = api::mode_table_from_json(api::to_json(*table, true), "fuzz", "table");
    FUZZ_CHECK(again && *again == *table);
  } else {
    FUZZ_CHECK(!table.error().message.empty());
  }
  if (auto schedule = api::schedule_from_json(*json, "schedule"); schedule) {
    const auto again = api::schedule_from_json(api::to_json(*schedule), "schedule");
    FUZZ_CHECK(again && *again == *schedule);
  } else {
    FUZZ_CHECK(!schedule.error().message.empty());
  }
  if (auto presence = api::presence_from_json(*json, "presence"); presence) {
    const auto again = api::presence_from_json(api::to_json(*presence), "presence");
    FUZZ_CHECK(again && *again == *presence);
  } else {
    FUZZ_CHECK(!presence.error().message.empty());
  }
  return 0;
}
