#include "rocksdb_journal.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <limits>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

namespace dendrite::dtable {
namespace {

namespace fs = std::filesystem;

// Keys: the table (vnode index, big-endian, then its kind), then the key hash:
// one table's records are contiguous and in hash order, so a range of the
// ring is a range of keys. The identity record sorts after every table.
constexpr std::size_t kTablePrefix = 3;
constexpr std::size_t kKeyBytes = kTablePrefix + Id::kBytes;
const std::string kIdentityKey = "\xff\xff~identity";
constexpr int kFormat = 1;

using Key = std::array<char, kKeyBytes>;

Key make_key(TableId table, const Id& hash) {
  Key k;
  k[0] = static_cast<char>(table.vnode >> 8);
  k[1] = static_cast<char>(table.vnode & 0xff);
  k[2] = static_cast<char>(table.kind);
  std::memcpy(k.data() + kTablePrefix, hash.bytes().data(), Id::kBytes);
  return k;
}

rocksdb::Slice slice(const Key& k) {
  return {k.data(), k.size()};
}

std::string identity_json(const JournalIdentity& id) {
  nlohmann::json vnodes = nlohmann::json::array();
  for (const Id& v : id.vnodes) vnodes.push_back(v.hex());
  return nlohmann::json{{"format", kFormat}, {"advertise", id.advertise}, {"vnodes", vnodes}}
      .dump();
}

// Why `stored` (the identity record of `path`) does not fit `want`, or "".
std::string identity_problem(const std::string& path, const std::string& stored,
                             const JournalIdentity& want) {
  auto doc = nlohmann::json::parse(stored, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc["format"].is_number_integer() || !doc["advertise"].is_string() ||
      !doc["vnodes"].is_array()) {
    return "storage: " + path +
           " has an unreadable identity record; it is not a dendrite data "
           "directory this version can use";
  }
  if (doc["format"].get<int>() != kFormat) {
    return "storage: " + path + " is in data format " + std::to_string(doc["format"].get<int>()) +
           ", this version reads format " + std::to_string(kFormat);
  }
  const std::string advertise = doc["advertise"].get<std::string>();
  std::vector<std::string> vnodes;
  for (const auto& v : doc["vnodes"]) vnodes.push_back(v.is_string() ? v.get<std::string>() : "");
  std::vector<std::string> want_vnodes;
  for (const Id& v : want.vnodes) want_vnodes.push_back(v.hex());
  if (advertise == want.advertise && vnodes == want_vnodes) return "";
  return "storage: " + path + " holds the data of node " + advertise + " with " +
         std::to_string(vnodes.size()) + " vnodes, but this node is " + want.advertise + " with " +
         std::to_string(want.vnodes.size()) +
         " vnodes; start it with the same advertise address and vnodes, or give it another "
         "storage.path (its keys then come from the ring)";
}

// RocksDB's own log lines (warnings and errors only) handed to a function
// instead of a LOG file in the data directory, until detach(): the function
// may refer to the plugin's logger, and RocksDB still logs while it closes.
class EngineLog final : public rocksdb::Logger {
 public:
  explicit EngineLog(std::function<void(const std::string&)> sink)
      : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL), sink_(std::move(sink)) {}

  // Lines from now on are dropped. Any thread.
  void detach() {
    std::lock_guard lock(mu_);
    sink_ = nullptr;
  }

  using rocksdb::Logger::Logv;
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel() || level == rocksdb::InfoLogLevel::HEADER_LEVEL) return;
    char line[1024];
    const int n = std::vsnprintf(line, sizeof line, format, ap);
    if (n <= 0) return;
    const std::size_t len = std::min<std::size_t>(static_cast<std::size_t>(n), sizeof line - 1);
    std::lock_guard lock(mu_);
    if (sink_) sink_(std::string(line, len));
  }

 private:
  std::mutex mu_;
  std::function<void(const std::string&)> sink_;  // GUARDED_BY(mu_)
};

// Writes are queued, not applied: put(), erase() and write() append to one
// pending batch (the callers hold a Store shard lock, so this costs a copy
// of the record), and the journal's thread applies the whole batch to
// RocksDB, writes its log out (and syncs it, with sync always) and then
// answers the after_sync() calls that batch covers: the tables' memory
// insertions happen off the threads that serve requests, and one round
// serves every waiting answer (group commit).
class RocksJournal final : public Journal {
 public:
  RocksJournal(std::unique_ptr<rocksdb::DB> db, std::shared_ptr<EngineLog> engine_log,
               std::string path, const RocksJournalOptions& o)
      : db_(std::move(db)),
        engine_log_(std::move(engine_log)),
        path_(std::move(path)),
        options_(o) {
    thread_ = std::thread([this] { run(); });
  }

  ~RocksJournal() override {
    close();
    // What late callbacks queued after close() is written and synced too.
    std::unique_lock lock(mu_);
    apply_pending(lock, /*sync=*/true);
    lock.unlock();
    db_->Close().PermitUncheckedError();
  }

  void close() override {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      stop_ = true;
    }
    cv_.notify_all();
    room_.notify_all();
    // The run() loop applies and syncs what is queued (unless the engine
    // had failed) and answers every waiter.
    thread_.join();
    engine_log_->detach();  // the plugin's logger may go after close()
  }

  void put(TableId table, const Id& hash, std::string_view record) override {
    const Key k = make_key(table, hash);
    spend(kKeyBytes + record.size());
    std::unique_lock lock(mu_);
    wait_for_room(lock);
    pending_.put(k, record);
    queued();
  }

  void erase(TableId table, const Id& hash) override {
    const Key k = make_key(table, hash);
    std::unique_lock lock(mu_);
    wait_for_room(lock);
    pending_.erase(k);
    queued();
  }

  void write(const JournalBatch& batch) override {
    if (batch.empty()) return;
    std::size_t bytes = 0;
    for (const JournalBatch::Op& op : batch.ops) bytes += kKeyBytes + op.record.size();
    spend(bytes);
    // Queued under one lock: the ops are applied in one RocksDB batch.
    std::unique_lock lock(mu_);
    wait_for_room(lock);
    for (const JournalBatch::Op& op : batch.ops) {
      const Key k = make_key(op.table, op.hash);
      if (op.record.empty()) {
        pending_.erase(k);
      } else {
        pending_.put(k, op.record);
      }
    }
    queued();
  }

  Status error() const override {
    std::lock_guard lock(mu_);
    if (!engine_error_.ok()) return engine_error_;
    if (!space_error_.ok()) return space_error_;
    if (headroom_.load(std::memory_order_relaxed) < 0) return low_space(free_mb_.load());
    return Status::Ok();
  }

  void after_sync(std::function<void(Status)> done) override {
    std::unique_lock lock(mu_);
    if (stop_ || !engine_error_.ok()) {
      // Closed (a late change of a stopped plugin: the destructor writes it
      // out), or failing: answered now.
      const Status e = engine_error_;
      lock.unlock();
      return done(e);
    }
    if (queued_ <= durable()) {
      lock.unlock();
      return done(Status::Ok());
    }
    waiters_.push_back(Waiter{queued_, std::move(done)});
    lock.unlock();
    cv_.notify_one();
  }

  Status scan(TableId table, const Id& from,
              const std::function<bool(const Id&, std::string_view)>& fn,
              bool wait_for_queue = true) const override {
    if (wait_for_queue) {
      if (Status s = drain(); !s.ok()) return s;
    }
    const Key start = make_key(table, from);
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;  // a load or a walk reads everything once
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
    for (it->Seek(slice(start)); it->Valid(); it->Next()) {
      const rocksdb::Slice k = it->key();
      if (k.size() != kKeyBytes || std::memcmp(k.data(), start.data(), kTablePrefix) != 0) break;
      auto hash = Id::from_bytes(std::string_view(k.data() + kTablePrefix, Id::kBytes));
      if (!hash) break;
      if (!fn(*hash, std::string_view(it->value().data(), it->value().size()))) break;
    }
    if (!it->status().ok()) {
      return Status::Internal("storage: reading " + path_ + ": " + it->status().ToString());
    }
    return Status::Ok();
  }

  bool get(TableId table, const Id& hash, std::string& out) const override {
    const Key k = make_key(table, hash);
    const rocksdb::Status s = db_->Get(read_options_, slice(k), &out);
    if (s.ok()) return true;
    if (!s.IsNotFound()) {
      std::lock_guard lock(mu_);
      if (engine_error_.ok()) {
        engine_error_ =
            Status::Unavailable("storage: reading " + path_ + " failed: " + s.ToString() +
                                ": writes are refused until the node is restarted");
      }
    }
    return false;
  }

  Status checkpoint(const std::string& dir) override {
    if (Status s = drain(); !s.ok()) return s;
    rocksdb::Checkpoint* raw = nullptr;
    rocksdb::Status s = rocksdb::Checkpoint::Create(db_.get(), &raw);
    std::unique_ptr<rocksdb::Checkpoint> cp(raw);
    if (s.ok()) s = cp->CreateCheckpoint(dir, /*log_size_for_flush=*/0);
    if (!s.ok()) {
      return Status::Internal("storage: checkpoint of " + path_ + " into " + dir +
                              " failed: " + s.ToString());
    }
    return Status::Ok();
  }

  const std::string& path() const override { return path_; }

  Memory memory() const override {
    Memory m;
    auto get = [&](const std::string& property, std::uint64_t& out) {
      std::uint64_t v = 0;
      if (db_->GetIntProperty(property, &v)) out = v;
    };
    get(rocksdb::DB::Properties::kSizeAllMemTables, m.write_buffers);
    get(rocksdb::DB::Properties::kEstimateTableReadersMem, m.table_readers);
    get(rocksdb::DB::Properties::kBlockCacheUsage, m.block_cache);
    std::lock_guard lock(mu_);
    m.queue = pending_.bytes();
    return m;
  }

  QueueStats queue_stats() const override {
    std::lock_guard lock(mu_);
    return QueueStats{peak_bytes_, waits_given_up_};
  }

 private:
  struct Waiter {
    std::uint64_t seq;  // queued_ when it asked
    std::function<void(Status)> done;
  };
  // Queued bytes beyond which writers wait for the journal's thread.
  static constexpr std::size_t kMaxPendingBytes = 16u << 20;
  // The longest one write waits for room in the queue.
  static constexpr std::chrono::seconds kMaxRoomWait{1};
  // Rounds larger than this give their buffer back to the allocator.
  static constexpr std::size_t kKeepBatchBytes = 1u << 20;

  // What the sync policy answers at. REQUIRES: mu_.
  std::uint64_t durable() const { return options_.sync_always ? synced_ : written_; }

  // Changes queued for the next round: their records in one buffer, and
  // per change its key and where its record is (an erase has none).
  class Queue {
   public:
    void put(const Key& k, std::string_view record) {
      changes_.push_back(Change{k, records_.size(), record.size(), false});
      records_.append(record);
    }
    void erase(const Key& k) { changes_.push_back(Change{k, 0, 0, true}); }
    std::size_t bytes() const { return records_.size() + changes_.size() * sizeof(Change); }
    bool empty() const { return changes_.empty(); }
    // Empties it; a large one gives its memory back.
    void clear() {
      if (bytes() > kKeepBatchBytes) {
        *this = Queue();
      } else {
        changes_.clear();
        records_.clear();
      }
    }
    // Fills `wb` with the changes in key order (one key's in the order they
    // were queued): RocksDB's tables insert neighbouring keys faster.
    rocksdb::Status to_batch(rocksdb::WriteBatch& wb) {
      std::stable_sort(changes_.begin(), changes_.end(), [](const Change& a, const Change& b) {
        return std::memcmp(a.key.data(), b.key.data(), kKeyBytes) < 0;
      });
      for (const Change& c : changes_) {
        rocksdb::Status s =
            c.erase ? wb.Delete(slice(c.key))
                    : wb.Put(slice(c.key), rocksdb::Slice(records_.data() + c.at, c.size));
        if (!s.ok()) return s;
      }
      return rocksdb::Status::OK();
    }

   private:
    struct Change {
      Key key;
      std::size_t at;    // in records_
      std::size_t size;  // of the record
      bool erase;
    };
    std::vector<Change> changes_;
    std::string records_;
  };

  // Counts one queued change. REQUIRES: mu_.
  void queued() {
    peak_bytes_ = std::max<std::uint64_t>(peak_bytes_, pending_.bytes());
    if (queued_++ == applied_) cv_.notify_one();  // the first since the last round
  }

  // Waits while the queue is over its bound (the journal's thread applies
  // it), at most kMaxRoomWait, never on that thread itself. The bound is
  // soft: a writer holds a Store shard lock, and an answer running on the
  // journal's thread (a write hook reading the table) may wait for that
  // lock; past the wait the writer goes on instead of deadlocking.
  // REQUIRES: `lock` holds mu_.
  void wait_for_room(std::unique_lock<std::mutex>& lock) {
    if (std::this_thread::get_id() == thread_id_) return;
    if (!room_.wait_for(lock, kMaxRoomWait,
                        [&] { return stop_ || pending_.bytes() < kMaxPendingBytes; })) {
      ++waits_given_up_;
    }
  }

  Status drain() const override {
    std::unique_lock lock(mu_);
    const std::uint64_t target = queued_;
    cv_.notify_one();
    applied_cv_.wait(lock, [&] { return applied_ >= target || stop_ || !engine_error_.ok(); });
    if (!engine_error_.ok()) return engine_error_;
    if (applied_ < target) {
      return Status::Unavailable("storage: " + path_ + " is closed");
    }
    return Status::Ok();
  }

  Status describe(const rocksdb::Status& s) const {
    if (s.IsNoSpace() || s.subcode() == rocksdb::Status::kNoSpace) {
      return Status::Unavailable("storage: disk full under " + path_ +
                                 ": writes are refused (reads go on) until space is freed and "
                                 "the node restarted");
    }
    return Status::Unavailable("storage: writing " + path_ + " failed: " + s.ToString() +
                               ": writes are refused (reads go on) until the node is restarted");
  }

  // Counts `bytes` written against the room left above the reserve (twice:
  // the log, then the table file the memtable becomes).
  void spend(std::size_t bytes) {
    headroom_.fetch_sub(static_cast<std::int64_t>(2 * bytes), std::memory_order_relaxed);
  }

  Status low_space(std::uint64_t free_mb) const {
    return Status::Unavailable("storage: disk full under " + path_ + " (" +
                               std::to_string(free_mb) + " MiB free, storage.reserve_mb is " +
                               std::to_string(options_.reserve_mb) +
                               "): writes are refused until space is freed (reads go on)");
  }

  // Not OK while the file system of the directory has less than the reserve
  // free: writes are refused before the engine itself runs out of space.
  // Between two checks, what is written counts against the room that was left
  // (headroom_), so a burst cannot fill the disk before the next check.
  Status check_space() {
    struct statvfs fs;
    if (::statvfs(path_.c_str(), &fs) != 0) {
      headroom_.store(std::numeric_limits<std::int64_t>::max() / 2);
      return Status::Ok();  // unknown: the engine will say
    }
    const std::uint64_t free_bytes = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
    const std::uint64_t reserve = static_cast<std::uint64_t>(options_.reserve_mb) << 20;
    free_mb_.store(free_bytes >> 20);
    headroom_.store(static_cast<std::int64_t>(free_bytes) - static_cast<std::int64_t>(reserve));
    if (free_bytes >= reserve) return Status::Ok();
    return low_space(free_mb_.load());
  }

  // Applies the queued batch to RocksDB and writes the log out (and with
  // `sync`, syncs it); then answers the waiters that are now as durable as
  // the policy promises. Nothing is written after a failed log write or
  // sync (RocksDB's log writer must not be used after one): queued changes
  // are then dropped, unacknowledged. REQUIRES: `lock` holds mu_; the
  // journal's thread, or the destructor once it has stopped.
  void apply_pending(std::unique_lock<std::mutex>& lock, bool sync) {
    const std::uint64_t target = queued_;
    const bool needed = target > (sync ? synced_ : written_);
    std::swap(pending_, applying_);
    lock.unlock();
    room_.notify_all();
    rocksdb::Status s;
    if (wal_failed_) {
      s = rocksdb::Status::IOError("the log failed earlier");
    } else {
      if (!applying_.empty()) {
        s = applying_.to_batch(batch_);
        if (s.ok()) s = db_->Write(write_options_, &batch_);
        // A write that fails may have failed inside the log writer, which
        // must not be used again (RocksDB asserts it).
        if (!s.ok()) wal_failed_ = true;
        // A large round's buffer is let go rather than kept for the next one.
        if (batch_.GetDataSize() > kKeepBatchBytes) {
          batch_ = rocksdb::WriteBatch();
        } else {
          batch_.Clear();
        }
      }
      if (s.ok() && needed) {
        s = db_->FlushWAL(sync);
        if (!s.ok()) wal_failed_ = true;
      }
    }
    applying_.clear();
    lock.lock();
    applied_ = std::max(applied_, target);  // dropped ones too: nobody waits for them
    if (s.ok()) {
      written_ = std::max(written_, target);
      if (sync) synced_ = std::max(synced_, target);
    } else if (engine_error_.ok()) {
      engine_error_ = describe(s);
    }
    applied_cv_.notify_all();
    const std::uint64_t ready_to = durable();
    std::vector<Waiter> ready;
    while (!waiters_.empty() && (!s.ok() || waiters_.front().seq <= ready_to)) {
      ready.push_back(std::move(waiters_.front()));
      waiters_.pop_front();
    }
    const Status outcome = s.ok() ? Status::Ok() : engine_error_;
    lock.unlock();
    for (Waiter& w : ready) w.done(outcome);
    lock.lock();
  }

  // The journal's thread: applies the queue whenever it holds something (one
  // round for all of it), syncs the log every sync_period anyway, watches the
  // free space, and after a failure of the engine fails the waiters and
  // drops what is queued: only a restart recovers (the error says so).
  void run() {
    using Clock = std::chrono::steady_clock;
    constexpr auto kSpaceCheck = std::chrono::milliseconds(250);
    const auto now0 = Clock::now();
    auto next_periodic = now0 + options_.sync_period;
    auto next_space = now0;
    // RocksDB counts per-operation statistics per thread unless told not to.
    rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
    std::unique_lock lock(mu_);
    thread_id_ = std::this_thread::get_id();
    while (!stop_) {
      const auto wake = std::min(next_space, next_periodic);
      cv_.wait_until(lock, wake, [&] {
        // A waiter always waits for something queued: after a round every
        // waiter it covers was answered (all of them after a failure).
        return stop_ || queued_ > applied_;
      });
      if (stop_) break;
      const auto now = Clock::now();
      if (now >= next_space) {
        next_space = now + kSpaceCheck;
        lock.unlock();
        Status low = check_space();
        lock.lock();
        space_error_ = std::move(low);
      }
      if (!engine_error_.ok()) {
        // Queued changes are applied only by a working engine (nobody waits
        // for them: after_sync() answers at once now); drains and writers
        // waiting for room learn of the failure.
        pending_.clear();
        applied_ = queued_;
        applied_cv_.notify_all();
        room_.notify_all();
        continue;
      }
      const bool periodic_due = now >= next_periodic;
      if (periodic_due) next_periodic = now + options_.sync_period;
      if (periodic_due || queued_ > applied_) {
        apply_pending(lock, /*sync=*/periodic_due || options_.sync_always);
      }
    }
    // Stopping: what is queued is applied and synced; every waiter answered.
    if (engine_error_.ok()) apply_pending(lock, /*sync=*/true);
    std::deque<Waiter> left = std::move(waiters_);
    waiters_.clear();
    const Status last = engine_error_;
    applied_cv_.notify_all();
    lock.unlock();
    for (Waiter& w : left) w.done(last);
  }

  const std::unique_ptr<rocksdb::DB> db_;
  const std::shared_ptr<EngineLog> engine_log_;  // also the database's info_log
  const std::string path_;
  const RocksJournalOptions options_;
  const rocksdb::WriteOptions write_options_{};  // no sync: the thread syncs the log
  const rocksdb::ReadOptions read_options_{};

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;          // the thread: work to do
  mutable std::condition_variable applied_cv_;  // drains: applied_ moved
  std::condition_variable room_;                // writers: the queue shrank
  Queue pending_;                               // GUARDED_BY(mu_) queued changes
  Queue applying_;                              // the thread's (or destructor's) only: this round's
  rocksdb::WriteBatch batch_;                   // ... in key order
  std::uint64_t queued_ = 0;                    // GUARDED_BY(mu_) changes queued so far
  std::uint64_t applied_ = 0;                   // GUARDED_BY(mu_) of those, applied
  std::uint64_t written_ = 0;                   // GUARDED_BY(mu_) ... and written out
  std::uint64_t synced_ = 0;                    // GUARDED_BY(mu_) ... and synced
  std::uint64_t peak_bytes_ = 0;                // GUARDED_BY(mu_) the most pending_ held
  std::uint64_t waits_given_up_ = 0;            // GUARDED_BY(mu_)
  mutable Status engine_error_;            // GUARDED_BY(mu_) a write or sync (or a read) failed
  bool wal_failed_ = false;                // the thread's: a log write or sync failed
  std::atomic<std::uint64_t> free_mb_{0};  // at the last check of the space
  std::atomic<std::int64_t> headroom_{std::numeric_limits<std::int64_t>::max() / 2};
  Status space_error_;          // GUARDED_BY(mu_) less free than the reserve
  std::deque<Waiter> waiters_;  // GUARDED_BY(mu_) ascending seq
  bool stop_ = false;           // GUARDED_BY(mu_)
  std::thread thread_;
  std::thread::id thread_id_;  // GUARDED_BY(mu_) thread_'s, once it runs
};

// Why `path` cannot hold a journal, or "": it must be a directory (or not
// exist yet) that is empty or holds a RocksDB database (its CURRENT file).
std::string directory_problem(const std::string& path, bool* fresh) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return "storage: cannot use " + path + ": " + ec.message();
  }
  if (!fs::exists(st)) {
    fs::create_directories(path, ec);
    if (ec) return "storage: cannot create " + path + ": " + ec.message();
    *fresh = true;
    return "";
  }
  if (!fs::is_directory(st)) return "storage: " + path + " exists and is not a directory";
  if (fs::exists(fs::path(path) / "CURRENT", ec)) return "";
  if (!fs::is_empty(path, ec)) {
    return "storage: " + path +
           " is not empty and is not a dendrite data directory (no CURRENT file); refusing to "
           "write into it: give storage.path an empty or new directory";
  }
  *fresh = true;
  return "";
}

}  // namespace

Result<std::unique_ptr<Journal>> open_rocksdb_journal(const RocksJournalOptions& o,
                                                      const JournalIdentity& identity) {
  bool fresh = false;
  if (std::string why = directory_problem(o.path, &fresh); !why.empty()) {
    return Status::FailedPrecondition(why);
  }
  rocksdb::Options options;
  options.create_if_missing = fresh;
  options.paranoid_checks = true;
  options.max_background_jobs = 2;
  options.write_buffer_size = 32u << 20;
  options.max_write_buffer_number = 3;
  options.avoid_flush_during_shutdown = false;
  auto engine_log = std::make_shared<EngineLog>(o.engine_log);
  options.info_log = engine_log;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(o.cache_mb << 20);
  // A key the tables do not hold (a new key, once some were left on disk
  // only) is looked up here: the filter answers most such reads from memory.
  // Filters and indexes stay with their open table files (about 1.5 bytes
  // per key), not in the block cache, where data blocks would push them out
  // and every such read would go to the disk.
  table.cache_index_and_filter_blocks = false;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // The journal's thread applies each round's batch into the log's buffer
  // and then writes it out once (and syncs it, with sync always); a failed
  // log write happens on that thread alone, which never uses the log again.
  options.manual_wal_flush = true;

  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, o.path, &raw);
  std::unique_ptr<rocksdb::DB> db(raw);
  if (!s.ok()) {
    const std::string text = s.ToString();
    if (s.IsIOError() && text.find("lock") != std::string::npos) {
      return Status::FailedPrecondition(
          "storage: " + o.path +
          " is in use by another process (its LOCK file is held): two nodes cannot share a data "
          "directory; give each its own storage.path");
    }
    if (s.IsCorruption()) {
      return Status::FailedPrecondition("storage: " + o.path +
                                        " is corrupt, refusing to start: " + text +
                                        " (restore a backup, or move the directory away and let "
                                        "the ring send this node its keys)");
    }
    return Status::FailedPrecondition("storage: cannot open " + o.path + ": " + text);
  }
  std::string stored;
  s = db->Get(rocksdb::ReadOptions(), kIdentityKey, &stored);
  if (s.IsNotFound()) {
    // A database without our identity record: ours only when just created
    // (or left empty by a start that failed before writing it).
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
    it->SeekToFirst();
    if (!fresh && it->Valid()) {
      return Status::FailedPrecondition(
          "storage: " + o.path +
          " holds a RocksDB database that is not dendrite's (no identity record); refusing to "
          "use it: give storage.path an empty or new directory");
    }
    rocksdb::WriteOptions sync;
    sync.sync = true;
    s = db->Put(sync, kIdentityKey, identity_json(identity));
    if (!s.ok()) {
      return Status::FailedPrecondition("storage: cannot write into " + o.path + ": " +
                                        s.ToString());
    }
  } else if (!s.ok()) {
    return Status::FailedPrecondition("storage: cannot read " + o.path + ": " + s.ToString());
  } else if (std::string why = identity_problem(o.path, stored, identity); !why.empty()) {
    return Status::FailedPrecondition(why);
  }
  return std::unique_ptr<Journal>(
      std::make_unique<RocksJournal>(std::move(db), std::move(engine_log), o.path, o));
}

}  // namespace dendrite::dtable
