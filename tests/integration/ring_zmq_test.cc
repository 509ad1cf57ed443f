// Rings of real nodes in this process over ZeroMQ on 127.0.0.1: convergence,
// lookups against brute force, crashes, graceful leaves, mass failure, and a
// join under lookup load.
#include <atomic>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "support/cluster.h"

namespace dendrite::test {
namespace {

Id random_id(std::mt19937_64& rng) {
  Id::Bytes b;
  for (auto& byte : b) byte = static_cast<std::uint8_t>(rng());
  return Id(b);
}

// Every live node looks up `keys` random keys; each answer must be the
// brute-force owner. Returns the number of wrong or failed lookups.
int check_lookups(Cluster& cluster, int keys, std::uint64_t seed) {
  std::vector<Vnode> all = cluster.all_vnodes();
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (std::size_t i : cluster.live()) {
    threads.emplace_back([&, i] {
      std::mt19937_64 rng(seed + i);
      for (int k = 0; k < keys; ++k) {
        Id key = random_id(rng);
        auto r = cluster.node(i).ring().lookup(1, key);
        if (!r.ok() || r->empty() || r->front() != Cluster::owner(all, key)) {
          if (bad.fetch_add(1) < 5) {
            ADD_FAILURE() << "lookup of " << key.hex() << " from node " << i << ": "
                          << (r.ok() ? (r->empty() ? "empty" : r->front().to_string())
                                     : r.status().to_string())
                          << ", want " << Cluster::owner(all, key).to_string();
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  return bad.load();
}

class RingSizeTest : public ::testing::TestWithParam<int> {};

TEST_P(RingSizeTest, ConvergesAndLooksUpLikeBruteForce) {
  Cluster cluster;
  for (int i = 0; i < GetParam(); ++i) cluster.add();
  EXPECT_EQ(cluster.wait_converged(), "");
  EXPECT_EQ(check_lookups(cluster, GetParam() == 5 ? 10000 : 1000, 42), 0);
}

INSTANTIATE_TEST_SUITE_P(Nodes, RingSizeTest, ::testing::Values(1, 2, 5, 8));

TEST(RingZmqTest, ReconvergesAfterACrashAndAGracefulLeave) {
  Cluster cluster;
  for (int i = 0; i < 5; ++i) cluster.add();
  ASSERT_EQ(cluster.wait_converged(), "");
  cluster.kill(2);
  EXPECT_EQ(cluster.wait_converged(), "");
  cluster.leave(3);
  EXPECT_EQ(cluster.wait_converged(), "");
  EXPECT_EQ(check_lookups(cluster, 500, 7), 0);
}

TEST(RingZmqTest, HalfOfEightNodesFailingAtOnceReconverges) {
  // r = 16 >= 2 log2(24 vnodes): a live successor survives half the ring failing.
  Cluster cluster(3, 16);
  for (int i = 0; i < 8; ++i) cluster.add();
  ASSERT_EQ(cluster.wait_converged(), "");
  for (std::size_t i : {1, 3, 4, 6}) cluster.kill(i);
  EXPECT_EQ(cluster.wait_converged(std::chrono::seconds(90)), "");
  EXPECT_EQ(check_lookups(cluster, 500, 9), 0);
}

TEST(RingZmqTest, NodeJoinsWhileLookupsRun) {
  Cluster cluster;
  for (int i = 0; i < 4; ++i) cluster.add();
  ASSERT_EQ(cluster.wait_converged(), "");
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> readers;
  for (std::size_t i = 0; i < 2; ++i) {
    // Take the node before the thread starts: the cluster's list grows below.
    host::Ring& ring = cluster.node(i).ring();
    readers.emplace_back([&, i, &ring = ring] {
      std::mt19937_64 rng(100 + i);
      // Bounded: at most 100,000 lookups per reader.
      for (int k = 0; k < 100000 && !stop.load(); ++k) {
        auto r = ring.lookup(1, random_id(rng));
        (r.ok() && !r->empty() ? ok : failed).fetch_add(1);
      }
    });
  }
  cluster.add();
  EXPECT_EQ(cluster.wait_converged(), "");
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_GT(ok.load(), 0);
  // During the join a lookup may fail cleanly; most must succeed.
  EXPECT_LE(failed.load(), ok.load() / 10 + 5);
  EXPECT_EQ(check_lookups(cluster, 500, 11), 0);
}

}  // namespace
}  // namespace dendrite::test
