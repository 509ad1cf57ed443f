#include "host/event_queue.h"

#include <exception>

#include "host/logging.h"

namespace dendrite::host {

EventQueue::~EventQueue() {
  stop();
}

void EventQueue::start(std::vector<DelegateHook*> hooks) {
  std::lock_guard lock(mu_);
  if (running_ || thread_.joinable()) return;
  hooks_ = std::move(hooks);
  running_ = true;
  thread_ = std::thread([this] { run(); });
}

void EventQueue::stop() {
  {
    std::lock_guard lock(mu_);
    running_ = false;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void EventQueue::push(RingEvent event) {
  std::uint64_t dropped = 0;
  {
    std::lock_guard lock(mu_);
    if (!running_) return;
    if (queue_.size() >= max_queued_ && !queue_.empty()) {
      queue_.pop_front();
      dropped = ++dropped_;
    }
    queue_.push_back(std::move(event));
  }
  cv_.notify_one();
  if (dropped % 1000 == 1) {
    get_logger("ring")->warn(
        "a plugin's ring event handler is too slow: {} events waiting, {} oldest dropped so far",
        max_queued_, dropped);
  }
}

std::uint64_t EventQueue::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

void EventQueue::run() {
  auto log = get_logger("ring");
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return !queue_.empty() || !running_; });
    if (queue_.empty()) return;  // stopping and drained
    RingEvent event = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    log->debug("event {} on {}", ring_event_name(event.type), event.target.to_string());
    for (DelegateHook* hook : hooks_) {
      try {
        hook->on_ring_event(event);
      } catch (const std::exception& e) {
        log->error("a plugin's ring event handler threw: {}", e.what());
      } catch (...) {
        log->error("a plugin's ring event handler threw a non-exception");
      }
    }
    lock.lock();
  }
}

}  // namespace dendrite::host
