// Simulated time for tests: starts at a given instant and moves only when told. advance() is
// time passing; set() is the wall clock being set (a jump), which elapsed() does not see. Safe to
// read from the engine's threads while a test moves it.
#pragma once

#include <atomic>
#include <chrono>

#include "atdesk/core/clock.hpp"

namespace atdesk {

class ManualClock final : public Clock {
 public:
  explicit ManualClock(Timestamp start) : now_(start) {}
  Timestamp now() const override { return now_.load(); }
  std::chrono::milliseconds elapsed() const override { return elapsed_.load(); }
  void set(Timestamp t) { now_ = t; }
  void advance(std::chrono::milliseconds d) {
    now_ = now_.load() + d;
    elapsed_ = elapsed_.load() + d;
  }

 private:
  std::atomic<Timestamp> now_;
  std::atomic<std::chrono::milliseconds> elapsed_{std::chrono::milliseconds{0}};
};

}  // namespace atdesk
