#include "atdesk/ippd/handoff.hpp"

#include <nlohmann/json.hpp>

#include "atdesk/core/sender.hpp"

namespace atdesk::ippd {
namespace {

using nlohmann::json;

Result<std::string> text_field(const json& j, const char* key, bool required) {
  const std::string where = std::string("hand-off header: ") + key;
  if (!j.contains(key)) {
    if (required) return fail(Errc::invalid_argument, where + ": missing");
    return std::string{};
  }
  if (!j[key].is_string()) return fail(Errc::invalid_argument, where + ": expected a string");
  auto value = j[key].get<std::string>();
  if (value.size() > kMaxTextField) {
    return fail(Errc::invalid_argument,
                where + ": expected at most " + std::to_string(kMaxTextField) + " bytes");
  }
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f) {
      return fail(Errc::invalid_argument, where + ": control characters are not allowed");
    }
  }
  return value;
}

Result<std::int64_t> int_field(const json& j, const char* key, std::int64_t min, std::int64_t max) {
  const std::string where = std::string("hand-off header: ") + key;
  if (!j.contains(key)) return fail(Errc::invalid_argument, where + ": missing");
  if (!j[key].is_number_integer()) {
    return fail(Errc::invalid_argument, where + ": expected an integer");
  }
  // Unsigned values above INT64_MAX read as negative here and fail the range check.
  const auto value = j[key].is_number_unsigned() && j[key].get<std::uint64_t>() > INT64_MAX
                         ? std::int64_t{-1}
                         : j[key].get<std::int64_t>();
  if (value < min || value > max) {
    return fail(Errc::invalid_argument, where + ": expected " + std::to_string(min) + " to " +
                                            std::to_string(max) + ", got " + std::to_string(value));
  }
  return value;
}

}  // namespace

bool is_trusted_identity(std::string_view identity) {
  return identity == "queue" || identity == "token" || identity == "basic";
}

std::string encode_header(const HandoffHeader& h) {
  json j = {{"queue", h.queue},           {"ipp_job_id", h.ipp_job_id},
            {"job_name", h.job_name},     {"user", h.user},
            {"identity", h.identity},     {"host", h.host},
            {"ipp_format", h.ipp_format}, {"format", h.format},
            {"pages", h.pages},           {"size", h.size}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<HandoffHeader> parse_header(std::string_view text, std::uint64_t max_document_bytes) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return fail(Errc::invalid_argument, "hand-off header: expected a JSON object");
  }
  HandoffHeader h;
  auto queue = text_field(j, "queue", true);
  if (!queue) return fail(queue.error());
  if (queue->empty()) return fail(Errc::invalid_argument, "hand-off header: queue: empty");
  auto job_name = text_field(j, "job_name", false);
  if (!job_name) return fail(job_name.error());
  auto user = text_field(j, "user", false);
  if (!user) return fail(user.error());
  auto identity = text_field(j, "identity", false);
  if (!identity) return fail(identity.error());
  if (identity->empty()) *identity = "claimed";
  if (*identity != "claimed" && !is_trusted_identity(*identity)) {
    return fail(Errc::invalid_argument,
                "hand-off header: identity: expected claimed, queue, token or basic, got \"" +
                    *identity + "\"");
  }
  auto host = text_field(j, "host", false);
  if (!host) return fail(host.error());
  auto ipp_format = text_field(j, "ipp_format", false);
  if (!ipp_format) return fail(ipp_format.error());
  auto format = text_field(j, "format", true);
  if (!format) return fail(format.error());
  if (*format != "application/pdf" && *format != "image/tiff") {
    return fail(
        Errc::invalid_argument,
        "hand-off header: format: expected application/pdf or image/tiff, got \"" + *format + "\"");
  }
  auto job_id = int_field(j, "ipp_job_id", 0, INT32_MAX);
  if (!job_id) return fail(job_id.error());
  auto pages = int_field(j, "pages", 0, 100'000);
  if (!pages) return fail(pages.error());
  if (max_document_bytes > static_cast<std::uint64_t>(INT64_MAX)) max_document_bytes = INT64_MAX;
  auto size = int_field(j, "size", 1, static_cast<std::int64_t>(max_document_bytes));
  if (!size) return fail(size.error());
  h.queue = std::move(*queue);
  h.job_name = std::move(*job_name);
  h.user = std::move(*user);
  h.identity = std::move(*identity);
  h.host = std::move(*host);
  h.ipp_format = std::move(*ipp_format);
  h.format = std::move(*format);
  h.ipp_job_id = *job_id;
  h.pages = static_cast<int>(*pages);
  h.size = static_cast<std::uint64_t>(*size);
  return h;
}

std::string encode_answer(const HandoffAnswer& a) {
  json j = {{"stored", a.stored}};
  if (a.stored) j["job"] = a.job;
  if (!a.error.empty()) j["error"] = a.error;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<HandoffAnswer> parse_answer(std::string_view text) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("stored") || !j["stored"].is_boolean()) {
    return fail(Errc::invalid_argument,
                "hand-off answer: expected a JSON object with \"stored\": true or false");
  }
  HandoffAnswer a;
  a.stored = j["stored"].get<bool>();
  if (a.stored) {
    if (!j.contains("job") || !j["job"].is_string() || j["job"].get<std::string>().empty()) {
      return fail(Errc::invalid_argument, "hand-off answer: job: expected the job id");
    }
    a.job = j["job"].get<std::string>();
  }
  if (j.contains("error") && j["error"].is_string()) a.error = j["error"].get<std::string>();
  return a;
}

std::string encode_identify(const IdentifyRequest& r) {
  json j = {{"op", "identify"}, {"kind", r.kind}};
  if (r.kind == "basic") {
    j["user"] = r.user;
    j["password"] = r.password;
  } else {
    j["token"] = r.token;
  }
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<IdentifyRequest> parse_identify(std::string_view text) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return fail(Errc::invalid_argument, "hand-off request: expected a JSON object");
  }
  if (!j.contains("op")) return fail(Errc::not_found, "hand-off request: no op");
  if (!j["op"].is_string() || j["op"].get<std::string>() != "identify") {
    return fail(Errc::invalid_argument, "hand-off request: op: expected \"identify\"");
  }
  IdentifyRequest r;
  auto kind = text_field(j, "kind", true);
  if (!kind) return fail(kind.error());
  r.kind = std::move(*kind);
  if (r.kind == "basic") {
    auto user = text_field(j, "user", true);
    if (!user) return fail(user.error());
    // The password is checked for length only: any byte may be in it.
    if (!j.contains("password") || !j["password"].is_string() ||
        j["password"].get<std::string>().size() > kMaxTextField) {
      return fail(Errc::invalid_argument,
                  "hand-off request: password: expected a string of at most " +
                      std::to_string(kMaxTextField) + " bytes");
    }
    r.user = std::move(*user);
    r.password = j["password"].get<std::string>();
    if (r.user.empty()) return fail(Errc::invalid_argument, "hand-off request: user: empty");
  } else if (r.kind == "token") {
    auto token = text_field(j, "token", true);
    if (!token) return fail(token.error());
    r.token = std::move(*token);
    if (r.token.empty()) return fail(Errc::invalid_argument, "hand-off request: token: empty");
  } else {
    return fail(Errc::invalid_argument,
                "hand-off request: kind: expected basic or token, got \"" + r.kind + "\"");
  }
  return r;
}

std::string encode_identify_answer(const IdentifyAnswer& a) {
  json j = {{"ok", a.ok}};
  if (a.ok) j["user"] = a.user;
  if (!a.error.empty()) j["error"] = a.error;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<IdentifyAnswer> parse_identify_answer(std::string_view text) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("ok") || !j["ok"].is_boolean()) {
    return fail(Errc::invalid_argument,
                "identify answer: expected a JSON object with \"ok\": true or false");
  }
  IdentifyAnswer a;
  a.ok = j["ok"].get<bool>();
  if (a.ok) {
    auto user = text_field(j, "user", true);
    if (!user) return fail(user.error());
    if (user->empty()) return fail(Errc::invalid_argument, "identify answer: user: empty");
    a.user = std::move(*user);
  }
  if (j.contains("error") && j["error"].is_string()) a.error = j["error"].get<std::string>();
  return a;
}

std::array<std::byte, 4> encode_u32(std::uint32_t v) {
  return {std::byte(v >> 24), std::byte(v >> 16), std::byte(v >> 8), std::byte(v)};
}

std::array<std::byte, 8> encode_u64(std::uint64_t v) {
  std::array<std::byte, 8> out{};
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = std::byte(v >> (56 - 8 * i));
  return out;
}

std::uint32_t decode_u32(std::span<const std::byte, 4> b) {
  return std::to_integer<std::uint32_t>(b[0]) << 24 | std::to_integer<std::uint32_t>(b[1]) << 16 |
         std::to_integer<std::uint32_t>(b[2]) << 8 | std::to_integer<std::uint32_t>(b[3]);
}

std::uint64_t decode_u64(std::span<const std::byte, 8> b) {
  std::uint64_t v = 0;
  for (auto x : b) v = v << 8 | std::to_integer<std::uint64_t>(x);
  return v;
}

IncomingDocument to_incoming(const HandoffHeader& h, std::vector<std::byte> data) {
  IncomingDocument d;
  d.data = std::move(data);
  d.name = h.job_name.empty() ? "IPP job " + std::to_string(h.ipp_job_id) : h.job_name;
  d.source = JobSource::ipp;
  // The recipient table's "ipp:<user>" patterns hold user names of 1-255 characters.
  if (!h.user.empty() && h.user.size() <= 255) d.sender.ipp_user = h.user;
  if (auto ip = canonical_ip(h.host)) d.sender.ip = *ip;
  d.note = "IPP job " + std::to_string(h.ipp_job_id) + " on queue " + h.queue;
  if (!h.user.empty()) {
    d.note += " from user \"" + h.user + "\"";
    if (h.identity == "basic") {
      d.note += " (signed in)";
    } else if (h.identity == "token") {
      d.note += " (personal queue URL)";
    } else if (h.identity == "queue") {
      d.note += " (personal queue)";
    } else {
      d.note += " (as the computer named it)";
    }
  }
  if (!h.host.empty()) d.note += " at " + h.host;
  if (!h.ipp_format.empty()) d.note += ", " + h.ipp_format;
  if (h.pages > 0) d.note += ", " + std::to_string(h.pages) + " page(s)";
  return d;
}

}  // namespace atdesk::ippd
