// What atdeskd reads from atdesk-ippd's hand-off socket (src/ippd, handoff.hpp): the JSON header
// with its field checks, the identify request, the answers atdesk-ippd reads back, and the
// document atdeskd builds from a header. The first byte picks the document size limit; the rest is
// the text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "atdesk/ippd/handoff.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const std::uint64_t kLimits[] = {1, 1000, 64ull << 20, UINT64_MAX};
  const auto limit = kLimits[data[0] % std::size(kLimits)];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  if (auto header = atdesk::ippd::parse_header(text, limit); header) {
    FUZZ_CHECK(header->size >= 1 && header->size <= limit);
    FUZZ_CHECK(header->format == "application/pdf" || header->format == "image/tiff");
    FUZZ_CHECK(!header->queue.empty());
    // Documented: a valid header encodes and parses back to the same fields.
    const auto again = atdesk::ippd::parse_header(atdesk::ippd::encode_header(*header), limit);
    FUZZ_CHECK(again && again->queue == header->queue && again->user == header->user &&
               again->identity == header->identity && again->size == header->size &&
               again->pages == header->pages);
    const auto doc = atdesk::ippd::to_incoming(*header, {});
    FUZZ_CHECK(doc.source == atdesk::JobSource::ipp && !doc.name.empty());
    FUZZ_CHECK(doc.sender.ipp_user.size() <= 255);
  } else {
    FUZZ_CHECK(!header.error().message.empty());
  }

  if (auto request = atdesk::ippd::parse_identify(text); request) {
    FUZZ_CHECK(request->kind == "basic" || request->kind == "token");
    FUZZ_CHECK(request->kind != "basic" || !request->user.empty());
    FUZZ_CHECK(request->kind != "token" || !request->token.empty());
    const auto again = atdesk::ippd::parse_identify(atdesk::ippd::encode_identify(*request));
    FUZZ_CHECK(again && again->kind == request->kind && again->user == request->user &&
               again->token == request->token);
  } else {
    FUZZ_CHECK(!request.error().message.empty());
  }
  if (auto who = atdesk::ippd::parse_identify_answer(text); who) {
    FUZZ_CHECK(!who->ok || !who->user.empty());
  } else {
    FUZZ_CHECK(!who.error().message.empty());
  }

  if (auto answer = atdesk::ippd::parse_answer(text); answer) {
    FUZZ_CHECK(!answer->stored || !answer->job.empty());
  } else {
    FUZZ_CHECK(!answer.error().message.empty());
  }
  return 0;
}
