// Drives the ring's periodic stabilisation: each local vnode runs a round at a
// random period in [min, max], and at once when the ring asks for it (after a
// Leave). The simulator and unit tests call Ring::stabilize() themselves instead.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "dendrite/host.h"

namespace dendrite::host {

// Thread-safe. Rounds of one vnode never overlap; rounds of different vnodes
// run on up to `threads` threads, so a slow peer of one vnode does not stall
// the others.
class Stabilizer {
 public:
  using Round = std::function<void(std::size_t index)>;

  Stabilizer(std::size_t vnodes, Milliseconds min, Milliseconds max, Round round,
             std::size_t threads = 4);
  ~Stabilizer();  // stop()

  void start();
  // Waits for running rounds to finish; no round starts after it. Idempotent.
  void stop();
  // Runs a round of `index` as soon as a thread is free (non-blocking).
  void request(std::size_t index);

 private:
  using Clock = std::chrono::steady_clock;
  void run();
  Clock::time_point next_due();  // REQUIRES: mu_ held

  const Milliseconds min_, max_;
  Round round_;
  std::size_t thread_count_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Clock::time_point> due_;  // GUARDED_BY(mu_)
  std::vector<bool> running_;           // GUARDED_BY(mu_)
  std::vector<bool> again_;             // GUARDED_BY(mu_): requested while running
  std::mt19937_64 rng_;                 // GUARDED_BY(mu_)
  bool stopping_ = false;               // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

}  // namespace dendrite::host
