#include "atdesk/core/clock.hpp"

namespace atdesk {

Timestamp SystemClock::now() const {
  return std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

}  // namespace atdesk
