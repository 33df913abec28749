// Small value types: clock, ids, presence, recipient, job states.
#include <algorithm>
#include <cctype>

#include "atdesk/core/clock.hpp"
#include "atdesk/core/ids.hpp"
#include "atdesk/core/job.hpp"
#include "atdesk/core/presence.hpp"
#include "atdesk/core/recipient.hpp"

namespace atdesk {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

Timestamp SystemClock::now() const {
  return std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

// --- JobId

Result<JobId> JobId::parse(std::string_view text) {
  if (text.size() != kLength || !std::all_of(text.begin(), text.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      })) {
    return fail(Errc::invalid_argument, "job id: expected 32 lowercase hex digits, got \"" +
                                            std::string(text.substr(0, 64)) + "\"");
  }
  return JobId(std::string(text));
}

JobId JobId::from_bytes(std::span<const unsigned char, 16> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(kLength);
  for (unsigned char b : bytes) {
    s += kHex[b >> 4];
    s += kHex[b & 0xf];
  }
  return JobId(std::move(s));
}

// --- Presence

std::string_view to_string(Availability a) {
  switch (a) {
    case Availability::available:
      return "available";
    case Availability::busy:
      return "busy";
    case Availability::do_not_disturb:
      return "do_not_disturb";
    case Availability::away:
      return "away";
    case Availability::be_right_back:
      return "be_right_back";
    case Availability::offline:
      return "offline";
    case Availability::unknown:
      return "unknown";
  }
  return "unknown";
}

std::string_view to_string(WorkLocation w) {
  switch (w) {
    case WorkLocation::office:
      return "office";
    case WorkLocation::remote:
      return "remote";
    case WorkLocation::time_off:
      return "time_off";
    case WorkLocation::unknown:
      return "unknown";
  }
  return "unknown";
}

std::optional<Availability> parse_availability(std::string_view text) {
  auto t = lower(text);
  std::replace(t.begin(), t.end(), '-', '_');
  for (auto a : kAllAvailabilities) {
    if (t == to_string(a)) return a;
  }
  if (t == "dnd" || t == "donotdisturb") return Availability::do_not_disturb;
  if (t == "brb" || t == "berightback") return Availability::be_right_back;
  return std::nullopt;
}

std::optional<WorkLocation> parse_work_location(std::string_view text) {
  auto t = lower(text);
  std::replace(t.begin(), t.end(), '-', '_');
  for (auto w : kAllWorkLocations) {
    if (t == to_string(w)) return w;
  }
  if (t == "home" || t == "wfh") return WorkLocation::remote;
  if (t == "timeoff") return WorkLocation::time_off;
  return std::nullopt;
}

std::string Presence::describe() const {
  std::string a(to_string(availability));
  std::replace(a.begin(), a.end(), '_', ' ');
  std::string w(to_string(location));
  std::replace(w.begin(), w.end(), '_', ' ');
  return a + ", " + w;
}

// --- Recipient

std::string_view to_string(RecipientKind k) {
  return k == RecipientKind::user ? "user" : "channel";
}

std::string Recipient::key() const {
  return std::string(to_string(kind)) + ":" + service + ":" + address;
}

Result<Recipient> Recipient::parse_key(std::string_view key) {
  const auto first = key.find(':');
  const auto second = first == std::string_view::npos ? first : key.find(':', first + 1);
  auto bad = [&] {
    return fail(Errc::invalid_argument,
                "recipient: expected \"user:<service>:<address>\" or "
                "\"channel:<service>:<address>\", got \"" +
                    std::string(key.substr(0, 300)) + "\"");
  };
  if (second == std::string_view::npos) return bad();
  Recipient r;
  const auto kind = key.substr(0, first);
  if (kind == "user") {
    r.kind = RecipientKind::user;
  } else if (kind == "channel") {
    r.kind = RecipientKind::channel;
  } else {
    return bad();
  }
  r.service = std::string(key.substr(first + 1, second - first - 1));
  r.address = std::string(key.substr(second + 1));
  const auto printable = [](std::string_view s) {
    return std::none_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
  };
  if (r.service.empty() || r.address.empty() || r.address.size() > 256 || r.service.size() > 64 ||
      !printable(r.address) ||
      r.service.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") != std::string::npos) {
    return bad();
  }
  return r;
}

// --- Job

std::string_view to_string(JobState s) {
  switch (s) {
    case JobState::received:
      return "received";
    case JobState::stored:
      return "stored";
    case JobState::held:
      return "held";
    case JobState::releasing:
      return "releasing";
    case JobState::printing:
      return "printing";
    case JobState::printed:
      return "printed";
    case JobState::deleted:
      return "deleted";
    case JobState::expired:
      return "expired";
    case JobState::failed:
      return "failed";
  }
  return "failed";
}

std::optional<JobState> parse_job_state(std::string_view text) {
  for (auto s : {JobState::received, JobState::stored, JobState::held, JobState::releasing,
                 JobState::printing, JobState::printed, JobState::deleted, JobState::expired,
                 JobState::failed}) {
    if (text == to_string(s)) return s;
  }
  return std::nullopt;
}

bool is_final(JobState s) {
  return s == JobState::printed || s == JobState::deleted || s == JobState::expired ||
         s == JobState::failed;
}

bool can_transition(JobState from, JobState to) {
  if (is_final(from)) return false;
  if (to == JobState::deleted || to == JobState::expired || to == JobState::failed) return true;
  switch (from) {
    case JobState::received:
      return to == JobState::stored;
    case JobState::stored:
      return to == JobState::printing || to == JobState::held;
    case JobState::held:
      return to == JobState::releasing;
    case JobState::releasing:
      return to == JobState::printing || to == JobState::held;
    case JobState::printing:
      return to == JobState::printed || to == JobState::held;
    default:
      return false;
  }
}

std::string_view to_string(JobSource s) {
  switch (s) {
    case JobSource::upload:
      return "upload";
    case JobSource::inbox:
      return "inbox";
    case JobSource::hylafax:
      return "hylafax";
    case JobSource::sip:
      return "sip";
    case JobSource::webhook:
      return "webhook";
    case JobSource::ipp:
      return "ipp";
  }
  return "upload";
}

std::optional<JobSource> parse_job_source(std::string_view text) {
  for (auto s : {JobSource::upload, JobSource::inbox, JobSource::hylafax, JobSource::sip,
                 JobSource::webhook, JobSource::ipp}) {
    if (text == to_string(s)) return s;
  }
  return std::nullopt;
}

std::string_view to_string(DocumentFormat f) {
  return f == DocumentFormat::tiff ? "tiff" : "pdf";
}
std::string_view media_type(DocumentFormat f) {
  return f == DocumentFormat::tiff ? "image/tiff" : "application/pdf";
}

}  // namespace atdesk
