#include "atdesk/chat/graph/throttle.hpp"

#include <algorithm>
#include <charconv>

namespace atdesk::chat::graph {

TokenBucket::TokenBucket(double rate, double burst, SteadyTime now)
    : rate_(std::max(rate, 0.001)), burst_(std::max(burst, 1.0)), tokens_(burst_), last_(now) {}

std::chrono::milliseconds TokenBucket::reserve(SteadyTime now) {
  std::lock_guard lock(mutex_);
  if (now > last_) {
    const std::chrono::duration<double> elapsed = now - last_;
    tokens_ = std::min(burst_, tokens_ + elapsed.count() * rate_);
    last_ = now;
  }
  tokens_ -= 1.0;
  if (tokens_ >= 0.0) return std::chrono::milliseconds(0);
  // Negative tokens are reservations in the future: the deficit refills at `rate_`.
  const double wait_s = -tokens_ / rate_;
  return std::chrono::milliseconds(static_cast<long long>(wait_s * 1000.0 + 0.999));
}

void TokenBucket::cancel() {
  std::lock_guard lock(mutex_);
  tokens_ = std::min(burst_, tokens_ + 1.0);
}

std::chrono::milliseconds backoff_delay(unsigned attempt, std::chrono::milliseconds base,
                                        std::chrono::milliseconds cap, std::mt19937_64& rng) {
  const auto shift = std::min(attempt, 20U);
  const long long ceiling = std::min<long long>(cap.count(), base.count() * (1LL << shift));
  std::uniform_int_distribution<long long> pick(0, std::max(0LL, ceiling));
  return std::chrono::milliseconds(pick(rng));
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\r')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  long long seconds = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec != std::errc() || end != value.data() + value.size() || seconds < 0) return std::nullopt;
  return std::chrono::seconds(std::min(seconds, 24LL * 3600));
}

}  // namespace atdesk::chat::graph
