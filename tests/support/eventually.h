// Bounded waiting for a condition, for tests that must not assert durations.
#pragma once

#include <chrono>
#include <thread>

namespace dendrite::testing {

// Polls `cond` every 5 ms until it holds or `limit` passed; returns its final
// value. Any thread.
template <typename F>
bool eventually(F cond, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > end) return cond();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace dendrite::testing
