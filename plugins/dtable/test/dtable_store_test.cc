// Table semantics of dtable: last write wins, older writes refused, pending
// versions invisible until committed, rollback restoring the previous version,
// tombstones and their collection, replica bookkeeping, concurrent writers.
// Each test runs against both engines: in memory, and written through to
// RocksDB, where every table must then read back from disk exactly as it is;
// and a third time on RocksDB with a thread that lets every entry it can
// leave memory (Store::evict) all along, so each step may read back from
// disk what the step before wrote.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "clock.h"
#include "entry_cache.h"
#include "rocksdb_journal.h"
#include "store.h"
#include "support/process.h"

namespace dendrite::dtable {
namespace {

enum class Engine { kMemory, kRocksdb, kEvicting };

// Every version and the replica bookkeeping (less the refresh time, which is
// not kept) of `hash` in `t`, as text.
std::string describe(const Store& t, const Id& hash) {
  std::string out;
  for (const StoredVersion& v : t.versions(hash)) {
    out += v.item.key + "=" + v.item.value + "@" + std::to_string(v.item.timestamp) +
           (v.item.deleted ? " deleted" : "") + (v.committed ? " committed" : " pending") +
           (v.item.expires_ms != 0 ? " expires " + std::to_string(v.item.expires_ms) : "") + "; ";
  }
  if (auto m = t.meta(hash)) {
    out += "master " + (m->master ? m->master->to_string() : "-") + " depth " +
           std::to_string(m->depth);
  }
  return out;
}

class DtableStoreTest : public ::testing::TestWithParam<Engine> {
 protected:
  void SetUp() override {
    if (GetParam() == Engine::kMemory) return;
    RocksJournalOptions options;
    options.path = dir_.path() + "/db";
    auto j = open_rocksdb_journal(options, JournalIdentity{"127.0.0.1:1", {Id::hash("v0")}});
    ASSERT_TRUE(j.ok()) << j.status().message();
    journal_ = std::move(*j);
    if (GetParam() == Engine::kEvicting) {
      evictor_ = std::thread([this] {
        for (int round = 0; round < 1'000'000 && !stop_.load(); ++round) {
          std::vector<Store*> now;
          {
            std::lock_guard lock(mu_);
            for (const auto& t : tables_) now.push_back(t.get());
          }
          for (Store* t : now) evictions_ += t->evict(SIZE_MAX);
          std::this_thread::yield();
        }
      });
    }
  }

  // With RocksDB: every table reads back from the journal as it is in memory.
  void TearDown() override {
    if (evictor_.joinable()) {
      stop_ = true;
      evictor_.join();
    }
    if (!journal_) return;
    for (std::size_t i = 0; i < tables_.size(); ++i) {
      const Store& t = *tables_[i];
      Store back(/*keep_history=*/true, journal_.get(), id(i));
      ASSERT_TRUE(back.load(0).ok());
      EXPECT_EQ(back.size(), t.size()) << "table " << i;
      std::vector<Id> hashes;
      ASSERT_TRUE(journal_
                      ->scan(id(i), Id(),
                             [&](const Id& h, std::string_view) {
                               hashes.push_back(h);
                               return true;
                             })
                      .ok());
      for (const auto& [h, ts] : t.stamps()) {
        EXPECT_EQ(describe(back, h), describe(t, h)) << "table " << i << " key " << h.hex();
      }
      for (const Id& h : hashes) {
        EXPECT_EQ(describe(back, h), describe(t, h)) << "table " << i << " key " << h.hex();
      }
    }
  }

  // A new table (on the journal with RocksDB).
  Store& table(bool keep_history) {
    std::lock_guard lock(mu_);
    tables_.push_back(std::make_unique<Store>(keep_history, journal_.get(), id(tables_.size())));
    return *tables_.back();
  }

  // With kEvicting: waits until the evicting thread let at least `n` more
  // entries go than when called (bounded: 10 s).
  void wait_for_evictions(std::size_t n) {
    const std::size_t from = evictions_.load();
    for (int i = 0; i < 10000 && evictions_.load() < from + n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  static TableId id(std::size_t i) {
    return TableId{static_cast<std::uint16_t>(i), TableId::Kind::kPrimary};
  }

  test::TempDir dir_;
  std::unique_ptr<Journal> journal_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Store>> tables_;  // after journal_: destroyed first
  std::thread evictor_;                         // with kEvicting, until TearDown()
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> evictions_{0};
};

INSTANTIATE_TEST_SUITE_P(Engines, DtableStoreTest,
                         ::testing::Values(Engine::kMemory, Engine::kRocksdb, Engine::kEvicting),
                         [](const auto& info) {
                           switch (info.param) {
                             case Engine::kMemory:
                               return "memory";
                             case Engine::kRocksdb:
                               return "rocksdb";
                             case Engine::kEvicting:
                               break;
                           }
                           return "evicting";
                         });

// Defined with the tests of entries on disk only.
std::size_t evict_all(Store& t);

Item item(const std::string& key, const std::string& value, std::int64_t ts) {
  return Item{key, Id::hash(key), value, ts, false};
}
Item expiring(const std::string& key, const std::string& value, std::int64_t ts,
              std::int64_t expires_ms) {
  Item i = item(key, value, ts);
  i.expires_ms = expires_ms;
  return i;
}
Item tombstone(const std::string& key, std::int64_t ts) {
  return Item{key, Id::hash(key), "", ts, true};
}

// "k<n>". (Built with append: GCC 12 warns falsely (-Wrestrict) on
// `"k" + std::to_string(n)` once inlined into a lambda.)
std::string numbered_key(int n) {
  std::string key = "k";
  key.append(std::to_string(n));
  return key;
}

TEST_P(DtableStoreTest, LastWriteWinsByTimestamp) {
  Store& t = table(false);
  EXPECT_EQ(t.put(item("k", "a", 10), true), PutResult::kApplied);
  EXPECT_EQ(t.put(item("k", "b", 20), true), PutResult::kApplied);
  auto got = t.get(Id::hash("k"));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->value, "b");
  EXPECT_EQ(got->timestamp, 20);
  EXPECT_EQ(got->key, "k");
}

TEST_P(DtableStoreTest, OlderWriteIsRefused) {
  Store& t = table(false);
  t.put(item("k", "new", 20), true);
  EXPECT_EQ(t.put(item("k", "old", 10), true), PutResult::kOlder);
  EXPECT_EQ(t.get(Id::hash("k"))->value, "new");
}

TEST_P(DtableStoreTest, SameVersionTwiceIsADuplicate) {
  Store& t = table(false);
  t.put(item("k", "v", 10), true);
  EXPECT_EQ(t.put(item("k", "v", 10), true), PutResult::kDuplicate);
  EXPECT_EQ(t.versions(Id::hash("k")).size(), 1u);
}

TEST_P(DtableStoreTest, PendingVersionIsInvisibleUntilCommitted) {
  Store& t = table(false);
  const Id h = Id::hash("k");
  t.put(item("k", "old", 10), true);
  t.put(item("k", "new", 20), false);
  EXPECT_EQ(t.get(h)->value, "old");
  EXPECT_EQ(t.newest(h)->value, "new");
  EXPECT_EQ(t.commit(h, 20), CommitResult::kCommitted);
  EXPECT_EQ(t.get(h)->value, "new");
  // A primary keeps no history once the newer version committed.
  EXPECT_EQ(t.versions(h).size(), 1u);
}

TEST_P(DtableStoreTest, RollbackOfAPendingWriteLeavesThePreviousVersion) {
  Store& t = table(false);
  const Id h = Id::hash("k");
  t.put(item("k", "old", 10), true);
  t.put(item("k", "failed", 20), false);
  EXPECT_TRUE(t.rollback(h, 20));
  EXPECT_EQ(t.get(h)->value, "old");
  EXPECT_EQ(t.newest(h)->value, "old");
  EXPECT_FALSE(t.rollback(h, 20));
}

TEST_P(DtableStoreTest, RollbackOfTheOnlyVersionErasesTheKey) {
  Store& t = table(false);
  const Id h = Id::hash("k");
  t.put(item("k", "failed", 20), false);
  EXPECT_FALSE(t.get(h));
  EXPECT_TRUE(t.rollback(h, 20));
  EXPECT_FALSE(t.newest(h));
  EXPECT_EQ(t.size(), 0u);
}

TEST_P(DtableStoreTest, ARolledBackVersionIsRefusedWhenItComesBack) {
  // A replica write that arrives after its rollback, or an orphan copy handed
  // back to the primary, must not resurrect a failed write.
  Store& primary = table(false);
  const Id h = Id::hash("k");
  primary.put(item("k", "v1", 10), true);
  primary.put(item("k", "failed", 20), false);
  EXPECT_TRUE(primary.rollback(h, 20));
  EXPECT_EQ(primary.put(item("k", "failed", 20), true), PutResult::kOlder);
  EXPECT_EQ(primary.get(h)->value, "v1");
  // A newer write is not affected.
  EXPECT_EQ(primary.put(item("k", "v3", 30), true), PutResult::kApplied);
  EXPECT_EQ(primary.get(h)->value, "v3");
}

TEST_P(DtableStoreTest, RollbackBeforeTheWriteArrivesStillRefusesIt) {
  Store& replica = table(true);
  const Id h = Id::hash("k");
  EXPECT_FALSE(replica.rollback(h, 20));  // the drop overtook the write
  EXPECT_EQ(replica.size(), 0u);
  EXPECT_EQ(replica.put(item("k", "failed", 20), true), PutResult::kOlder);
  EXPECT_FALSE(replica.get(h));
  EXPECT_TRUE(replica.select([](const Item&, const ReplicaMeta&) { return true; }).empty());
  // The mark goes after the grace; then the entry is gone entirely.
  EXPECT_EQ(replica.collect(/*now_ns=*/1000, /*tombstone_grace_ns=*/500, /*history=*/500), 1u);
  EXPECT_EQ(replica.put(item("k", "again", 20), true), PutResult::kApplied);
}

TEST_P(DtableStoreTest, WritesStampedUnderTheKeyLockAreNeverRefused) {
  // Concurrent client writes of one key at its primary: each is stamped under
  // the key's lock, so none is refused as older than one stamped after it.
  Store& primary = table(false);
  HybridClock clock;
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        Item w = item("k", std::to_string(t), 0);
        if (primary.put_stamped(w, [&] { return clock.now(); }) == PutResult::kOlder) {
          ++refused;
          continue;
        }
        primary.commit(w.hash, w.timestamp);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(refused.load(), 0);
  EXPECT_TRUE(primary.get(Id::hash("k")));
}

TEST_P(DtableStoreTest, ReplicaRollbackRestoresThePreviousCommittedVersion) {
  Store& replica = table(true);
  const Id h = Id::hash("k");
  replica.put(item("k", "v1", 10), true);
  replica.put(item("k", "v2", 20), true);
  EXPECT_EQ(replica.get(h)->value, "v2");
  EXPECT_TRUE(replica.rollback(h, 20));
  EXPECT_EQ(replica.get(h)->value, "v1");
}

TEST_P(DtableStoreTest, ConcurrentPendingWritesCommitInAnyOrder) {
  Store& t = table(false);
  const Id h = Id::hash("k");
  t.put(item("k", "base", 5), true);
  t.put(item("k", "a", 10), false);
  t.put(item("k", "b", 20), false);
  EXPECT_EQ(t.commit(h, 20), CommitResult::kCommitted);
  // The older write lost to a newer committed one.
  EXPECT_EQ(t.commit(h, 10), CommitResult::kSuperseded);
  EXPECT_EQ(t.get(h)->value, "b");
  // A write older than the committed version is refused outright.
  EXPECT_EQ(t.put(item("k", "late", 15), false), PutResult::kOlder);
}

TEST_P(DtableStoreTest, FailedNewerWriteDoesNotHideAnOlderCommittedOne) {
  Store& t = table(false);
  const Id h = Id::hash("k");
  t.put(item("k", "a", 10), false);
  t.put(item("k", "b", 20), false);
  EXPECT_EQ(t.commit(h, 10), CommitResult::kCommitted);
  EXPECT_TRUE(t.rollback(h, 20));
  EXPECT_EQ(t.get(h)->value, "a");
}

TEST_P(DtableStoreTest, TombstoneHidesTheValueAndRefusesOlderWrites) {
  Store& t = table(false);
  const Id h = Id::hash("k");
  t.put(item("k", "v", 10), true);
  EXPECT_EQ(t.put(tombstone("k", 20), true), PutResult::kApplied);
  auto got = t.get(h);
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->deleted);
  EXPECT_TRUE(got->value.empty());
  // A stale copy of the old value (say, from a failover) cannot resurrect it.
  EXPECT_EQ(t.put(item("k", "v", 10), true), PutResult::kOlder);
  EXPECT_TRUE(t.get(h)->deleted);
  EXPECT_EQ(t.put(item("k", "older", 15), false), PutResult::kOlder);
  EXPECT_TRUE(t.get(h)->deleted);
  // A newer write brings the key back.
  t.put(item("k", "again", 30), true);
  EXPECT_EQ(t.get(h)->value, "again");
}

TEST_P(DtableStoreTest, TombstonesAreCollectedOnlyAfterTheGrace) {
  Store& t = table(false);
  const Id h = Id::hash("k");
  t.put(tombstone("k", 1000), true);
  t.put(item("live", "v", 1000), true);
  EXPECT_EQ(t.collect(/*now=*/1500, /*grace=*/1000, /*history=*/100), 0u);
  EXPECT_TRUE(t.get(h));
  EXPECT_EQ(t.collect(1500, /*grace=*/0, 100), 0u);  // grace 0 = do not collect
  EXPECT_EQ(t.collect(2500, 1000, 100), 1u);
  EXPECT_FALSE(t.get(h));
  EXPECT_TRUE(t.get(Id::hash("live")));
}

TEST_P(DtableStoreTest, TombstoneWithAPendingWriteIsNotCollected) {
  Store& t = table(false);
  const Id h = Id::hash("k");
  t.put(tombstone("k", 1000), true);
  t.put(item("k", "v", 3000), false);
  EXPECT_EQ(t.collect(100000, 10, 10), 0u);
  EXPECT_EQ(t.commit(h, 3000), CommitResult::kCommitted);
  EXPECT_EQ(t.get(h)->value, "v");
}

TEST_P(DtableStoreTest, ReplicaHistoryIsCollectedAfterItsGrace) {
  Store& replica = table(true);
  const Id h = Id::hash("k");
  replica.put(item("k", "v1", 10), true);
  replica.put(item("k", "v2", 20), true);
  EXPECT_EQ(replica.versions(h).size(), 2u);
  replica.collect(/*now=*/25, 0, /*history=*/100);
  EXPECT_EQ(replica.versions(h).size(), 2u);
  replica.collect(/*now=*/500, 0, /*history=*/100);
  ASSERT_EQ(replica.versions(h).size(), 1u);
  EXPECT_EQ(replica.get(h)->value, "v2");
}

TEST_P(DtableStoreTest, EraseKeepsANewerVersion) {
  Store& t = table(false);
  const Id h = Id::hash("k");
  t.put(item("k", "v", 10), true);
  t.put(item("k", "w", 20), true);
  EXPECT_FALSE(t.erase_if_not_newer(h, 10));  // handed over v, but w arrived since
  EXPECT_TRUE(t.get(h));
  EXPECT_TRUE(t.erase_if_not_newer(h, 20));
  EXPECT_FALSE(t.get(h));
}

TEST_P(DtableStoreTest, ReplicaMasterGuardsErasureAndRefresh) {
  Store& replica = table(true);
  const Id h = Id::hash("k");
  const Vnode a{Id::hash("a"), "127.0.0.1:1"}, b{Id::hash("b"), "127.0.0.1:2"};
  ReplicaMeta meta{a, 0, 100};
  replica.put(item("k", "v", 10), true, &meta);
  EXPECT_EQ(replica.meta(h)->master->id, a.id);
  EXPECT_FALSE(replica.erase_replica(h, b.id));  // not b's copy
  EXPECT_TRUE(replica.refresh(h, 10, b, 200));   // b took over and confirmed it
  EXPECT_EQ(replica.meta(h)->master->id, b.id);
  EXPECT_EQ(replica.meta(h)->refreshed_ns, 200);
  EXPECT_FALSE(replica.refresh(h, 11, b, 300));  // lacks the newer version
  EXPECT_FALSE(replica.erase_replica(h, a.id));
  EXPECT_TRUE(replica.erase_replica(h, b.id));
}

TEST_P(DtableStoreTest, SelectAndStampsSeeCommittedVersionsOnly) {
  Store& t = table(false);
  t.put(item("a", "1", 10), true);
  t.put(item("b", "2", 10), false);
  t.put(tombstone("c", 10), true);
  auto all = t.select([](const Item&, const ReplicaMeta&) { return true; });
  EXPECT_EQ(all.size(), 2u);
  auto live = t.select([](const Item& i, const ReplicaMeta&) { return !i.deleted; });
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].key, "a");
  EXPECT_EQ(t.stamps().size(), 2u);
}

// Usage is kept up to date by every change instead of walked: it must agree
// with what a walk would count.
TEST_P(DtableStoreTest, UsageFollowsEveryChange) {
  Store& t = table(true);
  auto expect = [&](std::size_t items, std::size_t bytes) {
    const Store::Usage u = t.usage();
    EXPECT_EQ(u.items, items);
    EXPECT_EQ(u.bytes, bytes);
  };
  expect(0, 0);
  t.put(item("k1", "abc", 10), true);  // 2 + 3
  expect(1, 5);
  t.put(item("k1", "abcdef", 20), false);  // pending: invisible
  expect(1, 5);
  t.commit(Id::hash("k1"), 20);  // 2 + 6
  expect(1, 8);
  t.rollback(Id::hash("k1"), 20);  // the previous version is back
  expect(1, 5);
  t.put(tombstone("k1", 30), true);  // deleted: not counted
  expect(0, 0);
  t.put(item("k2", "xy", 10), true);
  EXPECT_TRUE(t.erase_if_not_newer(Id::hash("k2"), 10));
  expect(0, 0);
  Vnode master{Id::hash("m"), "127.0.0.1:1"};
  ReplicaMeta meta{master, 0, 1};
  t.put(item("k3", "v", 10), true, &meta);
  expect(1, 3);
  EXPECT_TRUE(t.erase_replica(Id::hash("k3"), master.id));
  expect(0, 0);
  t.collect(1000, 1, 1);  // the tombstone of k1 goes
  expect(0, 0);
  EXPECT_EQ(t.size(), 0u);
}

// The count of values with an expiry follows the visible version too.
TEST_P(DtableStoreTest, UsageCountsTheVisibleValuesWithAnExpiry) {
  Store& t = table(true);
  auto expiring_now = [&] { return t.usage().expiring; };
  EXPECT_EQ(expiring_now(), 0u);
  t.put(expiring("e", "v", 10, 5000), true);
  t.put(item("plain", "v", 10), true);
  EXPECT_EQ(expiring_now(), 1u);
  EXPECT_EQ(t.usage().items, 2u);
  t.put(expiring("plain", "v", 20, 9000), false);  // pending: invisible
  EXPECT_EQ(expiring_now(), 1u);
  t.commit(Id::hash("plain"), 20);
  EXPECT_EQ(expiring_now(), 2u);
  t.rollback(Id::hash("plain"), 20);  // the version without an expiry is back
  EXPECT_EQ(expiring_now(), 1u);
  t.put(item("e", "w", 30), true);  // PERSIST-like: the new version has none
  EXPECT_EQ(expiring_now(), 0u);
  t.put(expiring("e", "x", 40, 5000), true);
  EXPECT_EQ(expiring_now(), 1u);
  t.put(tombstone("e", 50), true);
  EXPECT_EQ(expiring_now(), 0u);
  EXPECT_EQ(t.usage().items, 1u);
}

// The batch forms used by hand-overs: adopt keeps last write wins and aborted
// marks and reports what won; erase_if_not_newer keeps newer versions.
TEST_P(DtableStoreTest, BatchAdoptAndEraseFollowTheSingleForms) {
  Store& t = table(false);
  t.put(item("newer", "held", 50), true);
  t.put(item("aborted", "x", 5), false);
  t.rollback(Id::hash("aborted"), 5);
  std::vector<Item> batch;
  for (int k = 0; k < 100; ++k) batch.push_back(item(numbered_key(k), "v", 10));
  batch.push_back(item("newer", "old", 40));
  batch.push_back(item("aborted", "x", 5));
  t.adopt(batch);
  ASSERT_EQ(batch.size(), 101u);  // the aborted version is not there
  EXPECT_EQ(batch.back().key, "newer");
  EXPECT_EQ(batch.back().value, "held");  // the newer version held won
  EXPECT_EQ(batch.back().timestamp, 50);
  EXPECT_FALSE(t.get(Id::hash("aborted")));
  EXPECT_EQ(t.usage().items, 101u);

  t.put(item(numbered_key(7), "later", 20), true);  // arrived meanwhile
  std::vector<Item> sent(batch.begin(), batch.begin() + 100);
  std::vector<Id> erased;
  t.erase_if_not_newer(sent, &erased);
  EXPECT_EQ(erased.size(), 99u);
  auto kept = t.get(Id::hash(numbered_key(7)));
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->value, "later");
  EXPECT_EQ(t.usage().items, 2u);
}

// A hand-over's sender keeps what the new owner took as replica copies:
// move_to erases like erase_if_not_newer and puts each erased entry into the
// other table with the replica bookkeeping given.
TEST_P(DtableStoreTest, MoveToKeepsErasedEntriesAsReplicaCopies) {
  Store& primary = table(false);
  Store& replica = table(true);
  const Vnode owner{Id::hash("owner"), "127.0.0.1:2"};
  for (int k = 0; k < 100; ++k) primary.put(item(numbered_key(k), "v", 10), true);
  primary.put(item("pending", "p", 10), true);
  primary.put(item("pending", "q", 20), false);  // a write under way: stays
  replica.put(item(numbered_key(3), "newer", 30), true);
  auto sent = primary.select_hashes([](const Id&) { return true; });
  ASSERT_EQ(sent.size(), 101u);
  primary.put(item(numbered_key(5), "changed", 15), true);  // arrived meanwhile: stays
  std::vector<Id> moved;
  primary.move_to(replica, sent, ReplicaMeta{owner, 0, 77}, &moved);
  EXPECT_EQ(moved.size(), 99u);
  EXPECT_EQ(primary.size(), 2u);
  EXPECT_EQ(primary.get(Id::hash(numbered_key(5)))->value, "changed");
  EXPECT_EQ(primary.newest(Id::hash("pending"))->value, "q");
  EXPECT_EQ(replica.size(), 99u);
  auto copy = replica.get(Id::hash(numbered_key(7)));
  ASSERT_TRUE(copy);
  EXPECT_EQ(copy->key, numbered_key(7));
  EXPECT_EQ(copy->value, "v");
  EXPECT_EQ(copy->timestamp, 10);
  auto meta = replica.meta(Id::hash(numbered_key(7)));
  ASSERT_TRUE(meta && meta->master);
  EXPECT_EQ(meta->master->id, owner.id);
  EXPECT_EQ(meta->refreshed_ns, 77);
  // Last write wins where the other table held the key already (a newer
  // version keeps its own bookkeeping).
  EXPECT_EQ(replica.get(Id::hash(numbered_key(3)))->value, "newer");
  EXPECT_FALSE(replica.meta(Id::hash(numbered_key(3)))->master);
  EXPECT_EQ(primary.usage().items, 2u);
  EXPECT_EQ(replica.usage().items, 99u);
  std::size_t bytes = 0;
  for (int k = 0; k < 100; ++k) {
    if (k != 5) bytes += numbered_key(k).size() + (k == 3 ? 5 : 1);
  }
  EXPECT_EQ(replica.usage().bytes, bytes);
}

// The compact layout: one version inline, more only when needed; every
// transition between them keeps the key, the values and the flags.
TEST_P(DtableStoreTest, VersionsSurviveEveryChangeOfLayout) {
  Store& replica = table(true);
  const Id h = Id::hash("k");
  const std::string big(1000, 'b');
  replica.put(item("k", "one", 10), false);
  EXPECT_FALSE(replica.get(h));
  EXPECT_EQ(replica.commit(h, 10), CommitResult::kCommitted);
  replica.put(item("k", big, 20), true);  // history kept: two versions
  replica.put(tombstone("k", 30), false);
  auto vs = replica.versions(h);
  ASSERT_EQ(vs.size(), 3u);
  EXPECT_EQ(vs[0].item.value, "one");
  EXPECT_EQ(vs[1].item.value, big);
  EXPECT_TRUE(vs[2].item.deleted);
  EXPECT_FALSE(vs[2].committed);
  EXPECT_TRUE(replica.rollback(h, 30));
  EXPECT_TRUE(replica.rollback(h, 20));
  ASSERT_EQ(replica.versions(h).size(), 1u);
  EXPECT_EQ(replica.get(h)->value, "one");
  EXPECT_EQ(replica.get(h)->key, "k");
  EXPECT_EQ(replica.put(item("k", big, 20), true), PutResult::kOlder);  // aborted
  replica.put(item("k", "two", 40), true);
  EXPECT_EQ(replica.get(h)->value, "two");
  EXPECT_EQ(replica.usage().bytes, 1u + 3u);
  // A rollback that arrives first leaves an entry with no version but a mark.
  EXPECT_FALSE(replica.rollback(Id::hash("x"), 5));
  EXPECT_EQ(replica.size(), 1u);
  EXPECT_EQ(replica.put(item("x", "late", 5), true), PutResult::kOlder);
  EXPECT_EQ(replica.put(item("x", "new", 6), true), PutResult::kApplied);
  EXPECT_EQ(replica.get(Id::hash("x"))->key, "x");
}

// An expiry is part of its version: kept inline with a single version, in the
// list with several, through history, rollback and a key set late, and on
// disk (TearDown reads every table back and compares, expiries included).
TEST_P(DtableStoreTest, EachVersionKeepsItsExpiryThroughEveryLayout) {
  Store& replica = table(true);
  const Id h = Id::hash("k");
  EXPECT_EQ(replica.put(expiring("k", "one", 10, 5000), true), PutResult::kApplied);
  EXPECT_EQ(replica.get(h)->expires_ms, 5000);
  replica.put(item("k", "two", 20), true);  // history: the expiring one is kept
  replica.put(expiring("k", "three", 30, 7000), false);
  auto vs = replica.versions(h);
  ASSERT_EQ(vs.size(), 3u);
  EXPECT_EQ(vs[0].item.expires_ms, 5000);
  EXPECT_EQ(vs[1].item.expires_ms, 0);
  EXPECT_EQ(vs[2].item.expires_ms, 7000);
  EXPECT_EQ(replica.commit(h, 30), CommitResult::kCommitted);
  replica.put(expiring("k", "four", 40, 8000), true);  // the steady state of two
  vs = replica.versions(h);
  ASSERT_EQ(vs.size(), 2u);
  EXPECT_EQ(vs[0].item.expires_ms, 7000);
  EXPECT_EQ(vs[1].item.expires_ms, 8000);
  EXPECT_TRUE(replica.rollback(h, 40));
  EXPECT_EQ(replica.get(h)->expires_ms, 7000);
  EXPECT_EQ(replica.get(h)->value, "three");
  // Inline, the same size of value with and without an expiry.
  Store& primary = table(false);
  primary.put(expiring("p", "abc", 10, 9000), true);
  primary.put(item("p", "xyz", 20), true);
  EXPECT_EQ(primary.get(Id::hash("p"))->expires_ms, 0);
  EXPECT_EQ(primary.get(Id::hash("p"))->value, "xyz");
  primary.put(expiring("p", "uvw", 30, 9500), true);
  EXPECT_EQ(primary.get(Id::hash("p"))->expires_ms, 9500);
  EXPECT_EQ(primary.get(Id::hash("p"))->value, "uvw");
  // A tombstone never expires.
  Item dead = tombstone("p", 40);
  dead.expires_ms = 100;
  primary.put(dead, true);
  EXPECT_EQ(primary.get(Id::hash("p"))->expires_ms, 0);
  // The key set after a rollback mark made its entry keeps the expiry.
  EXPECT_FALSE(primary.rollback(Id::hash("late"), 5));
  primary.put(expiring("late", "v", 6, 1234), true);
  EXPECT_EQ(primary.get(Id::hash("late"))->expires_ms, 1234);
  EXPECT_EQ(primary.get(Id::hash("late"))->key, "late");
}

// An expired value becomes a tombstone of its timestamp at the next
// collection (its value freed; older copies still lose to it), and goes
// like one after the grace. A pending version after it keeps it as it is.
TEST_P(DtableStoreTest, ExpiredValuesBecomeTombstonesThenGo) {
  constexpr std::int64_t kSecond = 1'000'000'000;  // ns
  Store& t = table(false);
  const Id h = Id::hash("k");
  t.put(expiring("k", "v", 1 * kSecond, /*expires_ms=*/2000), true);
  t.put(expiring("later", "v", 1 * kSecond, 60'000), true);
  t.put(item("forever", "v", 1 * kSecond), true);
  t.put(expiring("busy", "v", 1 * kSecond, 2000), true);
  t.put(item("busy", "w", 3 * kSecond), false);
  EXPECT_EQ(t.collect(/*now=*/kSecond + kSecond / 2, 10 * kSecond, kSecond), 0u);
  EXPECT_EQ(t.get(h)->value, "v");
  EXPECT_EQ(t.collect(/*now=*/5 * kSecond / 2, 10 * kSecond, kSecond), 0u);
  auto got = t.get(h);
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->deleted);
  EXPECT_TRUE(got->value.empty());
  EXPECT_EQ(got->timestamp, kSecond);
  EXPECT_EQ(t.usage().items, 3u);  // "later", "forever", "busy" (not "k")
  EXPECT_EQ(t.put(item("k", "old", kSecond / 2), true), PutResult::kOlder);
  EXPECT_EQ(t.get(Id::hash("busy"))->value, "v");
  EXPECT_EQ(t.get(Id::hash("busy"))->expires_ms, 2000);
  EXPECT_EQ(t.collect(/*now=*/12 * kSecond, 10 * kSecond, kSecond), 1u);
  EXPECT_FALSE(t.get(h));
  EXPECT_TRUE(t.get(Id::hash("forever")));
  EXPECT_TRUE(t.get(Id::hash("busy")));
}

// On disk only, an expired value old enough is erased by a collection
// without being read back into memory first.
TEST_P(DtableStoreTest, ExpiredValuesOnDiskOnlyAreErased) {
  if (GetParam() != Engine::kRocksdb) GTEST_SKIP() << "evicts by itself";
  constexpr std::int64_t kSecond = 1'000'000'000;
  Store& t = table(false);
  for (int k = 0; k < 100; ++k) {
    t.put(expiring(numbered_key(k), "v", kSecond, k % 2 == 0 ? 2000 : 0), true);
  }
  EXPECT_EQ(t.usage().expiring, 50u);
  EXPECT_EQ(evict_all(t), 100u);
  EXPECT_EQ(t.usage().items, 100u) << "entries on disk count";
  EXPECT_EQ(t.collect(/*now=*/20 * kSecond, 10 * kSecond, kSecond), 50u);
  EXPECT_EQ(t.size(), 50u);
  // The erased ones leave the usage (items, bytes and expiring alike).
  EXPECT_EQ(t.usage().items, 50u);
  EXPECT_EQ(t.usage().expiring, 0u);
  std::size_t kept_bytes = 0;
  for (int k = 1; k < 100; k += 2) kept_bytes += numbered_key(k).size() + 1;
  EXPECT_EQ(t.usage().bytes, kept_bytes);
  EXPECT_FALSE(t.get(Id::hash(numbered_key(0))));
  EXPECT_EQ(t.get(Id::hash(numbered_key(1)))->value, "v");
}

// A replica written again and again keeps exactly the newest version and the
// one before it (values of changing sizes and a tombstone among them), counts
// only the newest, and a rollback at any point restores the one before.
TEST_P(DtableStoreTest, ReplicaKeepsTheNewestTwoVersionsWriteAfterWrite) {
  Store& replica = table(true);
  const Id h = Id::hash("k");
  std::vector<Item> written;
  for (int i = 1; i <= 12; ++i) {
    Item it = i % 5 == 0 ? tombstone("k", i * 10) : item("k", std::string(i * 7, 'a' + i), i * 10);
    ASSERT_EQ(replica.put(it, true), PutResult::kApplied) << i;
    written.push_back(it);
    const auto vs = replica.versions(h);
    ASSERT_EQ(vs.size(), i == 1 ? 1u : 2u) << i;
    EXPECT_EQ(vs.back().item, written.back()) << i;
    if (i > 1) {
      EXPECT_EQ(vs.front().item, written[written.size() - 2]) << i;
    }
    EXPECT_EQ(replica.usage().items, it.deleted ? 0u : 1u) << i;
    EXPECT_EQ(replica.usage().bytes, it.deleted ? 0u : 1 + it.value.size()) << i;
  }
  EXPECT_EQ(replica.put(item("k", "old", 115), true), PutResult::kOlder);
  EXPECT_EQ(replica.put(written.back(), true), PutResult::kDuplicate);
  EXPECT_TRUE(replica.rollback(h, 120));
  EXPECT_EQ(replica.get(h), written[written.size() - 2]);
}

// prefetch() is a hint: over entries of every layout and missing keys it
// changes nothing (in particular it creates no entry).
TEST_P(DtableStoreTest, PrefetchChangesNothing) {
  Store& replica = table(true);
  Vnode master{Id::hash("m"), "127.0.0.1:1"};
  ReplicaMeta meta{master, 0, 1};
  replica.put(item("single", "v", 10), true);
  replica.put(item("two", "a", 10), true, &meta);
  replica.put(item("two", "b", 20), true, &meta);
  replica.put(item("pending", "p", 10), false);
  replica.put(tombstone("gone", 10), true);
  const std::vector<std::string> keys{"single", "two", "pending", "gone", "missing"};
  std::vector<Id> hashes;
  for (const auto& k : keys) hashes.push_back(Id::hash(k));
  const auto usage = replica.usage();
  const auto size = replica.size();
  const auto changes = replica.changes();
  std::vector<std::vector<StoredVersion>> before;
  for (const Id& h : hashes) before.push_back(replica.versions(h));
  replica.prefetch(hashes);
  replica.prefetch({});
  EXPECT_EQ(replica.size(), size);
  EXPECT_EQ(replica.changes(), changes);
  EXPECT_EQ(replica.usage().items, usage.items);
  EXPECT_EQ(replica.usage().bytes, usage.bytes);
  for (std::size_t i = 0; i < hashes.size(); ++i) {
    const auto after = replica.versions(hashes[i]);
    ASSERT_EQ(after.size(), before[i].size()) << keys[i];
    for (std::size_t j = 0; j < after.size(); ++j) {
      EXPECT_EQ(after[j].item, before[i][j].item) << keys[i];
      EXPECT_EQ(after[j].committed, before[i][j].committed) << keys[i];
    }
  }
  EXPECT_EQ(replica.meta(Id::hash("two"))->master, master);
}

TEST_P(DtableStoreTest, ClockSteppingBackStillWinsOverEarlierWrites) {
  std::atomic<std::int64_t> wall{5'000'000};
  HybridClock clock([&] { return wall.load(); });
  Store& t = table(false);
  const Id h = Id::hash("k");
  ASSERT_EQ(t.put(item("k", "before", clock.now()), true), PutResult::kApplied);
  wall = 1'000;  // the node's clock steps back
  ASSERT_EQ(t.put(item("k", "after", clock.now()), true), PutResult::kApplied);
  EXPECT_EQ(t.get(h)->value, "after");
}

TEST_P(DtableStoreTest, ConcurrentWritersConvergeOnTheNewest) {
  Store& t = table(true);
  HybridClock clock;
  constexpr int kThreads = 4, kEach = 2000;
  std::atomic<std::int64_t> max_ts{0};
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th) {
    threads.emplace_back([&, th] {
      for (int i = 0; i < kEach; ++i) {
        const std::string key = numbered_key(i % 50);
        const std::int64_t ts = clock.now();
        const bool commit = (i % 3) != 0;
        if (t.put(item(key, std::to_string(th), ts), commit) == PutResult::kApplied && !commit) {
          if (i % 2 == 0) {
            t.commit(Id::hash(key), ts);
          } else {
            t.rollback(Id::hash(key), ts);
          }
        }
        t.get(Id::hash(key));
        std::int64_t m = max_ts.load();
        while (ts > m && !max_ts.compare_exchange_weak(m, ts)) {
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(t.size(), 50u);
  for (int k = 0; k < 50; ++k) {
    auto vs = t.versions(Id::hash(numbered_key(k)));
    ASSERT_FALSE(vs.empty());
    for (std::size_t i = 1; i < vs.size(); ++i)
      EXPECT_LT(vs[i - 1].item.timestamp, vs[i].item.timestamp);
  }
}

// ---- Entries left on disk only (RocksDB) -----------------------------------

// Lets every entry that may go leave memory (a first pass spares each entry
// used since the previous one, so two passes).
std::size_t evict_all(Store& t) {
  return t.evict(SIZE_MAX) + t.evict(SIZE_MAX);
}

// The evicting thread really lets entries go while steps run.
TEST_P(DtableStoreTest, TheEvictingEngineEvicts) {
  if (GetParam() != Engine::kEvicting) GTEST_SKIP() << "for the evicting engine";
  Store& t = table(false);
  for (int k = 0; k < 200; ++k) t.put(item(numbered_key(k), "v", 10), true);
  wait_for_evictions(200);
  EXPECT_LT(t.resident_entries(), 200u);
  for (int k = 0; k < 200; ++k) ASSERT_EQ(t.get(Id::hash(numbered_key(k)))->value, "v");
  EXPECT_GT(t.disk_reads(), 0u);
}

TEST_P(DtableStoreTest, EntriesOnDiskOnlyReadBackAsTheyWere) {
  if (GetParam() != Engine::kRocksdb) GTEST_SKIP() << "evicts by itself";
  Store& t = table(true);
  const Vnode master{Id::hash("m"), "127.0.0.1:9"};
  for (int k = 0; k < 300; ++k) {
    ReplicaMeta meta{master, k % 3, 1000 + k};
    if (k % 10 == 0) {
      t.put(tombstone(numbered_key(k), 10 + k), true, &meta);
    } else {
      t.put(item(numbered_key(k), "v" + std::to_string(k), 10 + k), true, &meta);
    }
  }
  t.put(item("pending", "p", 5), false);  // a write under way stays in memory
  t.put(item("two", "a", 5), true);
  t.put(item("two", "b", 6), true);    // history: stays
  t.rollback(Id::hash("aborted"), 7);  // an aborted mark: stays
  ASSERT_TRUE(t.refresh(Id::hash(numbered_key(1)), 11, master, 5000));
  const Store::Usage usage = t.usage();
  std::vector<std::string> before;
  for (int k = 0; k < 300; ++k) before.push_back(describe(t, Id::hash(numbered_key(k))));

  // The refreshed entry writes its refresh time in the second pass, and
  // goes in a third.
  EXPECT_EQ(evict_all(t), 299u);
  EXPECT_EQ(t.evict(SIZE_MAX), 1u);
  EXPECT_EQ(t.resident_entries(), 3u);
  EXPECT_EQ(t.usage().items, usage.items);  // counted on disk too
  EXPECT_EQ(t.usage().bytes, usage.bytes);
  EXPECT_EQ(t.size(), 302u);
  EXPECT_EQ(t.stamps().size(), 301u);  // committed versions: not the pending write
  EXPECT_EQ(t.select([](const Item&, const ReplicaMeta&) { return true; }).size(), 301u);
  for (int k = 0; k < 300; ++k) {
    EXPECT_EQ(describe(t, Id::hash(numbered_key(k))), before[static_cast<std::size_t>(k)]);
  }
  EXPECT_EQ(t.disk_reads(), 300u);
  // The refresh time went to disk with the entry.
  EXPECT_EQ(t.meta(Id::hash(numbered_key(1)))->refreshed_ns, 5000);
  EXPECT_EQ(t.meta(Id::hash(numbered_key(2)))->refreshed_ns, 1002);
  // Read back, they stay in memory until evicted again.
  EXPECT_EQ(t.resident_entries(), 303u);
  EXPECT_EQ(t.newest(Id::hash("pending"))->value, "p");
  EXPECT_EQ(t.versions(Id::hash("two")).size(), 2u);
  EXPECT_EQ(t.put(item("aborted", "x", 7), true), PutResult::kOlder);
}

TEST_P(DtableStoreTest, ARemovedEntryStaysRemovedWhateverTheDiskStillHolds) {
  if (GetParam() != Engine::kRocksdb) GTEST_SKIP() << "evicts by itself";
  Store& t = table(true);
  for (int k = 0; k < 100; ++k) t.put(item(numbered_key(k), "v", 10), true);
  evict_all(t);
  // Removed while their records are on disk: markers until the erase is.
  EXPECT_TRUE(t.erase_if_not_newer(Id::hash(numbered_key(1)), 10));
  EXPECT_TRUE(t.erase_replica(Id::hash(numbered_key(2)), std::nullopt));
  t.put(tombstone(numbered_key(3), 20), true);
  EXPECT_FALSE(t.get(Id::hash(numbered_key(1))));
  EXPECT_FALSE(t.get(Id::hash(numbered_key(2))));
  EXPECT_TRUE(t.get(Id::hash(numbered_key(3)))->deleted);
  evict_all(t);
  EXPECT_FALSE(t.get(Id::hash(numbered_key(1))));
  EXPECT_FALSE(t.get(Id::hash(numbered_key(2))));
  EXPECT_EQ(t.size(), 98u);
  EXPECT_EQ(t.usage().items, 97u);
  // Collection erases the old tombstone on disk too.
  evict_all(t);
  EXPECT_EQ(t.collect(1000, 1, 1), 1u);
  EXPECT_FALSE(t.get(Id::hash(numbered_key(3))));
  evict_all(t);
  EXPECT_FALSE(t.get(Id::hash(numbered_key(3))));
  EXPECT_EQ(t.size(), 97u);
  // A new write of a removed key starts afresh.
  EXPECT_EQ(t.put(item(numbered_key(1), "again", 5), true), PutResult::kApplied);
  EXPECT_EQ(t.get(Id::hash(numbered_key(1)))->value, "again");
}

// A hand-over of entries on disk only: select_hashes() copies them with the
// change they last took (kept on disk), so move_to() erases exactly those
// that did not change since, wherever they were meanwhile.
TEST_P(DtableStoreTest, AHandOverMovesEntriesOnDiskOnlyUnlessTheyChanged) {
  if (GetParam() != Engine::kRocksdb) GTEST_SKIP() << "evicts by itself";
  Store& primary = table(false);
  Store& replica = table(true);
  const Vnode owner{Id::hash("owner"), "127.0.0.1:2"};
  for (int k = 0; k < 100; ++k) primary.put(item(numbered_key(k), "v", 10), true);
  evict_all(primary);
  auto sent = primary.select_hashes([](const Id&) { return true; });
  ASSERT_EQ(sent.size(), 100u);
  primary.put(item(numbered_key(5), "changed", 15), true);  // arrived meanwhile: stays
  primary.get(Id::hash(numbered_key(6)));                   // read back: unchanged, moves
  evict_all(primary);
  evict_all(replica);
  std::vector<Id> moved;
  primary.move_to(replica, sent, ReplicaMeta{owner, 0, 77}, &moved);
  EXPECT_EQ(moved.size(), 99u);
  EXPECT_EQ(primary.size(), 1u);
  EXPECT_EQ(primary.get(Id::hash(numbered_key(5)))->value, "changed");
  EXPECT_EQ(replica.size(), 99u);
  EXPECT_EQ(replica.usage().items, 99u);
  evict_all(replica);
  EXPECT_EQ(replica.get(Id::hash(numbered_key(6)))->value, "v");
  EXPECT_EQ(replica.meta(Id::hash(numbered_key(6)))->master->id, owner.id);
}

// A walk visits each entry once while other threads read entries back from
// disk and let them go again.
TEST_P(DtableStoreTest, WalksSeeEachEntryOnceWhileEntriesComeAndGo) {
  if (GetParam() != Engine::kRocksdb) GTEST_SKIP() << "evicts by itself";
  Store& t = table(false);
  constexpr int kKeys = 20000;
  for (int k = 0; k < kKeys; ++k) t.put(item(numbered_key(k), "v", 10), true);
  for (int round = 0; round < 10; ++round) {
    // Odd rounds start with every entry on disk, even ones with every entry
    // in memory (and spared no more), so that the evicting thread lets
    // entries go between their shard's memory pass and the disk scan.
    if (round % 2 == 1) {
      evict_all(t);
    } else {
      for (int k = 0; k < kKeys; ++k) t.get(Id::hash(numbered_key(k)));
      t.evict(1);
    }
    std::atomic<bool> done{false};
    std::thread reader([&] {
      for (int i = 0; i < 10 * kKeys && !done.load(); i += 3) {
        t.get(Id::hash(numbered_key(i % kKeys)));
      }
    });
    std::thread evictor([&] {
      for (int i = 0; i < 100000 && !done.load(); ++i) t.evict(SIZE_MAX);
    });
    // Two walks in turn: stamps() and select_hashes().
    std::vector<std::pair<Id, std::int64_t>> stamps;
    if (round % 2 == 0) {
      stamps = t.stamps();
    } else {
      for (const Item& i : t.select_hashes([](const Id&) { return true; })) {
        stamps.emplace_back(i.hash, i.timestamp);
      }
    }
    done = true;
    reader.join();
    evictor.join();
    std::vector<Id> seen;
    for (const auto& [h, ts] : stamps) seen.push_back(h);
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end()) << "round " << round;
    EXPECT_EQ(seen.size(), static_cast<std::size_t>(kKeys)) << "round " << round;
  }
}

// A range walk reads only the spans of the arc from disk, and finds there
// exactly what a walk of the whole table filtered by the arc finds.
// select_first: the smallest hashes after a point, page by page, in memory
// and (RocksDB) partly or wholly on disk: each page is exactly the next
// `limit` of the sorted hashes the filter passes.
TEST_P(DtableStoreTest, FirstPagesAreTheSmallestHashesAfterAPoint) {
  Store& t = table(false);
  std::vector<Id> expected;
  for (int k = 0; k < 1000; ++k) {
    t.put(item(numbered_key(k), "value", 10 + k), true);
    if (k % 3 != 0) expected.push_back(Id::hash(numbered_key(k)));
  }
  std::sort(expected.begin(), expected.end());
  const auto filter = [](const Item& i, const ReplicaMeta&) {
    return std::stoi(i.key.substr(i.key.find_first_of("0123456789"))) % 3 != 0;
  };
  for (int round = 0; round < 3; ++round) {
    if (GetParam() == Engine::kRocksdb && round == 1) {
      evict_all(t);
      for (int k = 0; k < 1000; k += 7) t.get(Id::hash(numbered_key(k)));  // some in memory
    }
    if (GetParam() == Engine::kRocksdb && round == 2) evict_all(t);
    for (std::size_t limit : {1u, 7u, 100u, 5000u}) {
      std::vector<Id> listed;
      std::optional<Id> after;
      for (int page = 0; page < 2000; ++page) {
        Store::Page p = t.select_first(after, limit, filter, page % 2 == 0);
        ASSERT_LE(p.items.size(), limit);
        for (const Item& i : p.items) {
          listed.push_back(i.hash);
          EXPECT_EQ(i.value, page % 2 == 0 ? "value" : "") << "values only when asked";
        }
        if (!p.more) break;
        ASSERT_FALSE(p.items.empty());
        after = p.items.back().hash;
      }
      EXPECT_EQ(listed, expected) << "round " << round << " limit " << limit;
    }
  }
}

TEST_P(DtableStoreTest, RangeWalksReadTheirArcOfTheDisk) {
  if (GetParam() != Engine::kRocksdb) GTEST_SKIP() << "evicts by itself";
  Store& t = table(false);
  for (int k = 0; k < 3000; ++k) t.put(item(numbered_key(k), "v", 10), true);
  evict_all(t);
  for (int k = 0; k < 3000; k += 5) t.get(Id::hash(numbered_key(k)));  // some in memory
  const Id ids[] = {Id::hash("a"), Id::hash("b"), Id::hash("c"), Id(), Id::max()};
  for (const Id& a : ids) {
    for (const Id& b : ids) {
      auto in_arc = [&](const Id& h) { return between(a, b, h, true); };
      auto sorted = [](std::vector<Item> items) {
        std::vector<Id> out;
        for (const Item& i : items) out.push_back(i.hash);
        std::sort(out.begin(), out.end());
        return out;
      };
      const std::vector<HashSpan> spans = arc_spans(a, b);
      const auto whole = sorted(t.select_hashes(in_arc));
      EXPECT_EQ(sorted(t.select_hashes(in_arc, &spans)), whole) << a.hex() << " " << b.hex();
      EXPECT_EQ(sorted(t.select([&](const Item& i, const ReplicaMeta&) { return in_arc(i.hash); },
                                &spans)),
                whole);
    }
  }
  // With every entry on disk only, a filter that passes everything finds
  // just what lies in the spans: nothing else was read.
  evict_all(t);
  ASSERT_EQ(t.resident_entries(), 0u);
  for (const Id& a : ids) {
    for (const Id& b : ids) {
      const std::vector<HashSpan> spans = arc_spans(a, b);
      std::size_t in_arc = 0;
      for (int k = 0; k < 3000; ++k) in_arc += between(a, b, Id::hash(numbered_key(k)), true);
      EXPECT_EQ(t.select([](const Item&, const ReplicaMeta&) { return true; }, &spans).size(),
                in_arc);
    }
  }
  const std::size_t reads = t.disk_reads();
  EXPECT_EQ(t.size(), 3000u);
  EXPECT_EQ(t.disk_reads(), reads);  // walks read the disk, not read back
}

TEST_P(DtableStoreTest, LoadKeepsInMemoryWhatTheBudgetAllows) {
  if (GetParam() != Engine::kRocksdb) GTEST_SKIP() << "loads a table of its own";
  {
    Store t(false, journal_.get(), id(50));  // not compared by TearDown
    for (int k = 0; k < 5000; ++k) t.put(item(numbered_key(k), "value", 10), true);
  }
  Store back(false, journal_.get(), id(50));
  ASSERT_TRUE(back.load(0, 100 * Store::kEntryOverhead).ok());
  EXPECT_LE(back.resident_entries(), 100u);
  EXPECT_EQ(back.usage().items, 5000u);
  EXPECT_EQ(back.size(), 5000u);
  for (int k = 0; k < 5000; k += 7) ASSERT_EQ(back.get(Id::hash(numbered_key(k)))->value, "value");
  // Changes after a restart are numbered after those on disk: a copy handed
  // over before a change is not erased by it.
  auto sent = back.select_hashes([](const Id&) { return true; });
  back.put(item(numbered_key(1), "new", 20), true);
  std::vector<Id> erased;
  back.erase_if_not_newer(sent, &erased);
  EXPECT_EQ(erased.size(), 4999u);
  EXPECT_EQ(back.get(Id::hash(numbered_key(1)))->value, "new");
}

TEST_P(DtableStoreTest, TheCacheKeepsResidentEntriesWithinItsBudget) {
  if (GetParam() != Engine::kRocksdb) GTEST_SKIP() << "evicts by itself";
  Store& a = table(false);
  Store& b = table(true);
  for (int k = 0; k < 20000; ++k) {
    a.put(item(numbered_key(k), "0123456789", 10), true);
    if (k % 2 == 0) b.put(item(numbered_key(k), "0123456789", 10), true);
  }
  const std::size_t budget = 2000 * (Store::kEntryOverhead + 16);
  EntryCache cache(budget, {&a, &b});
  EXPECT_GT(a.resident_bytes() + b.resident_bytes(), budget);
  for (int i = 0; i < 3; ++i) cache.trim();  // the first pass spares what was used
  EXPECT_LE(a.resident_bytes() + b.resident_bytes(), budget);
  EXPECT_GT(a.resident_entries(), 0u);
  EXPECT_GT(b.resident_entries(), 0u);
  EXPECT_EQ(a.usage().items, 20000u);
  for (int k = 0; k < 20000; k += 13) {
    ASSERT_EQ(a.get(Id::hash(numbered_key(k)))->value, "0123456789");
  }
}

}  // namespace
}  // namespace dendrite::dtable
