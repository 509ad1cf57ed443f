// The hybrid clock that stamps dtable writes: wall-clock nanoseconds that never
// go backwards on a node, even when the wall clock steps back.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

namespace dendrite::dtable {

// Nanoseconds since the Unix epoch.
using WallClock = std::function<std::int64_t()>;

// The system wall clock (CLOCK_REALTIME) in nanoseconds.
std::int64_t system_wall_ns();

// Hands out strictly increasing timestamps: now() = max(wall, last + 1), and
// observe() advances `last` to a newer timestamp seen on the wire, so a write
// stamped here always wins over every version this node has seen. The one
// exception: once pushed to INT64_MAX (only a peer's timestamp can do that),
// now() keeps returning INT64_MAX instead of overflowing.
// Thread-safe (lock-free); the wall function must be thread-safe too.
class HybridClock {
 public:
  explicit HybridClock(WallClock wall = system_wall_ns) : wall_(std::move(wall)) {}

  // A new timestamp, greater than every one returned or observed before
  // (equal at INT64_MAX).
  std::int64_t now();
  // Advances the clock to at least `seen` (a timestamp from another node).
  void observe(std::int64_t seen);
  // max(wall, last) without advancing: the current time for ages and leases.
  std::int64_t peek() const;

 private:
  WallClock wall_;
  std::atomic<std::int64_t> last_{0};
};

}  // namespace dendrite::dtable
