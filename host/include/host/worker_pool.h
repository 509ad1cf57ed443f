// An adaptive pool of worker threads, like the original's: `min` workers are
// kept, the pool grows (up to `max`) when a task is queued while no worker is
// idle, and a worker above `min` that stays idle for `idle` exits.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "host/zmq_transport.h"

namespace dendrite::host {

// Thread-safe: every method may be called from any thread, except stop() from a
// worker of this pool (it would wait for itself).
class WorkerPool {
 public:
  // One unit of work. Exactly one of run() or cancel() is called, once.
  class Task {
   public:
    virtual ~Task() = default;
    // Runs on a worker thread. Must not throw.
    virtual void run() = 0;
    // Called instead of run() when the pool is stopped (or refuses the task),
    // on the thread that stops the pool or submits. Must not throw or block.
    virtual void cancel() {}
  };

  // `config.min` is clamped to >= 0 and `config.max` to >= max(min, 1).
  explicit WorkerPool(WorkerPoolConfig config);
  ~WorkerPool();  // stop()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Starts the `min` workers. Calling it again, or after stop(), does nothing.
  void start();

  // Queues `task`; grows the pool when no worker is idle. Returns false (and
  // calls task->cancel() before returning) when the pool is not running.
  bool submit(std::unique_ptr<Task> task);

  // Queues a callable `f()` (must not throw); `on_cancel()` runs instead when the
  // pool refuses or drops it.
  template <typename F, typename C>
  bool submit(F f, C on_cancel) {
    return submit(std::make_unique<FnTask<F, C>>(std::move(f), std::move(on_cancel)));
  }

  // Stops accepting tasks, cancels queued ones, waits for running tasks to
  // finish and joins every worker. Idempotent.
  void stop();

  // Live workers, and how many of them are running a task (or about to).
  std::size_t worker_count() const;
  std::size_t busy_workers() const;
  // Tasks waiting for a worker.
  std::size_t queued() const;

 private:
  template <typename F, typename C>
  class FnTask final : public Task {
   public:
    FnTask(F f, C c) : f_(std::move(f)), c_(std::move(c)) {}
    void run() override { f_(); }
    void cancel() override { c_(); }

   private:
    F f_;
    C c_;
  };

  enum class State { kNew, kRunning, kStopped };

  // A worker's hand-off slot, on its own stack; listed in idle_ while it waits.
  struct Slot {
    std::condition_variable cv;
    std::unique_ptr<Task> task;  // handed over by submit()
  };

  // REQUIRES: mu_ held.
  void spawn_locked();
  void worker_main(std::uint64_t index);

  const WorkerPoolConfig config_;
  mutable std::mutex mu_;
  std::condition_variable exit_cv_;  // a worker exited (stop() waits on it)
  State state_ = State::kNew;
  // Tasks no idle worker could take; a bound on it comes later.
  std::deque<std::unique_ptr<Task>> queue_;
  // Idle workers, most recently idle last: a task goes to the last one, so the
  // fewest threads stay warm and the others reach their idle timeout.
  std::vector<Slot*> idle_;
  std::size_t workers_ = 0;  // live workers
  std::uint64_t next_index_ = 0;
  std::unordered_map<std::uint64_t, std::thread> threads_;  // live workers' threads
  std::vector<std::thread> exited_;                         // finished, not yet joined
};

}  // namespace dendrite::host
