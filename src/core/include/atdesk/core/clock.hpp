// The Clock port: code that needs the time receives a Clock, so tests can use simulated time.
#pragma once

#include <chrono>

namespace atdesk {

using Timestamp = std::chrono::sys_time<std::chrono::milliseconds>;

class Clock {
 public:
  virtual ~Clock() = default;
  Clock() = default;
  Clock(const Clock&) = delete;
  Clock& operator=(const Clock&) = delete;

  virtual Timestamp now() const = 0;
  // Time elapsed since an arbitrary origin, never set and never jumping: what the wall clock
  // should have moved by, so that a jump of the wall clock can be told from time passing.
  virtual std::chrono::milliseconds elapsed() const = 0;
};

// Wall-clock time (std::chrono::system_clock); elapsed() is std::chrono::steady_clock.
class SystemClock final : public Clock {
 public:
  Timestamp now() const override;
  std::chrono::milliseconds elapsed() const override;
};

}  // namespace atdesk
