// How well the fax calls' media keeps time, over all calls since the start: live counters that
// each call's media thread adds to (relaxed atomics, no lock), for GET /metrics. A media thread
// wakes every 20 ms to read, play and send one frame; how late it wakes shows whether the
// machine keeps up with the calls, and packets that come after their frame was played show
// whether the peers (or the network) do.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace atdesk::fax_sip {

struct MediaTiming {
  // Upper bounds (seconds) of the histogram of how late a media thread woke for its 20 ms tick.
  static constexpr std::array<double, 7> kWakeBuckets{0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1};
  // Ticks per bucket (not cumulative); the last one counts the ticks later than every bound.
  std::array<std::atomic<std::uint64_t>, kWakeBuckets.size() + 1> wake_late{};
  std::atomic<std::uint64_t> wake_late_ns{0};  // sum over all ticks
  // G.711 packets that came after their 20 ms had been played or filled in (dropped).
  std::atomic<std::uint64_t> late_rtp{0};
  // T.38 packets behind the sequence already delivered (late or duplicate; dropped).
  std::atomic<std::uint64_t> late_udptl{0};

  void observe_wake(std::chrono::nanoseconds late) {
    const auto ns = late.count() < 0 ? std::int64_t{0} : static_cast<std::int64_t>(late.count());
    const double seconds = static_cast<double>(ns) / 1e9;
    std::size_t i = 0;
    while (i < kWakeBuckets.size() && seconds > kWakeBuckets[i]) ++i;
    wake_late[i].fetch_add(1, std::memory_order_relaxed);
    wake_late_ns.fetch_add(static_cast<std::uint64_t>(ns), std::memory_order_relaxed);
  }
};

}  // namespace atdesk::fax_sip
