// Keeps the memory of a node's tables within a budget when they are written
// through to a journal: a thread that, while the tables' entries in memory
// take more than the budget, lets the least recently used ones leave memory
// (Store::evict); they are read back from disk when their keys are used.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

#include "store.h"

namespace dendrite::dtable {

class EntryCache {
 public:
  // `stores` (with a journal) must outlive the cache. `budget_bytes` bounds
  // Store::resident_bytes() summed over them.
  EntryCache(std::size_t budget_bytes, std::vector<Store*> stores);
  ~EntryCache();  // stop()

  // Starts and stops the thread (stop() is idempotent and waits for it).
  void start();
  void stop();

  // One round, on the caller's thread: while over the budget, evicts from
  // each store its share of what is over (down to 90% of the budget).
  // Returns how many entries left memory. The thread calls it every 20 ms.
  std::size_t trim();

  std::size_t budget_bytes() const { return budget_; }

 private:
  void run();

  const std::size_t budget_;
  const std::vector<Store*> stores_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace dendrite::dtable
