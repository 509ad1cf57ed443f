#include "store.h"

#include <algorithm>

namespace dendrite::dtable {
namespace {

// At most this many versions per key (pending writes of one key at once).
constexpr std::size_t kMaxVersions = 16;

}  // namespace

Store::Store(bool keep_history) : keep_history_(keep_history) {}

std::size_t Store::shard_index(const Id& hash) {
  // Key hashes are uniform: the last byte picks the shard.
  return hash.bytes()[Id::kBytes - 1] % kShards;
}

Store::Shard& Store::shard(const Id& hash) const {
  return shards_[shard_index(hash)];
}

template <typename Fn>
void Store::by_shard(const std::vector<Item>& items, Fn fn) const {
  // Counting sort of the indices by shard.
  std::array<std::size_t, kShards + 1> start{};
  for (const Item& item : items) ++start[shard_index(item.hash) + 1];
  for (std::size_t k = 1; k <= kShards; ++k) start[k] += start[k - 1];
  std::vector<std::size_t> order(items.size());
  std::array<std::size_t, kShards> fill{};
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::size_t k = shard_index(items[i].hash);
    order[start[k] + fill[k]++] = i;
  }
  for (std::size_t k = 0; k < kShards; ++k) {
    if (start[k] == start[k + 1]) continue;
    Shard& s = shards_[k];
    std::lock_guard lock(s.mu);
    for (std::size_t j = start[k]; j < start[k + 1]; ++j) fn(s, order[j]);
  }
}

std::optional<std::size_t> Store::newest_committed(const Entry& e) {
  for (std::size_t i = e.versions.size(); i-- > 0;) {
    if (e.versions[i].committed) return i;
  }
  return std::nullopt;
}

Item Store::to_item(const Id& hash, const Entry& e, const Version& v) {
  return Item{e.key, hash, v.value, v.ts, v.deleted};
}

void Store::prune(Entry& e) const {
  auto c = newest_committed(e);
  if (c) {
    // Keep the newest committed version, everything newer, and (with history)
    // the newest committed version before it.
    std::vector<Version> kept;
    kept.reserve(e.versions.size() - *c + 1);
    if (keep_history_) {
      for (std::size_t i = *c; i-- > 0;) {
        if (e.versions[i].committed) {
          kept.push_back(std::move(e.versions[i]));
          break;
        }
      }
    }
    for (std::size_t i = *c; i < e.versions.size(); ++i) kept.push_back(std::move(e.versions[i]));
    e.versions = std::move(kept);
  }
  while (e.versions.size() > kMaxVersions) e.versions.erase(e.versions.begin());
}

PutResult Store::put_stamped(Item& item, const std::function<std::int64_t()>& stamp) {
  Shard& s = shard(item.hash);
  std::lock_guard lock(s.mu);
  item.timestamp = stamp();
  return put_locked(s, item, /*committed=*/false, nullptr);
}

PutResult Store::put(const Item& item, bool committed, const ReplicaMeta* meta) {
  Shard& s = shard(item.hash);
  std::lock_guard lock(s.mu);
  return put_locked(s, item, committed, meta);
}

Store::Usage Store::visible_usage(const Entry& e) {
  auto c = newest_committed(e);
  if (!c || e.versions[*c].deleted) return {};
  return Usage{1, e.key.size() + e.versions[*c].value.size()};
}

void Store::account(Shard& s, const Usage& before, const Usage& after) {
  s.usage.items = s.usage.items - before.items + after.items;
  s.usage.bytes = s.usage.bytes - before.bytes + after.bytes;
}

void Store::erase_entry(Shard& s, std::unordered_map<Id, Entry>::iterator it) {
  account(s, visible_usage(it->second), {});
  s.entries.erase(it);
}

PutResult Store::put_locked(Shard& s, const Item& item, bool committed, const ReplicaMeta* meta) {
  Entry& e = s.entries[item.hash];
  const Usage before = visible_usage(e);
  const PutResult r = put_entry(e, item, committed, meta);
  account(s, before, visible_usage(e));
  if (r != PutResult::kOlder) e.seq = changes_.fetch_add(1, std::memory_order_acq_rel) + 1;
  return r;
}

PutResult Store::put_entry(Entry& e, const Item& item, bool committed, const ReplicaMeta* meta) {
  if (e.key.empty()) e.key = item.key;
  auto same = std::find_if(e.versions.begin(), e.versions.end(),
                           [&](const Version& v) { return v.ts == item.timestamp; });
  if (same != e.versions.end()) {
    if (committed && !same->committed) {
      same->committed = true;
      prune(e);
    }
    if (meta) e.meta = *meta;
    return PutResult::kDuplicate;
  }
  if (auto c = newest_committed(e); c && item.timestamp < e.versions[*c].ts) {
    return PutResult::kOlder;
  }
  if (std::find(e.aborted.begin(), e.aborted.end(), item.timestamp) != e.aborted.end()) {
    return PutResult::kOlder;  // that write failed: it must not come back
  }
  Version v{item.deleted ? std::string() : item.value, item.timestamp, item.deleted, committed};
  auto pos = std::upper_bound(e.versions.begin(), e.versions.end(), item.timestamp,
                              [](std::int64_t ts, const Version& x) { return ts < x.ts; });
  e.versions.insert(pos, std::move(v));
  if (meta) e.meta = *meta;
  prune(e);
  return PutResult::kApplied;
}

CommitResult Store::commit(const Id& hash, std::int64_t ts) {
  Shard& s = shard(hash);
  std::lock_guard lock(s.mu);
  auto it = s.entries.find(hash);
  if (it == s.entries.end()) return CommitResult::kMissing;
  Entry& e = it->second;
  auto c = newest_committed(e);
  auto v = std::find_if(e.versions.begin(), e.versions.end(),
                        [&](const Version& x) { return x.ts == ts; });
  if (v == e.versions.end()) {
    // Dropped because a newer version committed first: it lost anyway.
    return c && e.versions[*c].ts > ts ? CommitResult::kSuperseded : CommitResult::kMissing;
  }
  if (c && e.versions[*c].ts > ts) {
    e.versions.erase(v);  // pending: not visible
    return CommitResult::kSuperseded;
  }
  const Usage before = visible_usage(e);
  v->committed = true;
  prune(e);
  account(s, before, visible_usage(e));
  e.seq = changes_.fetch_add(1, std::memory_order_acq_rel) + 1;
  return CommitResult::kCommitted;
}

bool Store::rollback(const Id& hash, std::int64_t ts) {
  Shard& s = shard(hash);
  std::lock_guard lock(s.mu);
  auto it = s.entries.try_emplace(hash).first;
  auto& vs = it->second.versions;
  auto v = std::find_if(vs.begin(), vs.end(), [&](const Version& x) { return x.ts == ts; });
  auto& aborted = it->second.aborted;
  if (std::find(aborted.begin(), aborted.end(), ts) == aborted.end()) {
    if (aborted.size() == kMaxAborted) aborted.erase(aborted.begin());
    aborted.push_back(ts);
  }
  if (v == vs.end()) return false;
  const Usage before = visible_usage(it->second);
  vs.erase(v);
  account(s, before, visible_usage(it->second));
  it->second.seq = changes_.fetch_add(1, std::memory_order_acq_rel) + 1;
  return true;
}

std::optional<Item> Store::get(const Id& hash) const {
  Shard& s = shard(hash);
  std::lock_guard lock(s.mu);
  auto it = s.entries.find(hash);
  if (it == s.entries.end()) return std::nullopt;
  auto c = newest_committed(it->second);
  if (!c) return std::nullopt;
  return to_item(hash, it->second, it->second.versions[*c]);
}

std::optional<Item> Store::newest(const Id& hash) const {
  Shard& s = shard(hash);
  std::lock_guard lock(s.mu);
  auto it = s.entries.find(hash);
  if (it == s.entries.end() || it->second.versions.empty()) return std::nullopt;
  return to_item(hash, it->second, it->second.versions.back());
}

std::vector<StoredVersion> Store::versions(const Id& hash) const {
  Shard& s = shard(hash);
  std::lock_guard lock(s.mu);
  std::vector<StoredVersion> out;
  auto it = s.entries.find(hash);
  if (it == s.entries.end()) return out;
  for (const Version& v : it->second.versions) {
    out.push_back(StoredVersion{to_item(hash, it->second, v), v.committed});
  }
  return out;
}

std::optional<ReplicaMeta> Store::meta(const Id& hash) const {
  Shard& s = shard(hash);
  std::lock_guard lock(s.mu);
  auto it = s.entries.find(hash);
  if (it == s.entries.end()) return std::nullopt;
  return it->second.meta;
}

bool Store::erase_if_not_newer(const Id& hash, std::int64_t ts) {
  Shard& s = shard(hash);
  std::lock_guard lock(s.mu);
  auto it = s.entries.find(hash);
  if (it == s.entries.end()) return false;
  if (!it->second.versions.empty() && it->second.versions.back().ts > ts) return false;
  erase_entry(s, it);
  return true;
}

void Store::adopt(std::vector<Item>& items) {
  std::vector<bool> keep(items.size(), true);
  by_shard(items, [&](Shard& s, std::size_t i) {
    Item& item = items[i];
    put_locked(s, item, /*committed=*/true, nullptr);
    const Entry& e = s.entries[item.hash];
    auto c = newest_committed(e);
    if (!c) {
      keep[i] = false;
    } else if (e.versions[*c].ts != item.timestamp) {
      item = to_item(item.hash, e, e.versions[*c]);
    } else {
      item.seen = 0;  // a copy of another table's entry
    }
  });
  std::size_t n = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (!keep[i]) continue;
    if (n != i) items[n] = std::move(items[i]);
    ++n;
  }
  items.resize(n);
}

void Store::erase_if_not_newer(const std::vector<Item>& items, std::vector<Id>* erased) {
  std::vector<bool> gone(items.size(), false);
  by_shard(items, [&](Shard& s, std::size_t i) {
    auto it = s.entries.find(items[i].hash);
    if (it == s.entries.end()) return;
    const auto& vs = it->second.versions;
    if (!vs.empty() && vs.back().ts > items[i].timestamp) return;
    if (items[i].seen != 0 && it->second.seq != items[i].seen) return;
    erase_entry(s, it);
    gone[i] = true;
  });
  if (!erased) return;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (gone[i]) erased->push_back(items[i].hash);
  }
}

bool Store::erase_replica(const Id& hash, const std::optional<Id>& master) {
  Shard& s = shard(hash);
  std::lock_guard lock(s.mu);
  auto it = s.entries.find(hash);
  if (it == s.entries.end()) return false;
  if (master && it->second.meta.master && it->second.meta.master->id != *master) return false;
  erase_entry(s, it);
  return true;
}

bool Store::refresh(const Id& hash, std::int64_t ts, const Vnode& master, std::int64_t now_ns) {
  Shard& s = shard(hash);
  std::lock_guard lock(s.mu);
  auto it = s.entries.find(hash);
  if (it == s.entries.end()) return false;
  Entry& e = it->second;
  auto c = newest_committed(e);
  if (!c || e.versions[*c].ts < ts) return false;
  e.meta.master = master;
  e.meta.refreshed_ns = now_ns;
  return true;
}

std::vector<Item> Store::select(const Filter& filter) const {
  std::vector<Item> out;
  for (Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    for (const auto& [hash, e] : s.entries) {
      auto c = newest_committed(e);
      if (!c) continue;
      Item item = to_item(hash, e, e.versions[*c]);
      if (filter(item, e.meta)) out.push_back(std::move(item));
    }
  }
  return out;
}

std::vector<Item> Store::select_hashes(const std::function<bool(const Id&)>& filter) const {
  std::vector<Item> out;
  for (Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    for (const auto& [hash, e] : s.entries) {
      if (!filter(hash)) continue;
      if (auto c = newest_committed(e)) {
        out.push_back(to_item(hash, e, e.versions[*c]));
        out.back().seen = e.seq;
      }
    }
  }
  return out;
}

std::vector<std::pair<Id, std::int64_t>> Store::stamps() const {
  std::vector<std::pair<Id, std::int64_t>> out;
  for (Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    for (const auto& [hash, e] : s.entries) {
      if (auto c = newest_committed(e)) out.emplace_back(hash, e.versions[*c].ts);
    }
  }
  return out;
}

std::size_t Store::collect(std::int64_t now_ns, std::int64_t tombstone_grace_ns,
                           std::int64_t history_grace_ns) {
  std::size_t erased = 0;
  for (Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    for (auto it = s.entries.begin(); it != s.entries.end();) {
      const Usage before = visible_usage(it->second);
      auto& vs = it->second.versions;
      auto c = newest_committed(it->second);
      if (c && *c > 0 && vs[*c].ts < now_ns - history_grace_ns) {
        vs.erase(vs.begin(), vs.begin() + static_cast<std::ptrdiff_t>(*c));
        c = 0;
      }
      const bool dead = c && *c + 1 == vs.size() && vs[*c].deleted && tombstone_grace_ns > 0 &&
                        vs[*c].ts < now_ns - tombstone_grace_ns;
      auto& aborted = it->second.aborted;
      if (tombstone_grace_ns > 0) {
        std::erase_if(aborted, [&](std::int64_t ts) { return ts < now_ns - tombstone_grace_ns; });
      }
      if (dead || (vs.empty() && aborted.empty())) {
        account(s, before, {});
        it = s.entries.erase(it);
        ++erased;
      } else {
        account(s, before, visible_usage(it->second));
        ++it;
      }
    }
  }
  return erased;
}

Store::Usage Store::usage() const {
  Usage u;
  for (Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    u.items += s.usage.items;
    u.bytes += s.usage.bytes;
  }
  return u;
}

std::size_t Store::size() const {
  std::size_t n = 0;
  for (Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    for (const auto& [hash, e] : s.entries) n += e.versions.empty() ? 0 : 1;
  }
  return n;
}

}  // namespace dendrite::dtable
