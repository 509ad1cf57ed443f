// The tables of dtable. Each local vnode has a primary table (keys it owns)
// and a replica table (copies for other primaries). A key holds a short list
// of versions: the newest committed one is what reads see; newer pending ones
// await their write's outcome (commit or rollback); a replica keeps the
// version before its newest so a rolled-back write restores it. The tables
// live in memory; with a Journal every change of a key is also written
// through to disk as that key's whole state, and load() reads them back.
//
// With a Journal the memory is a cache: evict() lets entries whose state is
// on disk leave memory, and an entry not in memory is read back from the
// journal when a key is used (it stays in memory until evicted again). Walks
// (select, stamps, collect) see the entries on disk too, each once.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>

#include "dendrite/id.h"
#include "dendrite/status.h"
#include "dendrite/vnode.h"
#include "item.h"
#include "journal.h"

namespace dendrite::dtable {

// A part of the key-hash space a walk needs: hashes h with from <= h <= to
// (from < h with `after`), in plain order (no wrap-around).
struct HashSpan {
  Id from;
  bool after = false;
  Id to = Id::max();
};
// The spans of the ring arc (a, b] (a == b: the whole ring).
std::vector<HashSpan> arc_spans(const Id& a, const Id& b);

// Outcome of Store::put.
enum class PutResult {
  kApplied,    // stored as a new version
  kDuplicate,  // that exact version (same timestamp) is already held
  kOlder,      // refused: a newer committed version is held (last write wins)
  kDeclined,   // put_decided(): the decision was to write nothing
};

// Outcome of Store::commit.
enum class CommitResult {
  kCommitted,   // the version is now the visible one
  kSuperseded,  // a newer committed version already won (or it was dropped for one)
  kMissing,     // no such version (rolled back, or the key was erased)
};

// Replica bookkeeping of an entry (unused in primary tables).
struct ReplicaMeta {
  std::optional<Vnode> master;    // the primary that last wrote or refreshed it
  int depth = 0;                  // 0 = first replica after the master
  std::int64_t refreshed_ns = 0;  // when the master last wrote or confirmed it
};

// One stored version, for inspection.
struct StoredVersion {
  Item item;
  bool committed = false;
};

// A sharded hash table of entries keyed by key hash. Thread-safe: every method
// takes only the lock of the key's shard (or each shard in turn), never calls
// out while holding it (but for the journal's writes), and copies what it
// returns.
class Store {
 public:
  // `keep_history`: keep the version before the newest committed one (replica
  // tables, so a rollback restores it). Primary tables keep none. `journal`
  // (may be null: memory only) receives every change as table `table`; it
  // must outlive the Store.
  explicit Store(bool keep_history, Journal* journal = nullptr, TableId table = {});

  // Reads the table's records from the journal into an empty Store (before
  // it is used). Replica entries count as refreshed at `now_ns`, so their
  // masters get a whole lease to renew them. Entries are kept in memory
  // until they take about `max_resident_bytes` (resident_bytes()); the rest
  // stay on disk only. Fails, naming the table and the key hash, on a record
  // it cannot decode.
  Status load(std::int64_t now_ns, std::size_t max_resident_bytes = SIZE_MAX);

  // Stores `item` as a version (committed or pending). Replica tables record
  // `meta` (master, depth, refresh time) on kApplied and kDuplicate.
  PutResult put(const Item& item, bool committed, const ReplicaMeta* meta = nullptr);

  // Stamps `item` with `stamp()` and stores it as a pending version (committed
  // at once with `committed`: a write that needs no other copy), both under
  // the key's lock, so writes of one key stamped here are stored in timestamp
  // order and a write is never refused for a concurrent one stamped after it.
  // Refused (kOlder) only when a newer committed version came from elsewhere.
  // `item.timestamp` is set on return. `stamp` must be quick and must not call
  // into the table.
  PutResult put_stamped(Item& item, const std::function<std::int64_t()>& stamp,
                        bool committed = false);

  // put_stamped() of a write decided under the key's lock: `decide(current,
  // item)` sees the newest version held (committed or pending; nullopt when
  // none) and fills `item`'s value, tombstone flag and expiry, or returns
  // false to write nothing (kDeclined). No other write of the key comes
  // between what it sees and what is stored. `decide` must be quick and must
  // not call into the table.
  using Decide = std::function<bool(const std::optional<Item>& current, Item& item)>;
  PutResult put_decided(Item& item, const Decide& decide,
                        const std::function<std::int64_t()>& stamp, bool committed = false);

  // Starts loading the entries of `hashes` into the CPU cache (their table
  // slots, then what the entries point to), so that the put() or get() of
  // each that follows does not wait for memory one after the other. Only a
  // hint: changes nothing, and is worth it for a batch of several keys.
  void prefetch(const std::vector<Id>& hashes) const;

  // Makes the pending version `ts` of `hash` visible (older versions are dropped).
  CommitResult commit(const Id& hash, std::int64_t ts);

  // Removes version `ts` of `hash` (the previous one becomes visible again) and
  // remembers that version as aborted: a later put() of it (a replica write
  // that arrives after its rollback, an orphan copy handed back) is refused as
  // kOlder. The mark goes with collect(). False when there was no such version.
  bool rollback(const Id& hash, std::int64_t ts);

  // The newest committed version (tombstones included), if any.
  std::optional<Item> get(const Id& hash) const;
  // The newest version, committed or not.
  std::optional<Item> newest(const Id& hash) const;
  // Every version held for `hash`, oldest first.
  std::vector<StoredVersion> versions(const Id& hash) const;
  std::optional<ReplicaMeta> meta(const Id& hash) const;

  // Erases the entry if its newest version is not newer than `ts` (a newer
  // write arrived meanwhile: keep it). True when erased.
  bool erase_if_not_newer(const Id& hash, std::int64_t ts);
  // Batch forms for hand-overs, taking each shard's lock once:
  // put() of every item as a committed version (last write wins, aborted marks
  // respected), then each item is replaced by the newest committed version now
  // held (the item itself, or a newer one); items of which no committed version
  // is held are removed.
  void adopt(std::vector<Item>& items);
  // erase_if_not_newer() of each item's (hash, timestamp), and for an item
  // with `seen` set, only if its entry did not change since select_hashes()
  // copied it; the hashes erased are appended to `erased` when given.
  void erase_if_not_newer(const std::vector<Item>& items, std::vector<Id>* erased = nullptr);

  // erase_if_not_newer() of `items` (only their hashes, timestamps and
  // `seen` are read), but each entry erased here is put into `dest` with
  // replica bookkeeping `meta` (last write wins there; the entry itself moves
  // when `dest` holds none for its key): a hand-over's sender keeping what it
  // handed over as replica copies of the new owner. The hashes erased are
  // appended to `erased` when given. Takes each pair of shard locks once.
  void move_to(Store& dest, const std::vector<Item>& items, const ReplicaMeta& meta,
               std::vector<Id>* erased = nullptr);

  // Erases the entry if `master` is absent or is the entry's master. True when erased.
  bool erase_replica(const Id& hash, const std::optional<Id>& master);

  // Renews a replica entry that holds version `ts` or newer: records `master`
  // and `now_ns`. False when the entry lacks that version (the master must send it).
  bool refresh(const Id& hash, std::int64_t ts, const Vnode& master, std::int64_t now_ns);

  // The newest committed version of every entry for which `filter(item, meta)`
  // is true, in no particular order. `filter` runs under a shard lock: it must
  // be quick and must not call into the table.
  // With `spans`, entries on disk only are read from those parts of the
  // hash space alone (a range walk: the filter must refuse every hash
  // outside them).
  using Filter = std::function<bool(const Item&, const ReplicaMeta&)>;
  std::vector<Item> select(const Filter& filter,
                           const std::vector<HashSpan>* spans = nullptr) const;
  // The `limit` smallest hashes greater than `after` (any hash when not
  // given) whose newest committed version passes `filter`, in hash order, and
  // whether more such entries exist. Copies only what it keeps (values only
  // `with_values`), holds at most `limit` + 1 items, and stops reading a
  // span of the disk once past the kept ones. `filter` runs under a shard
  // lock on an item without its value: quick, no calls into the table.
  struct Page {
    std::vector<Item> items;
    bool more = false;
  };
  Page select_first(const std::optional<Id>& after, std::size_t limit, const Filter& filter,
                    bool with_values, const std::vector<HashSpan>* spans = nullptr) const;
  // The newest committed version of every entry whose hash passes `filter`
  // (same rules as select(); only the entries selected are copied), each with
  // `seen` set.
  std::vector<Item> select_hashes(const std::function<bool(const Id&)>& filter,
                                  const std::vector<HashSpan>* spans = nullptr) const;
  // (hash, timestamp of the newest committed version) of every entry.
  std::vector<std::pair<Id, std::int64_t>> stamps() const;

  // Garbage collection at time `now_ns` (hybrid clock):
  // - with `tombstone_grace_ns` > 0: entries whose visible version is a
  //   tombstone older than that and that have no pending version are erased;
  // - a kept earlier version goes once the version after it is older than
  //   `history_grace_ns`;
  // - with `tombstone_grace_ns` > 0, aborted marks older than that go;
  // - a visible value expired at `now_ns` (as Unix ms) with no pending version
  //   becomes a tombstone of the same timestamp (its value freed), collected
  //   as above; on disk, an expired value old enough is erased.
  // Returns how many entries were erased.
  std::size_t collect(std::int64_t now_ns, std::int64_t tombstone_grace_ns,
                      std::int64_t history_grace_ns);

  // Entries holding at least one version (committed or pending), on disk
  // included.
  std::size_t size() const;

  // Lets about `want` entries whose state is on disk leave memory (with a
  // journal; else none): entries with one committed version and no aborted
  // marks, not used since the previous pass (each use spares an entry once)
  // and not changed during this one. Waits for the journal to apply what is
  // queued. Returns how many left. Passes run one at a time; walks may run
  // meanwhile.
  std::size_t evict(std::size_t want);
  // Entries held in memory (a removed entry can stay as a small marker until
  // the next pass), and roughly the bytes they take: that count times an
  // entry's own share plus the average key and value.
  std::size_t resident_entries() const;
  std::size_t resident_bytes() const;  // resident_entries() x entry_bytes()
  // What one entry in memory takes on average: kEntryOverhead plus the
  // table's average key and value.
  std::size_t entry_bytes() const;
  // Entries read back from the journal since construction.
  std::uint64_t disk_reads() const { return disk_reads_.load(std::memory_order_relaxed); }
  // The memory of one entry beyond its key and value: its slot in the table
  // and its heap block's header, on average.
  static constexpr std::size_t kEntryOverhead = 112;

  // Counts the versions stored (put), committed and rolled back so far: while
  // it does not change, select() finds what it found before (less what was
  // erased).
  std::uint64_t changes() const { return changes_.load(std::memory_order_acquire); }

  // Keys whose visible version is a value (not a tombstone), the bytes of
  // those keys and values, and how many of those values have an expiry (an
  // expired one counts until it is collected). Kept up to date by every
  // change, so this costs one lock per shard, not a walk over the entries.
  struct Usage {
    std::size_t items = 0;
    std::size_t bytes = 0;
    std::size_t expiring = 0;
  };
  Usage usage() const;

 private:
  // One version, in Extra or as a working copy.
  struct Version {
    std::string value;
    std::int64_t ts = 0;
    bool deleted = false;
    bool committed = false;
    std::int64_t expires_ms = 0;  // 0: never
  };
  // What few entries need: more than one version (pending writes, a replica's
  // kept history), aborted marks, replica bookkeeping.
  struct Extra {
    std::vector<Version> versions;      // every version when more than one, ascending ts
    std::vector<std::int64_t> aborted;  // rolled-back versions, at most kMaxAborted
    ReplicaMeta meta;
  };
  // One key, laid out for the usual case of a single version: its key and
  // value bytes (then its expiry's 8 bytes, when it has one) share one heap
  // block, its timestamp and flags are inline, and Extra is allocated only
  // when needed. Versions are indexed oldest first.
  // REQUIRES (every method): the shard lock.
  class Entry {
   public:
    Entry()
        : seq_(0), single_(0), deleted_(0), committed_(0), used_(0), unsaved_(0), expiring_(0) {}

    std::string_view key() const { return {data_.get(), key_len_}; }
    // Sets the key of an entry that has none (its single version, if any, is kept).
    void set_key(std::string_view key);
    std::size_t count() const;
    std::int64_t ts(std::size_t i) const { return single_ ? ts_ : extra_->versions[i].ts; }
    bool committed(std::size_t i) const {
      return single_ ? committed_ != 0 : extra_->versions[i].committed;
    }
    bool deleted(std::size_t i) const {
      return single_ ? deleted_ != 0 : extra_->versions[i].deleted;
    }
    std::string_view value(std::size_t i) const;
    // When version i expires (Unix ms; 0: never).
    std::int64_t expires_ms(std::size_t i) const;
    // The index of the version with timestamp `ts`, if held.
    std::optional<std::size_t> find(std::int64_t ts) const;
    std::optional<std::size_t> newest_committed() const;
    // Replaces every version by this one.
    void set_single(std::int64_t ts, std::string_view value, bool deleted, bool committed,
                    std::int64_t expires_ms);
    void set_committed(std::size_t i);
    // Of two versions held in Extra, drops the older and adds this committed
    // one (newer than both) after the other, reusing the dropped one's
    // buffer: what a replica with history does on each write.
    void replace_oldest(std::int64_t ts, std::string_view value, bool deleted,
                        std::int64_t expires_ms);
    // The versions as a list in Extra (a single version moves there first),
    // for the changes beyond the usual cases; compact() after them.
    std::vector<Version>& multi();
    // Moves a lone remaining version back inline; frees what is unused.
    void compact();

    // Start loading into the CPU cache what the entry points to: its key and
    // value bytes and its Extra; then (once that Extra is in) its versions.
    void prefetch_blocks() const;
    void prefetch_versions() const;

    bool aborted(std::int64_t ts) const;
    // The aborted marks, oldest first (empty when none).
    const std::vector<std::int64_t>& aborted_marks() const;
    // Remembers `ts` as aborted (the oldest mark goes beyond kMaxAborted).
    void add_aborted(std::int64_t ts);
    // Drops the aborted marks older than `before`. True when none is left.
    bool expire_aborted(std::int64_t before);
    const ReplicaMeta& meta() const;
    ReplicaMeta& mutable_meta();

    std::uint64_t seq() const { return seq_; }
    void set_seq(std::uint64_t seq) { seq_ = seq; }
    // Used since the last eviction pass (which spares it once).
    bool used() const { return used_ != 0; }
    void set_used(bool u) { used_ = u ? 1 : 0; }
    // Its replica refresh time changed and is not on disk yet.
    bool unsaved() const { return unsaved_ != 0; }
    void set_unsaved(bool u) { unsaved_ = u ? 1 : 0; }

   private:
    Extra& extra();
    // Frees Extra when it holds nothing.
    void trim();

    std::unique_ptr<char[]> data_;  // key bytes, then the single version's value bytes
    std::unique_ptr<Extra> extra_;  // null unless needed
    std::int64_t ts_ = 0;           // of the single version
    std::uint32_t key_len_ = 0;
    std::uint32_t value_len_ = 0;  // of the single version
    std::uint64_t seq_ : 58;       // changes_ after its last put, commit or rollback (kept on
                                   // disk; 2^58: never)
    std::uint64_t single_ : 1;     // one version, held inline (else Extra holds them, if any)
    std::uint64_t deleted_ : 1;    // of the single version
    std::uint64_t committed_ : 1;  // of the single version
    std::uint64_t used_ : 1;
    std::uint64_t unsaved_ : 1;
    std::uint64_t expiring_ : 1;  // the single version has an expiry (after its value bytes)
  };
  // Key hashes (SHA-1, uniform) hashed by eight of their middle bytes: the
  // leading bytes of one vnode's keys are alike (they share its arc of the
  // ring), and the last byte picks the shard.
  struct IdHash {
    std::size_t operator()(const Id& id) const noexcept {
      std::uint64_t h;
      std::memcpy(&h, id.bytes().data() + 8, sizeof h);
      return static_cast<std::size_t>(h);
    }
  };
  // Key hashes compared without a library call.
  struct IdEqual {
    bool operator()(const Id& a, const Id& b) const noexcept {
      return std::memcmp(a.bytes().data(), b.bytes().data(), Id::kBytes) == 0;
    }
  };
  // Open addressing: an entry (key hash and Entry, 64 bytes) sits in the
  // table's array itself, so a lookup touches one slot, not a chain of nodes.
  // Entries move when the table grows: hold no Entry& across an insertion.
  using Map = absl::flat_hash_map<Id, Entry, IdHash, IdEqual>;
  struct Shard {
    mutable std::mutex mu;
    Map entries;  // GUARDED_BY(mu)
    Usage usage;  // GUARDED_BY(mu) of the entries, in memory and on disk
    // GUARDED_BY(mu): entries of this shard left memory; a miss reads the
    // journal, and a removed entry stays as an empty marker (the journal may
    // still hold its record until the marker is evicted in turn).
    bool spilled = false;
    // GUARDED_BY(mu): an eviction pass waits for the journal; the hashes
    // recorded meanwhile are not evicted, and removals leave markers.
    bool tracking = false;
    std::vector<Id> touched;  // GUARDED_BY(mu)
    // GUARDED_BY(mu): a walk has passed this shard's memory and goes on
    // over the disk; whether the shard had spilled then; the entries read
    // back and those evicted since (the first it must still visit, the
    // second it saw in memory unless they were also read back).
    bool walking = false;
    bool walk_spilled = false;
    absl::flat_hash_set<Id, IdHash, IdEqual> read_in_walk;     // GUARDED_BY(mu)
    absl::flat_hash_set<Id, IdHash, IdEqual> evicted_in_walk;  // GUARDED_BY(mu)
  };
  static constexpr std::size_t kShards = 32;
  static constexpr std::size_t kMaxAborted = 8;
  // The entry of `hash` in s, read back from the journal (it then stays in
  // memory) when s spilled entries; end() when none (a marker is none).
  // Marks it used.
  // Invalidated by the next insertion into s. REQUIRES: s.mu.
  Map::iterator locate(Shard& s, const Id& hash) const;
  // locate(), or a new empty entry.
  Entry& locate_or_add(Shard& s, const Id& hash) const;
  // Entries a pass may let go: their whole state is one committed version
  // (or none: a marker) and their record on disk says so.
  static bool evictable(const Entry& e);
  // Ends a walk (with a journal): calls fn(s, hash, entry) under s.mu for
  // each entry its memory passes did not see (a copy read from disk, or
  // the entry read back since its shard's memory pass), then clears the
  // shards' walk state. Eviction may run meanwhile. REQUIRES: walk_mu_
  // held since before those memory passes, which began each shard's walk.
  // With `spans`, only those parts of the disk are read.
  // With `past`, a span's disk scan stops at the first hash for which
  // (*past)(hash) is true (no entry from there on in that span is wanted).
  template <typename Fn>
  void walk_disk(Fn fn, const std::vector<HashSpan>* spans = nullptr,
                 const std::function<bool(const Id&)>* past = nullptr) const;
  // A read-only walk: visit(hash, entry) for every entry, in memory and on
  // disk (with `spans`, only those parts of the disk), each once, under its
  // shard's lock. Takes walk_mu_. `past`: as walk_disk's.
  template <typename Visit>
  void visit_all(Visit visit, const std::vector<HashSpan>* spans = nullptr,
                 const std::function<bool(const Id&)>* past = nullptr) const;
  // decode() of a record read back from the journal, with a replica's
  // refresh time no older than load(). False: malformed.
  bool read_back(std::string_view record, Entry& e) const;
  // Whether some shard spilled entries.
  bool on_disk() const { return spilled_.load(std::memory_order_acquire); }
  // Starts a shard's part of a walk that reads the disk. REQUIRES: s.mu.
  static void begin_walk(Shard& s);

  Shard& shard(const Id& hash) const;
  static std::size_t shard_index(const Id& hash);
  // Calls fn(shard, index) for each index of `items`, grouped by shard, with
  // that shard's lock held (each shard locked once), and with `also`'s shard
  // of the same index locked too when given.
  // With a journal, the changes each shard's calls record in the batch given
  // to fn are written before that shard's lock is released.
  template <typename Fn>
  void by_shard(const std::vector<Item>& items, Fn fn, Store* also = nullptr) const;
  // put() into s's entry e, accounting, recording the change (into `batch`
  // when given, else at once). REQUIRES: s.mu.
  PutResult put_locked(Shard& s, const Id& hash, Entry& e, const Item& item, bool committed,
                       const ReplicaMeta* meta, JournalBatch* batch = nullptr);
  // Records e as the state of `hash` (into `batch` when given, else at
  // once); nothing without a journal. REQUIRES: the entry's shard lock.
  void record(const Id& hash, const Entry& e, JournalBatch* batch = nullptr) const;
  // Records that `hash` has no entry. REQUIRES: its shard lock.
  void record_erase(const Id& hash, JournalBatch* batch = nullptr) const;
  // The journal record of an entry, and back (false: malformed).
  static void encode(const Entry& e, std::string& out);
  static bool decode(std::string_view record, Entry& e);
  // put() into entry e. REQUIRES: the entry's shard lock; the caller accounts.
  PutResult put_entry(Entry& e, const Item& item, bool committed, const ReplicaMeta* meta);
  // What `e` adds to its shard's usage (its visible value, if any).
  static Usage visible_usage(const Entry& e);
  // Replaces `before` by `after` in s.usage. REQUIRES: s.mu.
  static void account(Shard& s, const Usage& before, const Usage& after);
  // Erases `it` from s, accounting (leaving a marker when s spilled or is
  // tracked). REQUIRES: s.mu.
  static void erase_entry(Shard& s, Map::iterator it);
  // Notes `hash` as changed for an eviction pass in progress. REQUIRES: its shard lock.
  void note_touched(const Id& hash) const;
  // Version i of e. REQUIRES: the entry's shard lock.
  static Item to_item(const Id& hash, const Entry& e, std::size_t i);
  // Drops what the newest committed version made useless.
  void prune(std::vector<Version>& versions) const;
  // Makes version `v` of `e` committed and drops what that made useless.
  // REQUIRES: the entry's shard lock.
  void mark_committed(Entry& e, std::size_t v) const;
  // Removes version i of e.
  static void erase_version(Entry& e, std::size_t i);

  const bool keep_history_;
  Journal* const journal_;
  const TableId table_;
  mutable std::array<Shard, kShards> shards_;
  // Starts at 1: a `seen` of 0 means unknown.
  std::atomic<std::uint64_t> changes_{1};
  // Walks, one at a time; eviction passes, one at a time.
  mutable std::mutex walk_mu_;
  std::mutex evict_mu_;
  std::atomic<bool> spilled_{false};                  // some shard spilled
  mutable std::atomic<std::uint64_t> disk_reads_{0};  // entries read back
  std::int64_t loaded_at_ns_ = 0;                     // load()'s now_ns
};

}  // namespace dendrite::dtable
