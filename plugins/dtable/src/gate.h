// Counts work in flight (asynchronous requests, service calls) so stop() can
// refuse new work and wait for the rest before the host goes away.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace dendrite::dtable {

// Thread-safe.
class Gate {
 public:
  // Admits one unit of work; false once closed (then do not start it).
  bool enter() {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    ++inside_;
    return true;
  }
  // Ends a unit admitted by enter().
  void leave() {
    std::lock_guard lock(mu_);
    if (--inside_ == 0) cv_.notify_all();
  }
  bool closed() const {
    std::lock_guard lock(mu_);
    return closed_;
  }
  // Refuses new work and waits until the admitted work ended or `limit`
  // passed. True when nothing is left inside.
  bool close_and_wait(std::chrono::milliseconds limit) {
    std::unique_lock lock(mu_);
    closed_ = true;
    return cv_.wait_for(lock, limit, [this] { return inside_ == 0; });
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = false;  // GUARDED_BY(mu_)
  int inside_ = 0;       // GUARDED_BY(mu_)
};

// Leaves the gate at scope exit when it was entered.
class GateGuard {
 public:
  explicit GateGuard(Gate& gate) : gate_(gate), entered_(gate.enter()) {}
  ~GateGuard() {
    if (entered_) gate_.leave();
  }
  GateGuard(const GateGuard&) = delete;
  GateGuard& operator=(const GateGuard&) = delete;
  bool entered() const { return entered_; }

 private:
  Gate& gate_;
  bool entered_;
};

}  // namespace dendrite::dtable
