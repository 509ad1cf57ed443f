// The ring event queue: delivery in order on its own thread, and a bound that
// drops the oldest events when a plugin's hook cannot keep up.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "host/event_queue.h"

namespace dendrite::host {
namespace {

// Records events; blocks in its first call until released.
class GatedHook final : public DelegateHook {
 public:
  void on_ring_event(const RingEvent& e) override {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(30), [this] { return open_; });
    seen_.push_back(e.target.host);
    cv_.notify_all();
  }
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  std::vector<std::string> wait_for(std::size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(30), [&] { return seen_.size() >= n; });
    return seen_;
  }
  // Waits until the event for `host` was delivered.
  std::vector<std::string> wait_for_last(const std::string& host) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(30),
                 [&] { return !seen_.empty() && seen_.back() == host; });
    return seen_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  std::vector<std::string> seen_;
};

RingEvent event(int i) {
  RingEvent e;
  e.type = RingEventType::kReplicasChanged;
  e.target.host = std::to_string(i);
  return e;
}

TEST(EventQueueTest, DeliversInOrder) {
  GatedHook hook;
  hook.open();
  EventQueue q;
  q.start({&hook});
  for (int i = 0; i < 50; ++i) q.push(event(i));
  auto seen = hook.wait_for(50);
  ASSERT_EQ(seen.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(seen[static_cast<std::size_t>(i)], std::to_string(i));
  EXPECT_EQ(q.dropped(), 0u);
}

TEST(EventQueueTest, AStuckHookMakesItDropTheOldestNotGrow) {
  GatedHook hook;
  EventQueue q(/*max_queued=*/10);
  q.start({&hook});
  q.push(event(0));  // taken by the delivery thread, which then blocks in the hook
  for (int i = 1; i <= 1000; ++i) q.push(event(i));
  hook.open();
  auto seen = hook.wait_for_last("1000");
  // The event in delivery when the flood came and, at most, the newest ten.
  ASSERT_GE(seen.size(), 2u);
  ASSERT_LE(seen.size(), 11u);
  EXPECT_EQ(seen.back(), "1000");
  for (std::size_t k = 1; k < seen.size(); ++k)
    EXPECT_LT(std::stoi(seen[k - 1]), std::stoi(seen[k]));
  EXPECT_GE(q.dropped(), 1000u - 10u);
}

}  // namespace
}  // namespace dendrite::host
