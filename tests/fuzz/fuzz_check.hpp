// Invariant checks for the fuzz targets: a broken invariant aborts with a message, so libFuzzer
// reports it as a crash and saves the input (assert() would vanish under NDEBUG).
#pragma once

#include <cstdio>
#include <cstdlib>

#include "atdesk/core/error.hpp"

#define FUZZ_CHECK(cond)                                                                \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (false)

namespace atdesk::fuzz {

// Every failure names what went wrong: the message is what people see.
template <class T>
void check_error(const Result<T>& r) {
  if (!r) FUZZ_CHECK(!r.error().message.empty());
}

}  // namespace atdesk::fuzz
