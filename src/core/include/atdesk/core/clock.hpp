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

// Simulated time for tests: starts at a given instant and moves only when told. advance() is
// time passing; set() is the wall clock being set (a jump), which elapsed() does not see.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Timestamp start) : now_(start) {}
  Timestamp now() const override { return now_; }
  std::chrono::milliseconds elapsed() const override { return elapsed_; }
  void set(Timestamp t) { now_ = t; }
  void advance(std::chrono::milliseconds d) {
    now_ += d;
    elapsed_ += d;
  }

 private:
  Timestamp now_;
  std::chrono::milliseconds elapsed_{0};
};

}  // namespace atdesk
