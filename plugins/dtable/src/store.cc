#include "store.h"

#include <algorithm>
#include <limits>

#include "store_record.h"

namespace dendrite::dtable {
namespace {

// At most this many versions per key (pending writes of one key at once).
constexpr std::size_t kMaxVersions = 16;

}  // namespace

Store::Store(bool keep_history, Journal* journal, TableId table)
    : keep_history_(keep_history), journal_(journal), table_(table) {
  // Every byte of an entry counts a million times over.
  static_assert(sizeof(Entry) <= 40, "Store::Entry grew");
}

std::size_t Store::shard_index(const Id& hash) {
  // Key hashes are uniform: the last byte picks the shard.
  return hash.bytes()[Id::kBytes - 1] % kShards;
}

Store::Shard& Store::shard(const Id& hash) const {
  return shards_[shard_index(hash)];
}

template <typename Fn>
void Store::by_shard(const std::vector<Item>& items, Fn fn, Store* also) const {
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
  JournalBatch batch;
  auto run = [&](Shard& s, std::size_t k) {
    // The table is far larger than the caches: touch every item's slot
    // first, so their cache misses overlap instead of coming one by one.
    for (std::size_t j = start[k]; j < start[k + 1]; ++j) s.entries.prefetch(items[order[j]].hash);
    for (std::size_t j = start[k]; j < start[k + 1]; ++j) fn(s, order[j], batch);
    if (journal_ && !batch.empty()) {
      journal_->write(batch);
      batch.ops.clear();
    }
  };
  // Starting at the first item's shard: concurrent batches do not all queue
  // on shard 0, then 1, and so on.
  const std::size_t first = items.empty() ? 0 : shard_index(items.front().hash);
  for (std::size_t n = 0; n < kShards; ++n) {
    const std::size_t k = (first + n) % kShards;
    if (start[k] == start[k + 1]) continue;
    Shard& s = shards_[k];
    if (also) {
      std::scoped_lock lock(s.mu, also->shards_[k].mu);
      run(s, k);
    } else {
      std::lock_guard lock(s.mu);
      run(s, k);
    }
  }
}

// ---- Entry ------------------------------------------------------------------

void Store::Entry::set_key(std::string_view key) {
  // The single version's value and expiry bytes move with the key.
  const std::size_t tail = single_ ? value_len_ + (expiring_ ? sizeof(std::int64_t) : 0) : 0;
  auto data = std::make_unique_for_overwrite<char[]>(key.size() + tail);
  std::copy(key.begin(), key.end(), data.get());
  if (tail > 0)
    std::copy(data_.get() + key_len_, data_.get() + key_len_ + tail, data.get() + key.size());
  data_ = std::move(data);
  key_len_ = static_cast<std::uint32_t>(key.size());
}

std::size_t Store::Entry::count() const {
  if (single_) return 1;
  return extra_ ? extra_->versions.size() : 0;
}

std::string_view Store::Entry::value(std::size_t i) const {
  if (single_) return {data_.get() + key_len_, value_len_};
  return extra_->versions[i].value;
}

std::int64_t Store::Entry::expires_ms(std::size_t i) const {
  if (!single_) return extra_->versions[i].expires_ms;
  if (!expiring_) return 0;
  std::int64_t ms;
  std::memcpy(&ms, data_.get() + key_len_ + value_len_, sizeof ms);
  return ms;
}

std::optional<std::size_t> Store::Entry::find(std::int64_t ts) const {
  const std::size_t n = count();
  for (std::size_t i = 0; i < n; ++i) {
    if (this->ts(i) == ts) return i;
  }
  return std::nullopt;
}

std::optional<std::size_t> Store::Entry::newest_committed() const {
  for (std::size_t i = count(); i-- > 0;) {
    if (committed(i)) return i;
  }
  return std::nullopt;
}

void Store::Entry::set_single(std::int64_t ts, std::string_view value, bool deleted, bool committed,
                              std::int64_t expires_ms) {
  const bool expiring = expires_ms != 0;
  if (!single_ || value.size() != value_len_ || expiring != (expiring_ != 0)) {
    // A block of the new size (the key is copied first: it may be in the old one).
    auto data = std::make_unique_for_overwrite<char[]>(key_len_ + value.size() +
                                                       (expiring ? sizeof expires_ms : 0));
    std::copy(data_.get(), data_.get() + key_len_, data.get());
    data_ = std::move(data);
  }
  std::copy(value.begin(), value.end(), data_.get() + key_len_);
  if (expiring) std::memcpy(data_.get() + key_len_ + value.size(), &expires_ms, sizeof expires_ms);
  expiring_ = expiring ? 1 : 0;
  value_len_ = static_cast<std::uint32_t>(value.size());
  ts_ = ts;
  single_ = 1;
  deleted_ = deleted ? 1 : 0;
  committed_ = committed ? 1 : 0;
  if (extra_ && !extra_->versions.empty()) {
    extra_->versions = {};
    trim();
  }
}

void Store::Entry::set_committed(std::size_t i) {
  if (single_) {
    committed_ = 1;
  } else {
    extra_->versions[i].committed = true;
  }
}

void Store::Entry::replace_oldest(std::int64_t ts, std::string_view value, bool deleted,
                                  std::int64_t expires_ms) {
  std::vector<Version>& vs = extra_->versions;
  std::swap(vs[0], vs[1]);
  Version& v = vs[1];
  v.value.assign(value);
  v.ts = ts;
  v.deleted = deleted;
  v.committed = true;
  v.expires_ms = expires_ms;
}

void Store::Entry::prefetch_blocks() const {
  __builtin_prefetch(data_.get());
  if (!extra_) return;
  __builtin_prefetch(extra_.get());
  __builtin_prefetch(reinterpret_cast<const char*>(extra_.get()) + 64);
}

void Store::Entry::prefetch_versions() const {
  if (!extra_ || extra_->versions.empty()) return;
  const Version* v = extra_->versions.data();
  __builtin_prefetch(v);
  __builtin_prefetch(v + extra_->versions.size() - 1);
}

std::vector<Store::Version>& Store::Entry::multi() {
  Extra& x = extra();
  if (single_) {
    x.versions.push_back(
        Version{std::string(value(0)), ts_, deleted_ != 0, committed_ != 0, expires_ms(0)});
    single_ = 0;
    value_len_ = 0;  // the block keeps the key (and now unused value bytes)
    expiring_ = 0;
  }
  return x.versions;
}

void Store::Entry::compact() {
  if (single_ || !extra_) return;
  std::vector<Version>& vs = extra_->versions;
  if (vs.size() == 1) {
    const Version& v = vs.front();
    set_single(v.ts, v.value, v.deleted, v.committed, v.expires_ms);  // copies, then frees the list
  } else if (vs.empty()) {
    std::vector<Version>().swap(vs);
    trim();
  }
}

const std::vector<std::int64_t>& Store::Entry::aborted_marks() const {
  static const std::vector<std::int64_t> kNone;
  return extra_ ? extra_->aborted : kNone;
}

bool Store::Entry::aborted(std::int64_t ts) const {
  return extra_ &&
         std::find(extra_->aborted.begin(), extra_->aborted.end(), ts) != extra_->aborted.end();
}

void Store::Entry::add_aborted(std::int64_t ts) {
  auto& marks = extra().aborted;
  if (std::find(marks.begin(), marks.end(), ts) != marks.end()) return;
  if (marks.size() == kMaxAborted) marks.erase(marks.begin());
  marks.push_back(ts);
}

bool Store::Entry::expire_aborted(std::int64_t before) {
  if (!extra_) return true;
  std::erase_if(extra_->aborted, [&](std::int64_t ts) { return ts < before; });
  const bool none = extra_->aborted.empty();
  trim();
  return none;
}

const ReplicaMeta& Store::Entry::meta() const {
  static const ReplicaMeta kNone;
  return extra_ ? extra_->meta : kNone;
}

ReplicaMeta& Store::Entry::mutable_meta() {
  return extra().meta;
}

Store::Extra& Store::Entry::extra() {
  if (!extra_) extra_ = std::make_unique<Extra>();
  return *extra_;
}

void Store::Entry::trim() {
  if (!extra_ || !extra_->versions.empty() || !extra_->aborted.empty()) return;
  const ReplicaMeta& m = extra_->meta;
  if (!m.master && m.depth == 0 && m.refreshed_ns == 0) extra_.reset();
}

// ---- Store ------------------------------------------------------------------

Item Store::to_item(const Id& hash, const Entry& e, std::size_t i) {
  return Item{std::string(e.key()), hash,           std::string(e.value(i)), e.ts(i),
              e.deleted(i),         e.expires_ms(i)};
}

void Store::prune(std::vector<Version>& versions) const {
  std::optional<std::size_t> c;
  for (std::size_t i = versions.size(); i-- > 0;) {
    if (versions[i].committed) {
      c = i;
      break;
    }
  }
  if (c) {
    // Keep the newest committed version, everything newer, and (with history)
    // the newest committed version before it.
    std::size_t from = *c;
    if (keep_history_) {
      for (std::size_t i = *c; i-- > 0;) {
        if (versions[i].committed) {
          if (i + 1 < *c) versions[*c - 1] = std::move(versions[i]);
          from = *c - 1;
          break;
        }
      }
    }
    versions.erase(versions.begin(), versions.begin() + static_cast<std::ptrdiff_t>(from));
  }
  if (versions.size() > kMaxVersions) {
    versions.erase(versions.begin(), versions.end() - static_cast<std::ptrdiff_t>(kMaxVersions));
  }
}

void Store::erase_version(Entry& e, std::size_t i) {
  std::vector<Version>& vs = e.multi();
  vs.erase(vs.begin() + static_cast<std::ptrdiff_t>(i));
  e.compact();
}

void Store::prefetch(const std::vector<Id>& hashes) const {
  // Three passes, each starting the loads that the one before made
  // reachable (the slots; what the entries point to; their version lists),
  // so that the misses of one pass overlap instead of queueing.
  auto each = [&](auto fn) {
    for (const Id& h : hashes) {
      Shard& s = shard(h);
      std::lock_guard lock(s.mu);
      fn(s.entries, h);
    }
  };
  each([](const Map& m, const Id& h) { m.prefetch(h); });
  each([](const Map& m, const Id& h) {
    if (auto it = m.find(h); it != m.end()) it->second.prefetch_blocks();
  });
  each([](const Map& m, const Id& h) {
    if (auto it = m.find(h); it != m.end()) it->second.prefetch_versions();
  });
}

PutResult Store::put_stamped(Item& item, const std::function<std::int64_t()>& stamp,
                             bool committed) {
  Shard& s = shard(item.hash);
  std::lock_guard lock(s.mu);
  Entry& e = locate_or_add(s, item.hash);
  item.timestamp = stamp();
  return put_locked(s, item.hash, e, item, committed, nullptr);
}

PutResult Store::put_decided(Item& item, const Decide& decide,
                             const std::function<std::int64_t()>& stamp, bool committed) {
  Shard& s = shard(item.hash);
  std::lock_guard lock(s.mu);
  std::optional<Item> current;
  if (auto it = locate(s, item.hash); it != s.entries.end() && it->second.count() > 0) {
    current = to_item(item.hash, it->second, it->second.count() - 1);
  }
  if (!decide(current, item)) return PutResult::kDeclined;
  Entry& e = locate_or_add(s, item.hash);
  item.timestamp = stamp();
  return put_locked(s, item.hash, e, item, committed, nullptr);
}

PutResult Store::put(const Item& item, bool committed, const ReplicaMeta* meta) {
  Shard& s = shard(item.hash);
  std::lock_guard lock(s.mu);
  return put_locked(s, item.hash, locate_or_add(s, item.hash), item, committed, meta);
}

Store::Usage Store::visible_usage(const Entry& e) {
  auto c = e.newest_committed();
  if (!c || e.deleted(*c)) return {};
  return Usage{1, e.key().size() + e.value(*c).size(), e.expires_ms(*c) != 0 ? 1u : 0u};
}

void Store::account(Shard& s, const Usage& before, const Usage& after) {
  s.usage.items = s.usage.items - before.items + after.items;
  s.usage.expiring = s.usage.expiring - before.expiring + after.expiring;
  s.usage.bytes = s.usage.bytes - before.bytes + after.bytes;
}

void Store::erase_entry(Shard& s, Map::iterator it) {
  account(s, visible_usage(it->second), {});
  if (s.spilled || s.tracking) {
    it->second = Entry();  // a marker: the journal may not have erased its record yet
  } else {
    s.entries.erase(it);
  }
}

void Store::note_touched(const Id& hash) const {
  Shard& s = shard(hash);
  if (s.tracking) s.touched.push_back(hash);
}

bool Store::evictable(const Entry& e) {
  if (!e.aborted_marks().empty()) return false;
  return e.count() == 0 || (e.count() == 1 && e.committed(0));
}

Store::Map::iterator Store::locate(Shard& s, const Id& hash) const {
  auto it = s.entries.find(hash);
  if (it != s.entries.end()) {
    // A marker: the entry was removed (its record may still be on disk).
    if (it->second.count() == 0 && it->second.aborted_marks().empty()) return s.entries.end();
    it->second.set_used(true);
    return it;
  }
  if (!s.spilled) return it;
  thread_local std::string rec;
  if (!journal_->get(table_, hash, rec)) return s.entries.end();
  Entry e;
  // A record that does not decode reads as none (load() refused to start on
  // any such record, and this one was written since by this process).
  if (!read_back(rec, e)) return s.entries.end();
  e.set_used(true);
  disk_reads_.fetch_add(1, std::memory_order_relaxed);
  // Evicted during the walk, it was in memory at the walk's pass (seen there)
  // or read back before (already noted).
  if (s.walking && !s.evicted_in_walk.contains(hash)) s.read_in_walk.insert(hash);
  return s.entries.emplace(hash, std::move(e)).first;
}

Store::Entry& Store::locate_or_add(Shard& s, const Id& hash) const {
  auto it = locate(s, hash);
  if (it != s.entries.end()) return it->second;
  return s.entries.try_emplace(hash).first->second;
}

PutResult Store::put_locked(Shard& s, const Id& hash, Entry& e, const Item& item, bool committed,
                            const ReplicaMeta* meta, JournalBatch* batch) {
  const Usage before = visible_usage(e);
  const PutResult r = put_entry(e, item, committed, meta);
  account(s, before, visible_usage(e));
  if (r != PutResult::kOlder) {
    e.set_seq(changes_.fetch_add(1, std::memory_order_acq_rel) + 1);
    record(hash, e, batch);
  }
  return r;
}

void Store::record(const Id& hash, const Entry& e, JournalBatch* batch) const {
  if (!journal_) return;
  note_touched(hash);
  if (batch) {
    std::string rec;
    encode(e, rec);
    batch->put(table_, hash, std::move(rec));
    return;
  }
  thread_local std::string buffer;  // reused: no allocation per write
  encode(e, buffer);
  journal_->put(table_, hash, buffer);
}

void Store::record_erase(const Id& hash, JournalBatch* batch) const {
  if (!journal_) return;
  note_touched(hash);
  if (batch) {
    batch->erase(table_, hash);
  } else {
    journal_->erase(table_, hash);
  }
}

void Store::encode(const Entry& e, std::string& out) {
  // Reused: a write allocates nothing here once the lists have grown.
  thread_local StoreRecord r;
  r.key = e.key();
  r.versions.clear();
  for (std::size_t i = 0; i < e.count(); ++i) {
    r.versions.push_back(
        StoreRecord::Version{e.ts(i), e.value(i), e.deleted(i), e.committed(i), e.expires_ms(i)});
  }
  r.aborted.assign(e.aborted_marks().begin(), e.aborted_marks().end());
  const ReplicaMeta& m = e.meta();
  r.master = m.master;
  r.depth = m.depth;
  r.refreshed_ns = m.refreshed_ns;
  r.seq = e.seq();
  encode_record(r, out);
}

bool Store::decode(std::string_view record, Entry& e) {
  StoreRecord r;
  if (!decode_record(record, r)) return false;
  if (!r.key.empty()) e.set_key(r.key);
  if (r.versions.size() == 1) {
    const auto& v = r.versions.front();
    e.set_single(v.ts, v.value, v.deleted, v.committed, v.expires_ms);
  } else if (!r.versions.empty()) {
    std::vector<Version>& vs = e.multi();
    for (const auto& v : r.versions) {
      vs.push_back(Version{std::string(v.value), v.ts, v.deleted, v.committed, v.expires_ms});
    }
  }
  for (std::int64_t ts : r.aborted) e.add_aborted(ts);
  e.set_seq(r.seq);
  if (r.master || r.depth != 0) {
    ReplicaMeta& m = e.mutable_meta();
    m.master = r.master;
    m.depth = r.depth;
    m.refreshed_ns = r.refreshed_ns;
  }
  e.compact();
  return true;
}

bool Store::read_back(std::string_view record, Entry& e) const {
  if (!decode(record, e)) return false;
  if (e.meta().master) {
    // A refresh time from before the last start is no older than that start.
    ReplicaMeta& m = e.mutable_meta();
    m.refreshed_ns = std::max(m.refreshed_ns, loaded_at_ns_);
  }
  return true;
}

Status Store::load(std::int64_t now_ns, std::size_t max_resident_bytes) {
  if (!journal_) return Status::Ok();
  loaded_at_ns_ = now_ns;
  std::size_t resident = 0;
  Status bad;
  const Status s = journal_->scan(table_, Id(), [&](const Id& hash, std::string_view rec) {
    Shard& sh = shard(hash);
    std::lock_guard lock(sh.mu);
    Entry e;
    if (!decode(rec, e)) {
      bad = Status::FailedPrecondition(
          "storage: " + journal_->path() + " holds a malformed record (table " +
          std::to_string(table_.vnode) + static_cast<char>(table_.kind) + ", key hash " +
          hash.hex() + "); refusing to start: restore a backup, or move the directory away");
      return false;
    }
    if (e.meta().master) e.mutable_meta().refreshed_ns = now_ns;
    account(sh, {}, visible_usage(e));
    // Changes from now on are numbered after every one on disk.
    if (e.seq() >= changes_.load(std::memory_order_relaxed)) {
      changes_.store(e.seq() + 1, std::memory_order_relaxed);
    }
    if (resident >= max_resident_bytes && evictable(e)) {
      sh.spilled = true;  // stays on disk only
      spilled_.store(true, std::memory_order_release);
      return true;
    }
    resident += kEntryOverhead + rec.size();
    sh.entries.emplace(hash, std::move(e));
    return true;
  });
  if (!bad.ok()) return bad;
  return s;
}

void Store::mark_committed(Entry& e, std::size_t v) const {
  if (e.count() == 1) {
    e.set_committed(v);
    return;
  }
  std::vector<Version>& vs = e.multi();
  vs[v].committed = true;
  prune(vs);
  e.compact();
}

PutResult Store::put_entry(Entry& e, const Item& item, bool committed, const ReplicaMeta* meta) {
  if (e.key().empty() && !item.key.empty()) e.set_key(item.key);
  if (auto same = e.find(item.timestamp)) {
    if (committed && !e.committed(*same)) mark_committed(e, *same);
    if (meta) e.mutable_meta() = *meta;
    return PutResult::kDuplicate;
  }
  const auto c = e.newest_committed();
  if (c && item.timestamp < e.ts(*c)) return PutResult::kOlder;
  // A version that was rolled back failed: it must not come back.
  if (e.aborted(item.timestamp)) return PutResult::kOlder;
  const std::string_view value = item.deleted ? std::string_view() : std::string_view(item.value);
  const std::int64_t expires = item.deleted ? 0 : item.expires_ms;
  const std::size_t n = e.count();
  // The usual cases: the first version, or a committed one newer than every
  // version held that leaves nothing else to keep.
  if (n == 0 || (committed && item.timestamp > e.ts(n - 1) && (!keep_history_ || !c))) {
    e.set_single(item.timestamp, value, item.deleted, committed, expires);
  } else if (keep_history_ && committed && n == 2 && e.committed(0) && e.committed(1) &&
             item.timestamp > e.ts(1)) {
    // A replica's steady state: the newest version and the one before it
    // (what prune() would leave of the three).
    e.replace_oldest(item.timestamp, value, item.deleted, expires);
  } else {
    std::vector<Version>& vs = e.multi();
    auto pos = std::upper_bound(vs.begin(), vs.end(), item.timestamp,
                                [](std::int64_t ts, const Version& x) { return ts < x.ts; });
    vs.insert(pos, Version{std::string(value), item.timestamp, item.deleted, committed, expires});
    prune(vs);
    e.compact();
  }
  if (meta) e.mutable_meta() = *meta;
  return PutResult::kApplied;
}

CommitResult Store::commit(const Id& hash, std::int64_t ts) {
  Shard& s = shard(hash);
  std::lock_guard lock(s.mu);
  auto it = locate(s, hash);
  if (it == s.entries.end()) return CommitResult::kMissing;
  Entry& e = it->second;
  auto c = e.newest_committed();
  auto v = e.find(ts);
  if (!v) {
    // Dropped because a newer version committed first: it lost anyway.
    return c && e.ts(*c) > ts ? CommitResult::kSuperseded : CommitResult::kMissing;
  }
  if (c && e.ts(*c) > ts) {
    erase_version(e, *v);  // pending: not visible
    record(hash, e);
    return CommitResult::kSuperseded;
  }
  const Usage before = visible_usage(e);
  mark_committed(e, *v);
  account(s, before, visible_usage(e));
  e.set_seq(changes_.fetch_add(1, std::memory_order_acq_rel) + 1);
  record(hash, e);
  return CommitResult::kCommitted;
}

bool Store::rollback(const Id& hash, std::int64_t ts) {
  Shard& s = shard(hash);
  std::lock_guard lock(s.mu);
  Entry& e = locate_or_add(s, hash);
  e.add_aborted(ts);
  auto v = e.find(ts);
  if (!v) {
    record(hash, e);
    return false;
  }
  const Usage before = visible_usage(e);
  erase_version(e, *v);
  account(s, before, visible_usage(e));
  e.set_seq(changes_.fetch_add(1, std::memory_order_acq_rel) + 1);
  record(hash, e);
  return true;
}

std::optional<Item> Store::get(const Id& hash) const {
  Shard& s = shard(hash);
  std::lock_guard lock(s.mu);
  auto it = locate(s, hash);
  if (it == s.entries.end()) return std::nullopt;
  auto c = it->second.newest_committed();
  if (!c) return std::nullopt;
  return to_item(hash, it->second, *c);
}

std::optional<Item> Store::newest(const Id& hash) const {
  Shard& s = shard(hash);
  std::lock_guard lock(s.mu);
  auto it = locate(s, hash);
  if (it == s.entries.end() || it->second.count() == 0) return std::nullopt;
  return to_item(hash, it->second, it->second.count() - 1);
}

std::vector<StoredVersion> Store::versions(const Id& hash) const {
  Shard& s = shard(hash);
  std::lock_guard lock(s.mu);
  std::vector<StoredVersion> out;
  auto it = locate(s, hash);
  if (it == s.entries.end()) return out;
  const Entry& e = it->second;
  for (std::size_t i = 0; i < e.count(); ++i) {
    out.push_back(StoredVersion{to_item(hash, e, i), e.committed(i)});
  }
  return out;
}

std::optional<ReplicaMeta> Store::meta(const Id& hash) const {
  Shard& s = shard(hash);
  std::lock_guard lock(s.mu);
  auto it = locate(s, hash);
  if (it == s.entries.end()) return std::nullopt;
  return it->second.meta();
}

bool Store::erase_if_not_newer(const Id& hash, std::int64_t ts) {
  Shard& s = shard(hash);
  std::lock_guard lock(s.mu);
  auto it = locate(s, hash);
  if (it == s.entries.end()) return false;
  const Entry& e = it->second;
  if (e.count() > 0 && e.ts(e.count() - 1) > ts) return false;
  erase_entry(s, it);
  record_erase(hash);
  return true;
}

void Store::adopt(std::vector<Item>& items) {
  std::vector<bool> keep(items.size(), true);
  by_shard(items, [&](Shard& s, std::size_t i, JournalBatch& batch) {
    Item& item = items[i];
    Entry& e = locate_or_add(s, item.hash);
    put_locked(s, item.hash, e, item, /*committed=*/true, nullptr, &batch);
    auto c = e.newest_committed();
    if (!c) {
      keep[i] = false;
    } else if (e.ts(*c) != item.timestamp) {
      item = to_item(item.hash, e, *c);
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
  by_shard(items, [&](Shard& s, std::size_t i, JournalBatch& batch) {
    auto it = locate(s, items[i].hash);
    if (it == s.entries.end()) return;
    const Entry& e = it->second;
    if (e.count() > 0 && e.ts(e.count() - 1) > items[i].timestamp) return;
    if (items[i].seen != 0 && e.seq() != items[i].seen) return;
    erase_entry(s, it);
    record_erase(items[i].hash, &batch);
    gone[i] = true;
  });
  if (!erased) return;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (gone[i]) erased->push_back(items[i].hash);
  }
}

void Store::move_to(Store& dest, const std::vector<Item>& items, const ReplicaMeta& meta,
                    std::vector<Id>* erased) {
  if (&dest == this) return;
  std::vector<bool> gone(items.size(), false);
  by_shard(
      items,
      [&](Shard& s, std::size_t i, JournalBatch& batch) {
        const Item& item = items[i];
        auto it = locate(s, item.hash);
        if (it == s.entries.end()) return;
        Entry& e = it->second;
        if (e.count() > 0 && e.ts(e.count() - 1) > item.timestamp) return;
        if (item.seen != 0 && e.seq() != item.seen) return;
        gone[i] = true;
        Shard& d = dest.shard(item.hash);
        auto there = dest.locate(d, item.hash);
        if (there == d.entries.end() && e.count() == 1 && e.committed(0)) {
          // The entry itself moves: nothing to allocate or copy.
          const Usage usage = visible_usage(e);
          auto node = s.entries.extract(it);
          account(s, usage, {});
          if (s.spilled || s.tracking) s.entries.try_emplace(item.hash);  // a marker
          node.mapped().mutable_meta() = meta;
          node.mapped().set_seq(dest.changes_.fetch_add(1, std::memory_order_acq_rel) + 1);
          account(d, {}, usage);
          record_erase(item.hash, &batch);
          dest.record(item.hash, node.mapped(), &batch);
          d.entries.erase(item.hash);  // a marker, if any (its erase is queued before)
          d.entries.insert(std::move(node));
          return;
        }
        if (auto c = e.newest_committed()) {
          if (there == d.entries.end()) there = d.entries.try_emplace(item.hash).first;
          dest.put_locked(d, item.hash, there->second, to_item(item.hash, e, *c),
                          /*committed=*/true, &meta, &batch);
        }
        erase_entry(s, it);
        record_erase(item.hash, &batch);
      },
      &dest);
  if (!erased) return;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (gone[i]) erased->push_back(items[i].hash);
  }
}

bool Store::erase_replica(const Id& hash, const std::optional<Id>& master) {
  Shard& s = shard(hash);
  std::lock_guard lock(s.mu);
  auto it = locate(s, hash);
  if (it == s.entries.end()) return false;
  const ReplicaMeta& meta = it->second.meta();
  if (master && meta.master && meta.master->id != *master) return false;
  erase_entry(s, it);
  record_erase(hash);
  return true;
}

bool Store::refresh(const Id& hash, std::int64_t ts, const Vnode& master, std::int64_t now_ns) {
  Shard& s = shard(hash);
  std::lock_guard lock(s.mu);
  auto it = locate(s, hash);
  if (it == s.entries.end()) return false;
  Entry& e = it->second;
  auto c = e.newest_committed();
  if (!c || e.ts(*c) < ts) return false;
  ReplicaMeta& meta = e.mutable_meta();
  const bool moved = meta.master != master;
  meta.master = master;
  meta.refreshed_ns = now_ns;
  // The refresh time alone is not worth a write (load() renews it): only a
  // change of master is; an eviction writes it before the entry leaves.
  if (moved) {
    record(hash, e);
  } else {
    e.set_unsaved(true);
  }
  return true;
}

void Store::begin_walk(Shard& s) {
  s.walking = true;
  s.walk_spilled = s.spilled;
  s.read_in_walk.clear();
  s.evicted_in_walk.clear();
}

std::vector<HashSpan> arc_spans(const Id& a, const Id& b) {
  if (a < b) return {HashSpan{a, true, b}};
  return {HashSpan{a, true, Id::max()}, HashSpan{Id(), false, b}};
}

template <typename Fn>
void Store::walk_disk(Fn fn, const std::vector<HashSpan>* spans,
                      const std::function<bool(const Id&)>* past) const {
  static const std::vector<HashSpan> kAll{HashSpan{}};
  // Nothing left memory before the memory passes ended: they saw it all.
  for (const HashSpan& span : on_disk() ? (spans ? *spans : kAll) : std::vector<HashSpan>()) {
    // Without waiting for the queue: an entry left memory only once its
    // record was applied, and removals since are markers in memory.
    const Status scanned = journal_->scan(
        table_, span.from,
        [&](const Id& hash, std::string_view rec) {
          if (span.to < hash) return false;
          if (span.after && hash == span.from) return true;
          if (past && (*past)(hash)) return false;
          Shard& s = shard(hash);
          std::lock_guard lock(s.mu);
          // Not spilled at its memory pass: that pass saw every entry (one
          // evicted since was seen there).
          if (!s.walk_spilled) return true;
          if (auto it = s.entries.find(hash); it != s.entries.end()) {
            // Seen in memory, unless read back after its shard's memory pass.
            if (s.read_in_walk.contains(hash)) fn(s, hash, it->second);
            return true;
          }
          thread_local std::string current;
          if (s.read_in_walk.contains(hash)) {
            // Read back after the memory pass (not seen there) and evicted
            // again: its record now may be newer than this scan's.
            if (!journal_->get(table_, hash, current)) return true;
            rec = current;
          } else if (s.evicted_in_walk.contains(hash)) {
            return true;  // in memory at the memory pass: seen there
          }
          Entry e;
          if (!read_back(rec, e)) return true;  // load() checked every record
          fn(s, hash, e);
          return true;
        },
        /*wait_for_queue=*/false);
    // A failed read also shows in journal_->error() (writes are refused).
    (void)scanned;
  }
  for (Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    s.walking = false;
    s.read_in_walk.clear();
    s.evicted_in_walk.clear();
  }
}

template <typename Visit>
void Store::visit_all(Visit visit, const std::vector<HashSpan>* spans,
                      const std::function<bool(const Id&)>* past) const {
  std::lock_guard walk(walk_mu_);
  for (Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    for (const auto& [hash, e] : s.entries) visit(hash, e);
    if (journal_) begin_walk(s);
  }
  if (journal_) {
    walk_disk([&](Shard&, const Id& hash, const Entry& e) { visit(hash, e); }, spans, past);
  }
}

Store::Page Store::select_first(const std::optional<Id>& after, std::size_t limit,
                                const Filter& filter, bool with_values,
                                const std::vector<HashSpan>* spans) const {
  // A max-heap by hash of the smallest `limit` + 1 seen (the extra one tells
  // that more exist).
  const auto by_hash = [](const Item& a, const Item& b) { return a.hash < b.hash; };
  std::vector<Item> heap;
  const std::size_t keep = limit == std::numeric_limits<std::size_t>::max() ? limit : limit + 1;
  const std::function<bool(const Id&)> past = [&](const Id& hash) {
    return heap.size() == keep && heap.front().hash < hash;
  };
  visit_all(
      [&](const Id& hash, const Entry& e) {
        if ((after && !(*after < hash)) || past(hash)) return;
        auto c = e.newest_committed();
        if (!c) return;
        Item item{std::string(e.key()), hash, std::string(), e.ts(*c), e.deleted(*c),
                  e.expires_ms(*c)};
        if (!filter(item, e.meta())) return;
        if (with_values) item.value = std::string(e.value(*c));
        heap.push_back(std::move(item));
        std::push_heap(heap.begin(), heap.end(), by_hash);
        if (heap.size() > keep) {
          std::pop_heap(heap.begin(), heap.end(), by_hash);
          heap.pop_back();
        }
      },
      spans, &past);
  std::sort_heap(heap.begin(), heap.end(), by_hash);
  Page page;
  page.more = heap.size() > limit;
  if (page.more) heap.pop_back();
  page.items = std::move(heap);
  return page;
}

std::vector<Item> Store::select(const Filter& filter, const std::vector<HashSpan>* spans) const {
  std::vector<Item> out;
  visit_all(
      [&](const Id& hash, const Entry& e) {
        auto c = e.newest_committed();
        if (!c) return;
        Item item = to_item(hash, e, *c);
        if (filter(item, e.meta())) out.push_back(std::move(item));
      },
      spans);
  return out;
}

std::vector<Item> Store::select_hashes(const std::function<bool(const Id&)>& filter,
                                       const std::vector<HashSpan>* spans) const {
  std::vector<Item> out;
  visit_all(
      [&](const Id& hash, const Entry& e) {
        if (!filter(hash)) return;
        if (auto c = e.newest_committed()) {
          out.push_back(to_item(hash, e, *c));
          out.back().seen = e.seq();
        }
      },
      spans);
  return out;
}

std::vector<std::pair<Id, std::int64_t>> Store::stamps() const {
  std::vector<std::pair<Id, std::int64_t>> out;
  visit_all([&](const Id& hash, const Entry& e) {
    if (auto c = e.newest_committed()) out.emplace_back(hash, e.ts(*c));
  });
  return out;
}

std::size_t Store::collect(std::int64_t now_ns, std::int64_t tombstone_grace_ns,
                           std::int64_t history_grace_ns) {
  std::size_t erased = 0;
  const std::int64_t now_ms = now_ns / 1'000'000;
  JournalBatch batch;
  std::lock_guard walk(walk_mu_);
  auto write_batch = [&] {
    if (journal_ && !batch.empty()) {
      journal_->write(batch);
      batch.ops.clear();
    }
  };
  for (Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    for (auto it = s.entries.begin(); it != s.entries.end();) {
      Entry& e = it->second;
      const Usage before = visible_usage(e);
      auto c = e.newest_committed();
      const std::size_t marks = e.aborted_marks().size();
      if (e.count() == 0 && marks == 0) {
        // A marker of an entry removed (its erase is recorded), or nothing.
        if (!s.spilled && !s.tracking)
          s.entries.erase(it++);
        else
          ++it;
        continue;
      }
      bool changed = false;
      if (c && *c > 0 && e.ts(*c) < now_ns - history_grace_ns) {
        std::vector<Version>& vs = e.multi();
        vs.erase(vs.begin(), vs.begin() + static_cast<std::ptrdiff_t>(*c));
        e.compact();
        c = 0;
        changed = true;
      }
      if (c && *c + 1 == e.count() && !e.deleted(*c) && expired_at(e.expires_ms(*c), now_ms)) {
        // Expired: the version stays (last write wins against older copies)
        // as a tombstone of the same timestamp, without its value.
        if (e.count() == 1) {
          e.set_single(e.ts(0), {}, true, true, 0);
        } else {
          Version& v = e.multi()[*c];
          v = Version{std::string(), v.ts, true, true, 0};
        }
        changed = true;
      }
      const bool dead = c && *c + 1 == e.count() && e.deleted(*c) && tombstone_grace_ns > 0 &&
                        e.ts(*c) < now_ns - tombstone_grace_ns;
      const bool no_marks = tombstone_grace_ns > 0
                                ? e.expire_aborted(now_ns - tombstone_grace_ns)
                                : e.expire_aborted(std::numeric_limits<std::int64_t>::min());
      if (dead || (e.count() == 0 && no_marks)) {
        account(s, before, {});
        record_erase(it->first, &batch);
        if (s.spilled || s.tracking) {
          e = Entry();  // a marker
          ++it;
        } else {
          s.entries.erase(it++);  // erasing leaves the other iterators valid
        }
        ++erased;
      } else {
        account(s, before, visible_usage(e));
        if (changed || e.aborted_marks().size() != marks) record(it->first, e, &batch);
        ++it;
      }
    }
    write_batch();
    if (journal_) begin_walk(s);
  }
  if (journal_ && tombstone_grace_ns > 0) {
    // On disk only are single committed versions: a tombstone (or an expired
    // value) old enough goes.
    walk_disk([&](Shard& s, const Id& hash, Entry& e) {
      if (e.count() != 1 || !e.committed(0) ||
          !(e.deleted(0) || expired_at(e.expires_ms(0), now_ms)) ||
          e.ts(0) >= now_ns - tombstone_grace_ns) {
        return;
      }
      // The usage counts entries on disk too: an expired value leaves it.
      if (auto it = s.entries.find(hash); it != s.entries.end()) {
        account(s, visible_usage(it->second), {});
        it->second = Entry();  // read back during this walk: now a marker
      } else {
        account(s, visible_usage(e), {});
        s.entries.try_emplace(hash);  // a marker until the erase is on disk
      }
      // Queued now, under the shard's lock: a write of the key after it is
      // queued after it.
      record_erase(hash);
      ++erased;
    });
  } else if (journal_) {
    walk_disk([](Shard&, const Id&, Entry&) {});
  }
  return erased;
}

std::size_t Store::evict(std::size_t want) {
  if (!journal_ || want == 0) return 0;
  std::lock_guard one(evict_mu_);
  // What was recorded before this point reaches the disk with the drain;
  // what is recorded after it is tracked, and stays.
  for (Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    s.tracking = true;
    s.touched.clear();
  }
  const bool drained = journal_->drain().ok();
  const std::size_t per_shard = want / kShards + 1;
  std::size_t evicted = 0;
  for (Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    if (drained) {
      std::sort(s.touched.begin(), s.touched.end());
      std::vector<Map::iterator> unsaved;
      std::size_t n = 0;
      for (auto it = s.entries.begin(); it != s.entries.end() && n < per_shard;) {
        Entry& e = it->second;
        if (!evictable(e) || std::binary_search(s.touched.begin(), s.touched.end(), it->first)) {
          ++it;
        } else if (e.used()) {
          e.set_used(false);  // spared once
          ++it;
        } else if (e.unsaved()) {
          unsaved.push_back(it);  // its refresh time first; it goes with a later pass
          ++it;
        } else {
          if (s.walking) s.evicted_in_walk.insert(it->first);
          s.entries.erase(it++);
          ++n;
        }
      }
      // After the loop: recording notes hashes in `touched`, searched above.
      for (Map::iterator u : unsaved) {
        record(u->first, u->second);
        u->second.set_unsaved(false);
      }
      if (n > 0) {
        s.spilled = true;
        spilled_.store(true, std::memory_order_release);
      }
      evicted += n;
    }
    s.tracking = false;
    s.touched.clear();
  }
  return evicted;
}

std::size_t Store::resident_entries() const {
  std::size_t n = 0;
  for (Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    n += s.entries.size();
  }
  return n;
}

std::size_t Store::entry_bytes() const {
  const Usage u = usage();
  return kEntryOverhead + (u.items == 0 ? 0 : u.bytes / u.items);
}

std::size_t Store::resident_bytes() const {
  return resident_entries() * entry_bytes();
}

Store::Usage Store::usage() const {
  Usage u;
  for (Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    u.items += s.usage.items;
    u.bytes += s.usage.bytes;
    u.expiring += s.usage.expiring;
  }
  return u;
}

std::size_t Store::size() const {
  std::size_t n = 0;
  visit_all([&](const Id&, const Entry& e) { n += e.count() == 0 ? 0 : 1; });
  return n;
}

}  // namespace dendrite::dtable
