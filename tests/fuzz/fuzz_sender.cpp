// Operator and fax-line input about senders: parse_sender, FaxNumber::parse and
// SenderPattern::parse. The first byte picks a number plan; the rest is the text.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "atdesk/core/recipient_table.hpp"
#include "atdesk/core/sender.hpp"
#include "fuzz_check.hpp"

namespace {

bool all_digits(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const atdesk::NumberPlan kPlans[] = {
      {.country_code = "81", .trunk_prefix = "0", .international_prefix = "010"},
      {.country_code = "49", .trunk_prefix = "0", .international_prefix = "00"},
      {.country_code = "1", .trunk_prefix = "1", .international_prefix = "011"},
      {.country_code = "", .trunk_prefix = "0", .international_prefix = "00"},
  };
  const auto& plan = kPlans[data[0] % std::size(kPlans)];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  if (auto number = atdesk::FaxNumber::parse(text, plan); number) {
    FUZZ_CHECK(!number->digits().empty() && number->digits().size() <= 20);
    FUZZ_CHECK(all_digits(number->digits()));
    // The display form of an international number ("+81...") reads back as the same number.
    if (number->display().starts_with('+')) {
      const auto again = atdesk::FaxNumber::parse(number->display(), plan);
      FUZZ_CHECK(again && *again == *number);
    }
  } else {
    FUZZ_CHECK(!number.error().message.empty());
  }

  if (auto sender = atdesk::parse_sender(text, plan); sender) {
    FUZZ_CHECK(sender->fax || !sender->sip_uri.empty() || !sender->email.empty() ||
               !sender->ip.empty());
    if (sender->fax) FUZZ_CHECK(all_digits(sender->fax->digits()));
    FUZZ_CHECK(!sender->display().empty());
  } else {
    FUZZ_CHECK(!sender.error().message.empty());
  }

  if (auto pattern = atdesk::SenderPattern::parse(text, plan); pattern) {
    // Documented: parse(to_string()) round-trips.
    const auto again = atdesk::SenderPattern::parse(pattern->to_string(), plan);
    FUZZ_CHECK(again && *again == *pattern);
  } else {
    FUZZ_CHECK(!pattern.error().message.empty());
  }
  return 0;
}
