// Delivers ring events to the plugins' DelegateHooks on one thread, in order,
// so the ring never waits for a plugin.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "dendrite/hooks.h"

namespace dendrite::host {

// Thread-safe. push() never blocks on delivery. At most `max_queued` events
// wait: when a plugin's hook is so slow that the queue is full, the oldest
// waiting event is dropped (counted and logged), so a stuck plugin cannot make
// the node's memory grow without bound.
class EventQueue {
 public:
  static constexpr std::size_t kDefaultMaxQueued = 4096;

  explicit EventQueue(std::size_t max_queued = kDefaultMaxQueued) : max_queued_(max_queued) {}
  ~EventQueue();  // stop()

  // Starts delivering to `hooks` (must stay valid until stop() returns).
  // Events pushed before start() are dropped: plugins learn the state at start.
  void start(std::vector<DelegateHook*> hooks);
  // Delivers what is queued, then joins the thread. Idempotent.
  void stop();
  // Queues `event` for delivery (dropped when not started).
  void push(RingEvent event);
  // Events dropped because the queue was full.
  std::uint64_t dropped() const;

 private:
  void run();

  const std::size_t max_queued_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t dropped_ = 0;         // GUARDED_BY(mu_)
  std::deque<RingEvent> queue_;       // GUARDED_BY(mu_)
  bool running_ = false;              // GUARDED_BY(mu_)
  std::vector<DelegateHook*> hooks_;  // written before the thread starts
  std::thread thread_;
};

}  // namespace dendrite::host
