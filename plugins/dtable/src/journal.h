// Where dtable's tables are written through to so that they outlive the
// process: an ordered map of records keyed by (table, key hash), each record
// the whole state of one key in one table (store_record.h), with a durability
// barrier for acknowledgements. RocksDB implements it (rocksdb_journal.h); a
// Store without a journal keeps its data in memory only.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "dendrite/id.h"
#include "dendrite/status.h"

namespace dendrite::dtable {

// One table of one local vnode.
struct TableId {
  enum class Kind : char { kPrimary = 'p', kReplica = 'r' };
  std::uint16_t vnode = 0;  // the vnode's index among the node's local vnodes
  Kind kind = Kind::kPrimary;
};

// Changes applied together (one log record): what a Store batch operation
// (hand-over, collection) changed under one shard lock.
struct JournalBatch {
  struct Op {
    TableId table;
    Id hash;
    std::string record;  // empty: erase
  };
  std::vector<Op> ops;

  void put(TableId table, const Id& hash, std::string record) {
    ops.push_back(Op{table, hash, std::move(record)});
  }
  void erase(TableId table, const Id& hash) { ops.push_back(Op{table, hash, {}}); }
  bool empty() const { return ops.empty(); }
};

// Thread-safe. Writes are queued (they wait only while the queue is over its
// bound), and after_sync() says when they reached the operating system
// (periodic: a killed process then loses nothing of them) or the disk
// (always).
class Journal {
 public:
  virtual ~Journal() = default;

  // Records `record` as the state of `hash` in `table`. Callers hold the
  // key's Store shard lock, so the changes of one key are recorded in the
  // order they were made. A failure turns error() non-OK.
  virtual void put(TableId table, const Id& hash, std::string_view record) = 0;
  // Erases the record of `hash` in `table` (absent: nothing).
  virtual void erase(TableId table, const Id& hash) = 0;
  // Applies every op of `batch` at once.
  virtual void write(const JournalBatch& batch) = 0;

  // OK, or why changes are not being recorded now (disk full, I/O error):
  // set by the first failed write or sync, cleared once the engine recovered.
  virtual Status error() const = 0;

  // Calls `done` once every change recorded before this call is as durable
  // as the sync policy promises: with "always" once the log is written out
  // and synced, with "periodic" once it is written out (one round serves
  // every waiter: a group commit).
  // `done` gets error() when changes could not be recorded or synced. Runs
  // on the journal's thread or on the caller's; must not block.
  virtual void after_sync(std::function<void(Status)> done) = 0;

  // Calls `fn` with each record of `table` in key-hash order, from `from`
  // (inclusive) while `fn` returns true; sees every change queued before the
  // call (drain()), or with `wait_for_queue` false what is applied (and
  // then does not fail for a failed engine). Fails on an unreadable record
  // store.
  virtual Status scan(TableId table, const Id& from,
                      const std::function<bool(const Id&, std::string_view)>& fn,
                      bool wait_for_queue = true) const = 0;

  // Reads the record of `hash` in `table` into `out` as applied so far:
  // changes still queued are not seen (drain() first, or read only keys
  // whose last change was drained). False when there is none. A read that
  // fails (I/O error, corruption) turns error() non-OK and reads as none.
  virtual bool get(TableId table, const Id& hash, std::string& out) const = 0;

  // Returns once every change queued before the call is applied (get() and
  // scan() see it), or why it cannot be (the engine failed, or closed).
  virtual Status drain() const = 0;

  // Writes a consistent copy of every table (with every change queued before
  // the call) into `dir`, which must not exist
  // yet and should be on the same file system (files are hard-linked).
  virtual Status checkpoint(const std::string& dir) = 0;

  // Syncs what was written, answers every waiting after_sync() and stops
  // the journal's thread; later after_sync() calls answer at once.
  // Idempotent. Called from the plugin's stop() (so that no callback of it
  // outlives the plugin), never from an after_sync() callback.
  virtual void close() = 0;

  // What the engine holds in memory, bytes (estimates; any thread).
  struct Memory {
    std::uint64_t write_buffers = 0;  // memtables, the active and those being flushed
    std::uint64_t table_readers = 0;  // the open table files' indexes and filters
    std::uint64_t block_cache = 0;    // data blocks read
    std::uint64_t queue = 0;          // changes queued for the journal's thread
  };
  virtual Memory memory() const = 0;

  // How the write queue's bound held since the journal opened.
  struct QueueStats {
    std::uint64_t peak_bytes = 0;  // the most queued at once
    // Writes that waited for room as long as a writer may and then went on
    // (each adds at most one change beyond the bound).
    std::uint64_t waits_given_up = 0;
  };
  virtual QueueStats queue_stats() const = 0;

  // The directory the journal lives in.
  virtual const std::string& path() const = 0;
};

}  // namespace dendrite::dtable
