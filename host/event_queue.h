// Delivers ring events to the plugins' DelegateHooks on one thread, in order,
// so the ring never waits for a plugin.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "dendrite/hooks.h"

namespace dendrite::host {

// Thread-safe. push() never blocks on delivery.
class EventQueue {
 public:
  EventQueue() = default;
  ~EventQueue();  // stop()

  // Starts delivering to `hooks` (must stay valid until stop() returns).
  // Events pushed before start() are dropped: plugins learn the state at start.
  void start(std::vector<DelegateHook*> hooks);
  // Delivers what is queued, then joins the thread. Idempotent.
  void stop();
  // Queues `event` for delivery (dropped when not started).
  void push(RingEvent event);

 private:
  void run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<RingEvent> queue_;       // GUARDED_BY(mu_)
  bool running_ = false;              // GUARDED_BY(mu_)
  std::vector<DelegateHook*> hooks_;  // written before the thread starts
  std::thread thread_;
};

}  // namespace dendrite::host
