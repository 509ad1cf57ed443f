// Bounded waiting for a condition, for tests that must not assert durations.
#pragma once

#include <chrono>
#include <thread>

namespace dendrite::test {

// Polls `cond` every `every` until it holds or `limit` passed; returns its
// final value. In-process conditions are cheap to poll often; system tests,
// whose conditions run programs, poll less often. Any thread.
template <typename F>
bool eventually(F cond, std::chrono::milliseconds limit = std::chrono::seconds(20),
                std::chrono::milliseconds every = std::chrono::milliseconds(5)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > end) return cond();
    std::this_thread::sleep_for(every);
  }
  return true;
}

}  // namespace dendrite::test
