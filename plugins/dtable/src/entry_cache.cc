#include "entry_cache.h"

#include <chrono>
#include <utility>

namespace dendrite::dtable {

EntryCache::EntryCache(std::size_t budget_bytes, std::vector<Store*> stores)
    : budget_(budget_bytes), stores_(std::move(stores)) {}

EntryCache::~EntryCache() {
  stop();
}

void EntryCache::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { run(); });
}

void EntryCache::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::size_t EntryCache::trim() {
  // Per store: entries in memory, and what one takes (each read once).
  std::vector<std::size_t> entries, per_entry, sizes;
  std::size_t total = 0;
  for (const Store* s : stores_) {
    entries.push_back(s->resident_entries());
    per_entry.push_back(s->entry_bytes());
    sizes.push_back(entries.back() * per_entry.back());
    total += sizes.back();
  }
  if (total <= budget_) return 0;
  // Down to 90%: a pass waits for the journal, so each takes a good part.
  const std::size_t over = total - budget_ / 10 * 9;
  std::size_t evicted = 0;
  for (std::size_t i = 0; i < stores_.size(); ++i) {
    if (sizes[i] == 0) continue;
    // This store's share of what is over, in entries.
    const double share = static_cast<double>(sizes[i]) / static_cast<double>(total);
    const auto want =
        static_cast<std::size_t>(share * static_cast<double>(over)) / per_entry[i] + 1;
    evicted += stores_[i]->evict(want);
  }
  return evicted;
}

void EntryCache::run() {
  constexpr auto kPeriod = std::chrono::milliseconds(20);
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, kPeriod, [&] { return stop_; });
    if (stop_) break;
    lock.unlock();
    trim();
    lock.lock();
  }
}

}  // namespace dendrite::dtable
