#include "host/stabilizer.h"

#include <algorithm>

namespace dendrite::host {

Stabilizer::Stabilizer(std::size_t vnodes, Milliseconds min, Milliseconds max, Round round,
                       std::size_t threads)
    : min_(min),
      max_(std::max(min, max)),
      round_(std::move(round)),
      thread_count_(std::max<std::size_t>(1, std::min(threads, vnodes))),
      due_(vnodes),
      running_(vnodes, false),
      again_(vnodes, false),
      rng_(std::random_device{}()) {}

Stabilizer::~Stabilizer() {
  stop();
}

Stabilizer::Clock::time_point Stabilizer::next_due() {
  std::uniform_int_distribution<long long> period(min_.count(), max_.count());
  return Clock::now() + Milliseconds(period(rng_));
}

void Stabilizer::start() {
  std::lock_guard lock(mu_);
  if (!threads_.empty() || stopping_) return;
  for (auto& d : due_) d = next_due();
  for (std::size_t i = 0; i < thread_count_; ++i) threads_.emplace_back([this] { run(); });
}

void Stabilizer::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void Stabilizer::request(std::size_t index) {
  {
    std::lock_guard lock(mu_);
    if (index >= due_.size()) return;
    if (running_[index]) {
      again_[index] = true;
    } else {
      due_[index] = Clock::now();
    }
  }
  cv_.notify_one();
}

void Stabilizer::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    // The earliest due vnode that is not already running.
    std::size_t best = due_.size();
    for (std::size_t i = 0; i < due_.size(); ++i) {
      if (!running_[i] && (best == due_.size() || due_[i] < due_[best])) best = i;
    }
    if (best == due_.size()) {
      cv_.wait(lock);
      continue;
    }
    if (due_[best] > Clock::now()) {
      cv_.wait_until(lock, due_[best]);
      continue;
    }
    running_[best] = true;
    lock.unlock();
    round_(best);
    lock.lock();
    running_[best] = false;
    due_[best] = again_[best] ? Clock::now() : next_due();
    again_[best] = false;
    cv_.notify_all();
  }
}

}  // namespace dendrite::host
