// dtable's storage below the Store: the record format of one key, and the
// RocksDB journal's promises (reopen, the sync barrier, checkpoints) and
// refusals (a directory in use, a foreign or corrupt one, another node's).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "rocksdb_journal.h"
#include "store.h"
#include "store_record.h"
#include "support/process.h"

namespace dendrite::dtable {
namespace {

namespace fs = std::filesystem;

StoreRecord sample() {
  StoreRecord r;
  r.key = "user:42";
  r.versions.push_back({10, "old", false, true, /*expires_ms=*/1'700'000'000'123});
  r.versions.push_back({20, "", true, true});
  r.versions.push_back({30, std::string_view("bin\0ary", 7), false, false});
  r.aborted = {25, -3};
  r.master = Vnode{Id::hash("m"), "127.0.0.1:7000"};
  r.depth = 1;
  r.refreshed_ns = 123456789;
  r.seq = 987654321;
  return r;
}

TEST(DtableStoreRecordTest, RoundTripsEveryField) {
  std::string bytes;
  encode_record(sample(), bytes);
  StoreRecord back;
  ASSERT_TRUE(decode_record(bytes, back));
  EXPECT_EQ(back.key, "user:42");
  ASSERT_EQ(back.versions.size(), 3u);
  EXPECT_EQ(back.versions[0].value, "old");
  EXPECT_EQ(back.versions[0].expires_ms, 1'700'000'000'123);
  EXPECT_EQ(back.versions[1].expires_ms, 0);
  EXPECT_TRUE(back.versions[1].deleted);
  EXPECT_EQ(back.versions[2].value, std::string_view("bin\0ary", 7));
  EXPECT_FALSE(back.versions[2].committed);
  EXPECT_EQ(back.versions[2].ts, 30);
  EXPECT_EQ(back.aborted, (std::vector<std::int64_t>{25, -3}));
  ASSERT_TRUE(back.master);
  EXPECT_EQ(back.master->host, "127.0.0.1:7000");
  EXPECT_EQ(back.master->id, Id::hash("m"));
  EXPECT_EQ(back.depth, 1);
  EXPECT_EQ(back.refreshed_ns, 123456789);
  EXPECT_EQ(back.seq, 987654321u);
}

TEST(DtableStoreRecordTest, ReadsTheFirstFormatWithoutARefreshTime) {
  std::string bytes;
  encode_record(sample(), bytes);
  // Format 1 is format 2 without the trailing refresh time (8 bytes) and
  // seq (a varint, 5 bytes for this one).
  std::string first = bytes.substr(0, bytes.size() - 13);
  first[0] = 1;
  StoreRecord back;
  ASSERT_TRUE(decode_record(first, back));
  EXPECT_EQ(back.depth, 1);
  EXPECT_EQ(back.refreshed_ns, 0);
  EXPECT_EQ(back.seq, 0u);
  first[0] = 2;  // too short for format 2
  EXPECT_FALSE(decode_record(first, back));
}

TEST(DtableStoreRecordTest, EveryTruncationAndAnyTrailingByteIsRefused) {
  std::string bytes;
  encode_record(sample(), bytes);
  StoreRecord r;
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(decode_record(std::string_view(bytes).substr(0, n), r)) << n;
  }
  EXPECT_FALSE(decode_record(bytes + "x", r));
  std::string other_format = bytes;
  other_format[0] = 3;
  EXPECT_FALSE(decode_record(other_format, r));
}

Item item(const std::string& key, const std::string& value, std::int64_t ts) {
  return Item{key, Id::hash(key), value, ts, false};
}

const JournalIdentity kNode{"127.0.0.1:5000", {Id::hash("a"), Id::hash("b")}};

Result<std::unique_ptr<Journal>> open(const std::string& path, const JournalIdentity& who = kNode) {
  RocksJournalOptions o;
  o.path = path;
  return open_rocksdb_journal(o, who);
}

TEST(DtableJournalTest, TablesComeBackAfterAReopen) {
  test::TempDir dir;
  const std::string path = dir.path() + "/data";
  const TableId primary{1, TableId::Kind::kPrimary};
  const TableId replica{1, TableId::Kind::kReplica};
  {
    auto j = open(path);
    ASSERT_TRUE(j.ok()) << j.status().message();
    Store p(false, j->get(), primary);
    Store r(true, j->get(), replica);
    for (int i = 0; i < 1000; ++i) p.put(item("k" + std::to_string(i), "v", 10 + i), true);
    p.put(item("pending", "p", 5), false);
    p.rollback(Id::hash("k7"), 17);
    r.put(item("k1", "r1", 10), true, nullptr);
    r.put(item("k1", "r2", 20), true, nullptr);
    ASSERT_TRUE((*j)->error().ok());
  }
  auto j = open(path);
  ASSERT_TRUE(j.ok()) << j.status().message();
  Store p(false, j->get(), primary);
  Store r(true, j->get(), replica);
  ASSERT_TRUE(p.load(0).ok());
  ASSERT_TRUE(r.load(0).ok());
  EXPECT_EQ(p.usage().items, 999u);  // k7 was rolled back
  EXPECT_FALSE(p.get(Id::hash("k7")));
  EXPECT_EQ(p.put(item("k7", "again", 17), true), PutResult::kOlder);  // its aborted mark
  EXPECT_EQ(p.get(Id::hash("k999"))->timestamp, 1009);
  EXPECT_FALSE(p.get(Id::hash("pending")));
  EXPECT_EQ(p.newest(Id::hash("pending"))->value, "p");
  ASSERT_EQ(r.versions(Id::hash("k1")).size(), 2u);  // the replica's history
  EXPECT_EQ(r.get(Id::hash("k1"))->value, "r2");
  // Another table of the same vnode is untouched by these.
  Store other(false, j->get(), TableId{0, TableId::Kind::kPrimary});
  ASSERT_TRUE(other.load(0).ok());
  EXPECT_EQ(other.size(), 0u);
}

TEST(DtableJournalTest, ScanWalksOneTableInHashOrderFromAHash) {
  test::TempDir dir;
  auto j = open(dir.path() + "/data");
  ASSERT_TRUE(j.ok());
  const TableId t{0, TableId::Kind::kPrimary};
  Store s(false, j->get(), t);
  std::vector<Id> hashes;
  for (int i = 0; i < 200; ++i) {
    s.put(item("k" + std::to_string(i), "v", 1), true);
    hashes.push_back(Id::hash("k" + std::to_string(i)));
  }
  std::sort(hashes.begin(), hashes.end());
  std::vector<Id> seen;
  ASSERT_TRUE((*j)->scan(t, hashes[100],
                         [&](const Id& h, std::string_view) {
                           seen.push_back(h);
                           return true;
                         })
                  .ok());
  EXPECT_EQ(seen, std::vector<Id>(hashes.begin() + 100, hashes.end()));
}

TEST(DtableJournalTest, AfterSyncAnswersEveryWaiterOfConcurrentWriters) {
  test::TempDir dir;
  auto j = open(dir.path() + "/data");
  ASSERT_TRUE(j.ok());
  Journal& journal = **j;
  Store s(false, &journal, TableId{});
  std::atomic<int> answered{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < 200; ++i) {
        s.put(item("w" + std::to_string(w) + "-" + std::to_string(i), "v", 1), true);
        std::promise<Status> p;
        journal.after_sync([&](Status st) { p.set_value(st); });
        if (p.get_future().get().ok()) answered.fetch_add(1);
      }
    });
  }
  for (auto& t : writers) t.join();
  EXPECT_EQ(answered.load(), 800);
}

TEST(DtableJournalTest, WritesBeyondTheQueueBoundWaitAndAllReachTheDisk) {
  // 40 MiB of records while the journal's thread is held up (an answer that
  // blocks it, as a stalled disk would) until the queue is full and for
  // longer than a writer waits: writers wait for room and give up once;
  // closing applies the rest.
  test::TempDir dir;
  const std::string path = dir.path() + "/data";
  const std::string value(4096, 'x');
  constexpr int kItems = 10000;
  {
    auto j = open(path);
    ASSERT_TRUE(j.ok());
    Store s(false, j->get(), TableId{});
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    s.put(item("first", "v", 1), true);
    (*j)->after_sync([released](Status) { released.wait_for(std::chrono::seconds(120)); });
    std::vector<std::thread> writers;
    for (int w = 0; w < 2; ++w) {
      writers.emplace_back([&, w] {
        for (int i = w; i < kItems; i += 2) s.put(item("big" + std::to_string(i), value, 1), true);
      });
    }
    // Bounded: 60 s for the writers to fill the queue (sanitizers are slow).
    for (int i = 0; i < 6000 && (*j)->memory().queue < (16u << 20) - 65536; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // > a writer's 1 s wait
    release.set_value();
    for (auto& t : writers) t.join();
    ASSERT_TRUE((*j)->error().ok()) << (*j)->error().message();
    // The writers waited: the queue held at most its bound (16 MiB) and one
    // change more per wait given up (each wait lasts at most 1 s), though
    // 40 MiB went through it.
    const Journal::QueueStats q = (*j)->queue_stats();
    const std::uint64_t change = value.size() + 256;  // a record and its bookkeeping
    EXPECT_LE(q.peak_bytes, (16u << 20) + (1 + q.waits_given_up) * change) << q.waits_given_up;
    EXPECT_GT(q.waits_given_up, 0u);  // the thread was held longer than a wait
  }
  auto j = open(path);
  ASSERT_TRUE(j.ok());
  Store s(false, j->get(), TableId{});
  ASSERT_TRUE(s.load(0).ok());
  EXPECT_EQ(s.size(), static_cast<std::size_t>(kItems) + 1);
  EXPECT_EQ(s.get(Id::hash("big9999"))->value, value);
}

TEST(DtableJournalTest, AnAnswerThatWritesAgainIsAnsweredInTurn) {
  // after_sync() callbacks run on the journal's thread; one that records a
  // change and waits again (a hook writing on) must neither block nor be lost.
  test::TempDir dir;
  const std::string path = dir.path() + "/data";
  constexpr int kRounds = 50;
  {
    auto j = open(path);
    ASSERT_TRUE(j.ok());
    Journal& journal = **j;
    Store s(false, &journal, TableId{});
    std::promise<int> finished;
    std::function<void(int, Status)> next = [&](int round, Status st) {
      if (!st.ok() || round == kRounds) return finished.set_value(st.ok() ? round : -1);
      s.put(item("chain" + std::to_string(round), "v", 1), true);
      journal.after_sync([&, round](Status st2) { next(round + 1, st2); });
    };
    next(0, Status::Ok());
    auto done = finished.get_future();
    ASSERT_EQ(done.wait_for(std::chrono::seconds(60)), std::future_status::ready);
    EXPECT_EQ(done.get(), kRounds);
  }
  auto j = open(path);
  ASSERT_TRUE(j.ok());
  Store s(false, j->get(), TableId{});
  ASSERT_TRUE(s.load(0).ok());
  EXPECT_EQ(s.size(), static_cast<std::size_t>(kRounds));
}

TEST(DtableJournalTest, ACheckpointOpensAsACopyOfTheData) {
  test::TempDir dir;
  const std::string backup = dir.path() + "/backup";
  {
    auto j = open(dir.path() + "/data");
    ASSERT_TRUE(j.ok());
    Store s(false, j->get(), TableId{});
    s.put(item("kept", "v1", 1), true);
    ASSERT_TRUE((*j)->checkpoint(backup).ok());
    s.put(item("later", "v2", 2), true);
    EXPECT_FALSE((*j)->checkpoint(backup).ok());  // never over an existing directory
  }
  auto j = open(backup);
  ASSERT_TRUE(j.ok()) << j.status().message();
  Store s(false, j->get(), TableId{});
  ASSERT_TRUE(s.load(0).ok());
  EXPECT_TRUE(s.get(Id::hash("kept")));
  EXPECT_FALSE(s.get(Id::hash("later")));
}

TEST(DtableJournalTest, TwoNodesCannotShareADirectory) {
  test::TempDir dir;
  auto first = open(dir.path() + "/data");
  ASSERT_TRUE(first.ok());
  auto second = open(dir.path() + "/data");
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("in use by another process"), std::string::npos)
      << second.status().message();
}

TEST(DtableJournalTest, AnotherNodesDirectoryIsRefusedNamingBoth) {
  test::TempDir dir;
  ASSERT_TRUE(open(dir.path() + "/data").ok());
  auto moved = open(dir.path() + "/data", JournalIdentity{"127.0.0.1:5001", kNode.vnodes});
  ASSERT_FALSE(moved.ok());
  EXPECT_NE(moved.status().message().find("holds the data of node 127.0.0.1:5000 with 2 vnodes"),
            std::string::npos)
      << moved.status().message();
  auto fewer = open(dir.path() + "/data", JournalIdentity{kNode.advertise, {Id::hash("a")}});
  ASSERT_FALSE(fewer.ok());
  EXPECT_NE(fewer.status().message().find("this node is 127.0.0.1:5000 with 1 vnodes"),
            std::string::npos)
      << fewer.status().message();
}

TEST(DtableJournalTest, AForeignDirectoryIsRefusedAndLeftAlone) {
  test::TempDir dir;
  const std::string path = dir.path() + "/photos";
  fs::create_directories(path);
  std::ofstream(path + "/holiday.jpg") << "not a database";
  auto j = open(path);
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.status().message().find("is not a dendrite data directory"), std::string::npos)
      << j.status().message();
  EXPECT_EQ(std::distance(fs::directory_iterator(path), fs::directory_iterator()), 1);

  std::ofstream(dir.path() + "/file") << "x";
  auto not_dir = open(dir.path() + "/file");
  ASSERT_FALSE(not_dir.ok());
  EXPECT_NE(not_dir.status().message().find("is not a directory"), std::string::npos);
}

TEST(DtableJournalTest, ADirectoryThatCannotBeCreatedIsNamed) {
  test::TempDir dir;
  const std::string file = dir.write("file", "x");
  auto j = open(file + "/data");
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.status().message().find(file + "/data: Not a directory"), std::string::npos)
      << j.status().message();
}

TEST(DtableJournalTest, AMalformedRecordStopsTheLoadNamingTheKey) {
  test::TempDir dir;
  const TableId t{0, TableId::Kind::kReplica};
  auto j = open(dir.path() + "/data");
  ASSERT_TRUE(j.ok());
  (*j)->put(t, Id::hash("bad"), "\x01garbage");
  Store s(true, j->get(), t);
  const Status st = s.load(0);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(Id::hash("bad").hex()), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("malformed record"), std::string::npos) << st.message();
}

TEST(DtableJournalTest, ACorruptDatabaseFileIsRefused) {
  test::TempDir dir;
  const std::string path = dir.path() + "/data";
  ASSERT_TRUE(open(path).ok());
  // The MANIFEST names every file of the database: overwrite it.
  bool broke = false;
  for (const auto& f : fs::directory_iterator(path)) {
    if (f.path().filename().string().rfind("MANIFEST", 0) == 0) {
      std::ofstream(f.path(), std::ios::binary | std::ios::trunc) << std::string(300, '\x5a');
      broke = true;
    }
  }
  ASSERT_TRUE(broke);
  auto j = open(path);
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.status().message().find(path), std::string::npos) << j.status().message();
}

}  // namespace
}  // namespace dendrite::dtable
