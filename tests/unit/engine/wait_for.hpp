// What the engine tests share: waiting for a condition the engine reaches on its worker threads.
#pragma once

#include <chrono>
#include <thread>

namespace atdesk::testing {

// True as soon as `pred` holds; false when it still does not after `deadline`.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

}  // namespace atdesk::testing
