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
};

// Wall-clock time (std::chrono::system_clock).
class SystemClock final : public Clock {
 public:
  Timestamp now() const override;
};

// Simulated time for tests: starts at a given instant and moves only when told.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Timestamp start) : now_(start) {}
  Timestamp now() const override { return now_; }
  void set(Timestamp t) { now_ = t; }
  void advance(std::chrono::milliseconds d) { now_ += d; }

 private:
  Timestamp now_;
};

}  // namespace atdesk
