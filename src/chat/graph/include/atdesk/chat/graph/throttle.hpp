// Request pacing for Graph: a token bucket (never more than the configured rate), exponential
// backoff with full jitter, and the Retry-After header of 429 and 503 answers.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <random>
#include <string_view>

namespace atdesk::chat::graph {

using SteadyTime = std::chrono::steady_clock::time_point;

// A token bucket refilled at `rate` per second up to `burst`. reserve() takes one token and
// says how long to wait before using it (zero when one is there); reservations queue up, so
// callers that wait as told never exceed the rate together.
class TokenBucket {
 public:
  TokenBucket(double rate, double burst, SteadyTime now);
  std::chrono::milliseconds reserve(SteadyTime now);
  // Gives back a reservation that was not used (the caller gave up before its turn).
  void cancel();

 private:
  std::mutex mutex_;
  double rate_;
  double burst_;
  double tokens_;
  SteadyTime last_;
};

// The wait before retry number `attempt` (0-based): a random duration in [0, base * 2^attempt],
// capped at `cap` ("full jitter").
std::chrono::milliseconds backoff_delay(unsigned attempt, std::chrono::milliseconds base,
                                        std::chrono::milliseconds cap, std::mt19937_64& rng);

// Retry-After as delay-seconds; nullopt when absent or not a number (HTTP dates are not used by
// Graph).
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value);

}  // namespace atdesk::chat::graph
