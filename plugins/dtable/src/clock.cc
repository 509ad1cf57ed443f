#include "clock.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include "dendrite/dtable/mutation.h"

namespace dendrite::dtable {

std::int64_t system_wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t system_wall_ms() {
  return unix_now_ms();
}

std::int64_t system_steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::int64_t HybridClock::age_now() const {
  return std::min(peek(), anchor_wall_ + (steady_() - anchor_steady_));
}

std::int64_t HybridClock::now() {
  const std::int64_t wall = wall_();
  std::int64_t last = last_.load(std::memory_order_relaxed);
  for (;;) {
    // At the largest timestamp (a peer may send it) the clock stops there:
    // last + 1 would overflow.
    const std::int64_t next =
        wall > last ? wall : (last == std::numeric_limits<std::int64_t>::max() ? last : last + 1);
    if (last_.compare_exchange_weak(last, next, std::memory_order_relaxed)) return next;
  }
}

void HybridClock::observe(std::int64_t seen) {
  // A peer's timestamp moves us at most kMaxAheadNs past our wall clock, so a
  // broken or hostile peer cannot push the clock to its end.
  const std::int64_t wall = wall_();
  const std::int64_t bound = wall > std::numeric_limits<std::int64_t>::max() - kMaxAheadNs
                                 ? std::numeric_limits<std::int64_t>::max()
                                 : wall + kMaxAheadNs;
  seen = std::min(seen, bound);
  std::int64_t last = last_.load(std::memory_order_relaxed);
  while (seen > last && !last_.compare_exchange_weak(last, seen, std::memory_order_relaxed)) {
  }
}

std::int64_t HybridClock::peek() const {
  const std::int64_t wall = wall_();
  const std::int64_t last = last_.load(std::memory_order_relaxed);
  return wall > last ? wall : last;
}

}  // namespace dendrite::dtable
