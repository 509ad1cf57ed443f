#include "host/worker_pool.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <system_error>

namespace dendrite::host {
namespace {

WorkerPoolConfig clamp(WorkerPoolConfig c) {
  c.min = std::max(c.min, 0);
  c.max = std::max({c.max, c.min, 1});
  if (c.idle.count() < 1) c.idle = Milliseconds(1);
  return c;
}

}  // namespace

WorkerPool::WorkerPool(WorkerPoolConfig config) : config_(clamp(config)) {}

WorkerPool::~WorkerPool() {
  stop();
}

void WorkerPool::start() {
  std::lock_guard lock(mu_);
  if (state_ != State::kNew) return;
  state_ = State::kRunning;
  for (int i = 0; i < config_.min; ++i) spawn_locked();
}

void WorkerPool::spawn_locked() {
  const std::uint64_t index = next_index_++;
  ++workers_;
  // The new thread blocks on mu_ (held here) until its handle is stored.
  try {
    threads_.emplace(index, std::thread([this, index] { worker_main(index); }));
  } catch (const std::system_error&) {
    --workers_;  // out of threads: the live workers will drain the queue
  }
}

bool WorkerPool::submit(std::unique_ptr<Task> task) {
  std::vector<std::thread> reap;
  Slot* handed = nullptr;
  {
    std::unique_lock lock(mu_);
    if (state_ != State::kRunning) {
      lock.unlock();
      task->cancel();
      return false;
    }
    if (!idle_.empty()) {
      handed = idle_.back();  // the most recently idle worker: warm caches
      idle_.pop_back();
      handed->task = std::move(task);
    } else {
      queue_.push_back(std::move(task));
      if (workers_ < static_cast<std::size_t>(config_.max)) spawn_locked();
    }
    reap.swap(exited_);
    // Notify under the lock: the slot lives on the worker's stack and the worker
    // may leave as soon as it can see its task.
    if (handed != nullptr) handed->cv.notify_one();
  }
  for (auto& t : reap) t.join();
  return true;
}

void WorkerPool::worker_main(std::uint64_t index) {
  pthread_setname_np(pthread_self(), "dendrite-worker");
  Slot slot;
  std::unique_lock lock(mu_);
  for (;;) {
    std::unique_ptr<Task> task = std::move(slot.task);
    if (!task && !queue_.empty()) {
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    if (task) {
      lock.unlock();
      task->run();
      task.reset();
      lock.lock();
      continue;
    }
    if (state_ == State::kStopped) break;
    idle_.push_back(&slot);
    const auto deadline = std::chrono::steady_clock::now() + config_.idle;
    const bool woken = slot.cv.wait_until(
        lock, deadline, [&] { return slot.task != nullptr || state_ == State::kStopped; });
    if (slot.task != nullptr) continue;  // submit() took us off idle_
    idle_.erase(std::find(idle_.begin(), idle_.end(), &slot));
    if (!woken && workers_ > static_cast<std::size_t>(config_.min)) break;
  }
  --workers_;
  std::vector<std::thread> reap;
  if (state_ != State::kStopped) reap.swap(exited_);  // stop() joins them otherwise
  auto self = threads_.find(index);
  exited_.push_back(std::move(self->second));
  threads_.erase(self);
  exit_cv_.notify_all();
  lock.unlock();
  for (auto& t : reap) t.join();
}

void WorkerPool::stop() {
  std::deque<std::unique_ptr<Task>> dropped;
  {
    std::unique_lock lock(mu_);
    if (state_ == State::kStopped) return;
    state_ = State::kStopped;
    dropped.swap(queue_);
    for (Slot* s : idle_) s->cv.notify_one();
  }
  for (auto& task : dropped) task->cancel();
  dropped.clear();
  std::vector<std::thread> finished;
  {
    std::unique_lock lock(mu_);
    exit_cv_.wait(lock, [this] { return workers_ == 0; });
    finished.swap(exited_);
  }
  for (auto& t : finished) t.join();
}

std::size_t WorkerPool::worker_count() const {
  std::lock_guard lock(mu_);
  return workers_;
}

std::size_t WorkerPool::busy_workers() const {
  std::lock_guard lock(mu_);
  return workers_ - idle_.size();
}

std::size_t WorkerPool::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

}  // namespace dendrite::host
