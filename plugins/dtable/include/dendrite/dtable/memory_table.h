// An in-memory dtable::Table for plugin tests: what a plugin finds as the
// "dtable" service when a test publishes one on a FakeHost, without a ring.
//
//   auto table = std::make_shared<dendrite::dtable::MemoryTable>();
//   host.publish_service(std::string(dendrite::dtable::kServiceName), table);
//
// One copy per key on "this host"; consistency levels are checked against
// max_consistency() but otherwise have no effect. Expiries are compared with
// the clock given (the wall clock by default; a test may pass its own).
// Mutations run decide_mutation(), as dtable's primaries do. Write hooks run
// after each write, as dtable's do. Thread-safe; header-only.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "dendrite/dtable/dtable.h"
#include "dendrite/dtable/scan_cursor.h"

namespace dendrite::dtable {

class MemoryTable final : public Table {
 public:
  // Unix time in ms.
  using Clock = std::function<std::int64_t()>;

  // `max_consistency`: what max_consistency() answers (replicas + 1).
  // `now_ms`: the clock expiries are compared with.
  explicit MemoryTable(int max_consistency = 3, Clock now_ms = unix_now_ms)
      : max_consistency_(max_consistency), now_ms_(std::move(now_ms)) {}

  Status set(std::string_view key, std::string_view value, const Options& options) override {
    if (Status s = check(key, options); !s.ok()) return s;
    return commit(key, value, false, 0);
  }
  Result<std::string> get(std::string_view key, const Options& options) override {
    auto e = get_entry(key, options);
    if (!e.ok()) return e.status();
    return std::move(e->value);
  }
  Result<ValueWithExpiry> get_entry(std::string_view key, const Options& options) override {
    if (Status s = check(key, options); !s.ok()) return s;
    std::lock_guard lock(mu_);
    auto it = data_.find(std::string(key));
    if (it == data_.end() || !live(it->second)) return Status::NotFound("key not found");
    return ValueWithExpiry{it->second.value, it->second.expires_ms};
  }
  Result<MutationResult> mutate(std::string_view key, const Mutation& m,
                                const Options& options) override {
    if (Status s = check(key, options); !s.ok()) return s;
    MutationDecision d;
    WriteEvent event;
    {
      std::lock_guard lock(mu_);
      auto it = data_.find(std::string(key));
      const bool is_live = it != data_.end() && live(it->second);
      d = decide_mutation(m, is_live, is_live ? std::string_view(it->second.value) : "",
                          is_live ? it->second.expires_ms : 0, now_ms_());
      if (!d.error.empty()) return Status::InvalidArgument(d.error);
      if (!d.write) return std::move(d.result);
      event = store_locked(key, d.value, d.deleted, d.expires_ms);
    }
    run_hooks(event);
    return std::move(d.result);
  }
  Status del(std::string_view key, const Options& options) override {
    if (Status s = check(key, options); !s.ok()) return s;
    return commit(key, "", true, 0);
  }
  // Every key is here: at consistency 1 both answer on the calling thread.
  bool get_entry_here(std::string_view key, const Options& options,
                      const std::function<void(Result<ValueWithExpiry>)>& done) override {
    if (options.consistency != 1) return false;
    done(get_entry(key, options));
    return true;
  }
  bool set_here(std::string_view key, std::string_view value, const Options& options,
                std::function<void(Status)> done) override {
    if (options.consistency != 1) return false;
    done(set(key, value, options));
    return true;
  }
  std::vector<Status> set_multi(const std::vector<KeyValue>& items,
                                const Options& options) override {
    std::vector<Status> out;
    out.reserve(items.size());
    for (const auto& kv : items) out.push_back(set(kv.key, kv.value, options));
    return out;
  }
  std::vector<Result<std::string>> get_multi(const std::vector<std::string>& keys,
                                             const Options& options) override {
    std::vector<Result<std::string>> out;
    out.reserve(keys.size());
    for (const auto& k : keys) out.push_back(get(k, options));
    return out;
  }
  KeyCounts local_key_counts() const override {
    std::lock_guard lock(mu_);
    KeyCounts counts;
    for (const auto& [k, e] : data_) {
      if (!live(e)) continue;
      ++counts.keys;
      if (e.expires_ms != 0) ++counts.expiring;
    }
    return counts;
  }
  std::vector<std::string> local_keys() const override {
    std::lock_guard lock(mu_);
    std::vector<std::string> keys;
    for (const auto& [k, e] : data_) {
      if (live(e)) keys.push_back(k);
    }
    return keys;  // std::map: already sorted
  }
  // Every live key from `cursor` on, `count` of them and the rest of the last
  // one's bucket; no other node, so no errors but InvalidArgument.
  Result<ScanPage> scan(std::uint64_t cursor, std::size_t count, const Options& options) override {
    if (count == 0) return Status::InvalidArgument("scan count must be at least 1");
    if (Status s = check_consistency(options); !s.ok()) return s;
    std::vector<std::pair<Id, std::string>> live;
    {
      std::lock_guard lock(mu_);
      for (const auto& [k, e] : data_) {
        Id hash = Id::hash(k);
        if (this->live(e) && scan_bucket(hash) >= cursor) live.emplace_back(hash, k);
      }
    }
    std::sort(live.begin(), live.end());
    ScanPage page;
    std::size_t n = std::min(count, live.size());
    while (n < live.size() && scan_bucket(live[n].first) == scan_bucket(live[n - 1].first)) ++n;
    for (std::size_t i = 0; i < n; ++i) page.keys.push_back(std::move(live[i].second));
    if (n < live.size()) page.cursor = scan_bucket(live[n - 1].first) + 1;
    return page;
  }
  std::vector<StoredCopy> stored_copies(std::string_view key) const override {
    std::lock_guard lock(mu_);
    auto it = data_.find(std::string(key));
    if (it == data_.end()) return {};
    StoredCopy c;
    c.key = it->first;
    c.value = it->second.value;
    c.timestamp = it->second.timestamp;
    c.deleted = it->second.deleted;
    c.committed = true;
    c.expires_ms = it->second.expires_ms;
    return {c};
  }
  int max_consistency() const override { return max_consistency_; }
  HookId add_write_hook(WriteHook hook) override {
    std::lock_guard lock(hooks_mu_);
    hooks_.emplace(++next_hook_, std::move(hook));
    return next_hook_;
  }
  void remove_write_hook(HookId id) override {
    std::lock_guard lock(hooks_mu_);
    hooks_.erase(id);
  }

 private:
  struct Entry {
    std::string value;
    std::int64_t timestamp = 0;
    bool deleted = false;
    std::int64_t expires_ms = 0;
  };

  // REQUIRES: mu_.
  bool live(const Entry& e) const {
    return !e.deleted && (e.expires_ms == 0 || e.expires_ms > now_ms_());
  }

  Status check(std::string_view key, const Options& options) const {
    if (key.empty()) return Status::InvalidArgument("key must not be empty");
    return check_consistency(options);
  }
  Status check_consistency(const Options& options) const {
    if (options.consistency < 1 || options.consistency > max_consistency_) {
      return Status::InvalidArgument("consistency " + std::to_string(options.consistency) +
                                     " is out of range: the maximum is " +
                                     std::to_string(max_consistency_) + " (replicas + 1)");
    }
    return Status::Ok();
  }

  // Stores a version of `key` and runs the write hooks.
  Status commit(std::string_view key, std::string_view value, bool deleted,
                std::int64_t expires_ms) {
    WriteEvent event;
    {
      std::lock_guard lock(mu_);
      event = store_locked(key, value, deleted, expires_ms);
    }
    run_hooks(event);
    return Status::Ok();
  }
  // Stores a version of `key`; returns its write event. REQUIRES: mu_.
  WriteEvent store_locked(std::string_view key, std::string_view value, bool deleted,
                          std::int64_t expires_ms) {
    Entry& e = data_[std::string(key)];
    e.value = deleted ? std::string() : std::string(value);
    e.deleted = deleted;
    e.expires_ms = deleted ? 0 : expires_ms;
    e.timestamp = ++clock_;
    WriteEvent event;
    event.key = std::string(key);
    event.value = e.value;
    event.deleted = deleted;
    event.timestamp = e.timestamp;
    event.expires_ms = e.expires_ms;
    return event;
  }
  void run_hooks(const WriteEvent& event) {
    std::lock_guard lock(hooks_mu_);
    for (const auto& [id, hook] : hooks_) hook(event);
  }

  const int max_consistency_;
  const Clock now_ms_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> data_;  // GUARDED_BY(mu_)
  std::int64_t clock_ = 0;             // GUARDED_BY(mu_)
  std::mutex hooks_mu_;
  std::map<HookId, WriteHook> hooks_;  // GUARDED_BY(hooks_mu_)
  HookId next_hook_ = 0;               // GUARDED_BY(hooks_mu_)
};

}  // namespace dendrite::dtable
