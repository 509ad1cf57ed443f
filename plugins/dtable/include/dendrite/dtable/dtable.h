// The dtable service: the replicated key/value store as other plugins and
// embedding applications use it, through the SDK's named-service lookup:
//
//   auto table = host.get_service<dendrite::dtable::Table>(dendrite::dtable::kServiceName);
//   if (table.ok()) {
//     Status s = (*table)->query().consistency(2).set("user:42", "Ada");
//     Result<std::string> v = (*table)->query().get("user:42");  // NotFound when absent
//   }
//
// Header-only interface; the implementation lives in the dtable plugin. Only
// SDK types and the standard library appear here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "dendrite/dtable/mutation.h"
#include "dendrite/host.h"
#include "dendrite/status.h"
#include "dendrite/vnode.h"

namespace dendrite::dtable {

// The name the plugin publishes its Table under.
inline constexpr std::string_view kServiceName = "dtable";

// Per-call options.
struct Options {
  // Copies (primary included) that must hold a write before it succeeds, or
  // that a read consults (newest wins, stale copies are repaired).
  // 1 .. replicas + 1; anything else is InvalidArgument naming the maximum.
  int consistency = 1;
  // Bound of one request to a node; 0 = the host's request timeout. A write
  // may take up to about twice this (the primary waits for its replicas).
  Milliseconds timeout{0};
};

// A key and its value (set_multi).
struct KeyValue {
  std::string key;
  std::string value;
};

// A write committed in a primary table of this host by a set or del
// (replica copies and keys moved by migration do not count).
struct WriteEvent {
  std::string key;
  std::string value;  // empty for a delete
  bool deleted = false;
  std::int64_t timestamp = 0;   // hybrid-clock ns assigned by the primary
  Vnode vnode;                  // the local vnode that owns the key
  std::int64_t expires_ms = 0;  // when the value expires (Unix ms); 0: never
};

// Called after each such write, on the thread that completed it (a transport
// worker, the transport's I/O thread when the write waited for replica
// answers, the journal's thread when it waited for the disk, or the caller of
// set_here()), with no lock of dtable held, just before the write's reply.
// Must be thread-safe and quick (it delays that reply and the I/O thread), and
// must not call remove_write_hook() or write through the Table itself (hand
// such work to another thread).
using WriteHook = std::function<void(const WriteEvent&)>;
using HookId = std::uint64_t;

// Where a copy of a key sits on this host (for tests and diagnostics).
struct StoredCopy {
  enum class Role { kPrimary, kReplica };
  Vnode vnode;
  Role role = Role::kPrimary;
  std::string key;
  std::string value;
  std::int64_t timestamp = 0;
  bool deleted = false;         // a tombstone
  bool committed = false;       // visible to reads
  std::int64_t expires_ms = 0;  // when the value expires (Unix ms); 0: never
};

// How many keys have their primary copy on a host, and how many of those
// values have an expiry (Table::local_key_counts()).
struct KeyCounts {
  std::size_t keys = 0;
  std::size_t expiring = 0;
};

// One page of a walk over every key of the table (Table::scan).
struct ScanPage {
  std::vector<std::string> keys;  // live keys in key-hash order, none twice in a page
  std::uint64_t cursor = 0;       // where the next page starts; 0: the walk is over
};

// A live value and its expiry (Table::get_entry).
struct ValueWithExpiry {
  std::string value;
  std::int64_t expires_ms = 0;  // Unix ms; 0: never
};

// What one asynchronous attempt of Table::get_entry_async() or set_async()
// brought: `result` is the answer when `go_on` is empty. Otherwise the
// blocking call would go on (the primary did not answer, no longer owns the
// key, or refused the request before acting on it): `result` is that
// attempt's failure, and the caller calls go_on() once, on a thread that may
// block, while it still holds the Table. go_on() continues from this attempt
// as get_entry() or set() would (a read asks the replicas when the primary
// did not answer; both route afresh and retry) and returns the final result.
template <typename T>
struct AsyncAttempt {
  T result;
  std::function<T()> go_on;
};

class Query;

// The replicated table. Every method is thread-safe and blocking (bounded by
// the options' timeout, with a few retries on a changing ring), except the
// *_here and *_async calls, which never wait for another host; none throws.
// Lifetime: owned by the dtable plugin; a consumer takes it in its start() and
// must drop its shared_ptr in its stop(). After dtable stopped, calls return
// Unavailable (the *_here and *_async calls decline: they return false).
// Common errors: InvalidArgument (empty key, consistency out of range),
// ConsistencyNotMet (fewer copies than asked; a failed write is rolled back and
// stays invisible), Timeout / Unavailable (the ring could not be reached).
class Table {
 public:
  virtual ~Table() = default;

  // Writes `value` under `key` (last write wins by the primary's timestamp).
  virtual Status set(std::string_view key, std::string_view value, const Options& options) = 0;
  // The newest committed value of `key`; NotFound when absent or deleted. Falls
  // back to the replicas when the primary does not answer.
  virtual Result<std::string> get(std::string_view key, const Options& options) = 0;
  // Deletes `key` (a tombstone that outlives failovers and migrations).
  // Deleting an absent key succeeds.
  virtual Status del(std::string_view key, const Options& options) = 0;

  // set() for each item, batched per primary; one Status per item, in order.
  virtual std::vector<Status> set_multi(const std::vector<KeyValue>& items,
                                        const Options& options) = 0;
  // get() for each key, batched per primary; one result per key, in order.
  virtual std::vector<Result<std::string>> get_multi(const std::vector<std::string>& keys,
                                                     const Options& options) = 0;

  // The keys whose primary copy is on this host (deleted ones excluded), sorted.
  // Local only: no network.
  virtual std::vector<std::string> local_keys() const = 0;

  // One page of a walk over every live key of the ring, in key-hash order:
  // the keys whose hash's first 64 bits are at least `cursor` (0 starts the
  // walk; scan_cursor.h), about `count` of them (a hint: a page may hold more,
  // or fewer, even none while the walk goes on). The cursor is a position in
  // the hash space, not a node, so a walk survives nodes joining and leaving:
  // a key present for the whole walk is listed at least once (maybe twice, in
  // different pages); one written or deleted during it may or may not be.
  // Reads every host's primary and replica tables, so a dead host's keys are
  // found on their replicas; each request to a host waits options.timeout at
  // most (default: the host's timeout). Errors: InvalidArgument (count 0),
  // Unavailable when more hosts than `replicas` did not answer (keys could be
  // missing).
  virtual Result<ScanPage> scan(std::uint64_t cursor, std::size_t count,
                                const Options& options) = 0;

  // Every copy of `key` held on this host, primary and replica tables, with
  // every version kept. Local only; for tests and diagnostics.
  virtual std::vector<StoredCopy> stored_copies(std::string_view key) const = 0;

  // The largest consistency level: replicas + 1.
  virtual int max_consistency() const = 0;

  // Registers a write hook (the original's CaptureKeyHook). Returns its id.
  virtual HookId add_write_hook(WriteHook hook) = 0;
  // Unregisters it; once this returns, the hook is not called again. Unknown
  // ids are ignored.
  virtual void remove_write_hook(HookId id) = 0;

  // Added after the functions above: new virtual functions go last, so the
  // existing ones keep their places in the virtual table. (That alone does
  // not make old consumers safe: StoredCopy and WriteEvent grew too; rebuild
  // consumers against the header of the dtable they load.)
  // get() with the value's expiry.
  virtual Result<ValueWithExpiry> get_entry(std::string_view key, const Options& options) = 0;
  // Applies `m` to `key` at its primary (Mutation). Errors as set()'s, and
  // InvalidArgument when the current value is not a number kIncrBy or
  // kIncrByFloat can add to, the result overflows or is not finite, or the
  // value would exceed the size limit. A primary that does not know
  // mutations (an original node): Unavailable naming that host.
  virtual Result<MutationResult> mutate(std::string_view key, const Mutation& m,
                                        const Options& options) = 0;

  // The fast path of front ends that must not park a thread per call. Starts
  // get_entry() without blocking when it needs no other host: the key's
  // primary copy is on this host (its vnode not settling) and
  // options.consistency is 1. Then `done` runs exactly once with
  // get_entry()'s result, on the calling thread before this returns, and
  // this returns true. Otherwise returns false without calling `done`; call
  // get_entry() instead. Any thread. The default (for other implementations)
  // returns false.
  virtual bool get_entry_here(std::string_view /*key*/, const Options& /*options*/,
                              const std::function<void(Result<ValueWithExpiry>)>& /*done*/) {
    return false;
  }
  // set() likewise, when the key's primary copy is on this host and
  // options.consistency is 1: returns true and `done` runs exactly once with
  // set()'s result, on the calling thread before this returns, or later on a
  // dtable thread (the journal's once the write is on disk; a transport
  // thread when strict writes wait for the key's true holders); `done` must
  // not block then, and copies of it may be destroyed on that thread.
  // Otherwise false, `done` never runs: call set(). The default returns false.
  // Neither call waits for another host; on a node with a journal both may
  // wait for the local disk (a write for room in a full journal queue, a
  // read for an entry that lives on disk only).
  virtual bool set_here(std::string_view /*key*/, std::string_view /*value*/,
                        const Options& /*options*/, std::function<void(Status)> /*done*/) {
    return false;
  }

  // get_entry() without blocking the calling thread, for front ends that
  // serve many clients from one thread: sends one request to the key's
  // primary, at any consistency, and returns true; `done` then runs exactly
  // once, on a host thread with the primary's answer or the attempt's
  // failure (it must not block, and copies of it may be destroyed there), or
  // on the calling thread before this returns: invalid input (final), or a
  // transport that is stopping (Unavailable, with go_on). Returns false
  // without calling `done` when this node cannot tell the key's primary
  // without asking others, or the primary is not known to be a node of this
  // implementation (an original node takes its writes one at a time); call
  // get_entry() then. Any thread. The default (for other implementations)
  // returns false.
  virtual bool get_entry_async(
      std::string_view /*key*/, const Options& /*options*/,
      std::function<void(AsyncAttempt<Result<ValueWithExpiry>>)> /*done*/) {
    return false;
  }
  // set() likewise: one request to the key's primary; false when it cannot
  // be sent without blocking (then call set()). A write whose attempt got no
  // answer may have been applied; go_on() writing it again is harmless (last
  // write wins). The default returns false.
  virtual bool set_async(std::string_view /*key*/, std::string_view /*value*/,
                         const Options& /*options*/,
                         std::function<void(AsyncAttempt<Status>)> /*done*/) {
    return false;
  }

  // How many keys local_keys() would list, and how many of their values have
  // an expiry, without listing them (what Redis's INFO keyspace shows). An
  // implementation may count a value past its expiry until it collects it.
  // Local only; any thread. The default counts local_keys() and no expiries.
  virtual KeyCounts local_key_counts() const { return {local_keys().size(), 0}; }

  // A query with default options: table.query().consistency(2).set(k, v).
  Query query();
};

// Options builder over a Table. Cheap value type; the Table must outlive it.
class Query {
 public:
  explicit Query(Table& table) : table_(&table) {}

  Query& consistency(int n) {
    options_.consistency = n;
    return *this;
  }
  Query& timeout(Milliseconds t) {
    options_.timeout = t;
    return *this;
  }

  Status set(std::string_view key, std::string_view value) {
    return table_->set(key, value, options_);
  }
  Result<std::string> get(std::string_view key) { return table_->get(key, options_); }
  Status del(std::string_view key) { return table_->del(key, options_); }
  Result<ValueWithExpiry> get_entry(std::string_view key) {
    return table_->get_entry(key, options_);
  }
  Result<MutationResult> mutate(std::string_view key, const Mutation& m) {
    return table_->mutate(key, m, options_);
  }
  std::vector<Status> set_multi(const std::vector<KeyValue>& items) {
    return table_->set_multi(items, options_);
  }
  std::vector<Result<std::string>> get_multi(const std::vector<std::string>& keys) {
    return table_->get_multi(keys, options_);
  }
  Result<ScanPage> scan(std::uint64_t cursor, std::size_t count) {
    return table_->scan(cursor, count, options_);
  }
  const Options& options() const { return options_; }

 private:
  Table* table_;
  Options options_;
};

inline Query Table::query() {
  return Query(*this);
}

}  // namespace dendrite::dtable
