// The hybrid clock that stamps dtable writes: wall-clock nanoseconds that never
// go backwards on a node, even when the wall clock steps back.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

namespace dendrite::dtable {

// A clock reading in nanoseconds (the wall clock: since the Unix epoch).
using WallClock = std::function<std::int64_t()>;

// The system wall clock (CLOCK_REALTIME) in nanoseconds.
std::int64_t system_wall_ns();
// The system wall clock in milliseconds since the Unix epoch: the clock that
// item expiries (Item::expires_ms) are compared with.
std::int64_t system_wall_ms();
// The steady clock (CLOCK_MONOTONIC) in nanoseconds.
std::int64_t system_steady_ns();

// Hands out strictly increasing timestamps: now() = max(wall, last + 1), and
// observe() advances `last` to a newer timestamp seen on the wire, so a write
// stamped here wins over every version this node has seen — unless that
// version was stamped more than kMaxAheadNs (24 h) ahead of this node's wall
// clock: observe() moves the clock at most that far, so a broken or hostile
// peer cannot push it to the end of its range (such a version keeps winning
// last-write-wins for its key until the wall clock passes it). now() never
// overflows: at INT64_MAX it stays there.
// Thread-safe (lock-free); the wall function must be thread-safe too.
class HybridClock {
 public:
  explicit HybridClock(WallClock wall = system_wall_ns, WallClock steady = system_steady_ns)
      : wall_(std::move(wall)),
        steady_(std::move(steady)),
        anchor_wall_(wall_()),
        anchor_steady_(steady_()) {}

  // A new timestamp, greater than every one returned or observed before
  // (equal at INT64_MAX).
  std::int64_t now();
  // How far past the wall clock observe() may move the clock.
  static constexpr std::int64_t kMaxAheadNs = std::int64_t{24} * 3600 * 1'000'000'000;

  // Advances the clock to at least min(`seen`, wall + kMaxAheadNs) (`seen`: a
  // timestamp from another node).
  void observe(std::int64_t seen);
  // max(wall, last) without advancing.
  std::int64_t peek() const;
  // The current time for ages and leases (tombstone grace, replica leases,
  // aborted marks): peek(), but never ahead of the wall clock at construction
  // plus the steady time elapsed since. So a wall clock that jumps forward (or
  // a peer's clock ahead of ours) does not make anything look older than it
  // is; a clock set right only after construction makes ages look younger
  // (things are collected later, never earlier).
  std::int64_t age_now() const;

 private:
  WallClock wall_;
  WallClock steady_;
  const std::int64_t anchor_wall_;
  const std::int64_t anchor_steady_;
  std::atomic<std::int64_t> last_{0};
};

}  // namespace dendrite::dtable
