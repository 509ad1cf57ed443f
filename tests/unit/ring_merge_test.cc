// Ring unification on the in-memory network: the merge plan, two rings made
// independently and then merged (by one node, or by nodes of both sides at
// once), and the RingHealer finding and merging the rings that a partition or
// a one-way cut left behind.
#include "host/ring_merge.h"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <thread>

#include "host/ring_healer.h"
#include "support/mem_network.h"
#include "support/mem_ring_cluster.h"

namespace dendrite::host {
namespace {

using test::addr;
using test::Cluster;
using test::TestHost;

Vnode vnode_at(std::uint8_t first_byte, const std::string& host) {
  Id::Bytes b{};
  b[0] = first_byte;
  return Vnode{Id(b), host};
}

std::set<std::string> hosts_of(std::initializer_list<int> ids) {
  std::set<std::string> out;
  for (int i : ids) out.insert(addr(i));
  return out;
}

// Builds a ring of the hosts `ids` (the first creates, the others join it).
void build_ring(Cluster& c, std::initializer_list<int> ids) {
  auto it = ids.begin();
  const std::string first = addr(*it);
  c.create(first);
  for (++it; it != ids.end(); ++it) ASSERT_TRUE(c.join(addr(*it), {first}).ok());
}

// Rounds until the hosts `group` make a correct ring of their own; -1 if not
// within `max_rounds`.
int converge_group(Cluster& c, const std::set<std::string>& group, int max_rounds = 60) {
  for (int i = 0; i < max_rounds; ++i) {
    if (c.check(&group).empty()) return i;
    c.round();
  }
  return c.check(&group).empty() ? max_rounds : -1;
}

TEST(PlanMergeTest, NotifiesEveryVnodeWhosePredecessorIsOnTheOtherSide) {
  // a: 10, 50, 90; b: 30, 40, 200. Merged order: 10 30 40 50 90 200.
  std::vector<Vnode> a{vnode_at(10, "a"), vnode_at(50, "a"), vnode_at(90, "a")};
  std::vector<Vnode> b{vnode_at(30, "b"), vnode_at(40, "b"), vnode_at(200, "b")};
  auto plan = plan_merge(a, b);
  std::set<std::pair<int, int>> got;
  for (const MergeNotify& n : plan) got.insert({n.dest.id.bytes()[0], n.candidate.id.bytes()[0]});
  // 10 <- 200 (b), 30 <- 10 (a), 50 <- 40 (b), 200 <- 90 (a); 40 <- 30 and
  // 90 <- 50 are already right.
  std::set<std::pair<int, int>> want{{10, 200}, {30, 10}, {50, 40}, {200, 90}};
  EXPECT_EQ(got, want);
}

TEST(PlanMergeTest, NothingWhenTheOtherRingAddsNothing) {
  std::vector<Vnode> a{vnode_at(10, "a"), vnode_at(50, "b")};
  EXPECT_TRUE(plan_merge(a, {vnode_at(50, "b")}).empty());
  EXPECT_TRUE(plan_merge(a, a).empty());
}

TEST(PlanMergeTest, OneVnodeEach) {
  auto plan = plan_merge({vnode_at(10, "a")}, {vnode_at(20, "b")});
  ASSERT_EQ(plan.size(), 2u);
}

// Two rings of `a` and `b` hosts (3 vnodes each, so their ids interleave),
// made independently on one network, merged by a call from one host.
class MergeRingsTest : public ::testing::TestWithParam<std::pair<int, int>> {};

TEST_P(MergeRingsTest, TwoIndependentRingsBecomeOne) {
  const auto [na, nb] = GetParam();
  Cluster c;
  std::set<std::string> ga, gb;
  c.create(addr(1));
  ga.insert(addr(1));
  for (int i = 2; i <= na; ++i) {
    ASSERT_TRUE(c.join(addr(i), {addr(1)}).ok());
    ga.insert(addr(i));
  }
  c.create(addr(101));
  gb.insert(addr(101));
  for (int i = 102; i < 101 + nb; ++i) {
    ASSERT_TRUE(c.join(addr(i), {addr(101)}).ok());
    gb.insert(addr(i));
  }
  ASSERT_GE(converge_group(c, ga), 0) << c.check(&ga);
  ASSERT_GE(converge_group(c, gb), 0) << c.check(&gb);
  ASSERT_NE(c.check(), "");  // two rings, not one

  TestHost& from = c.host(addr(1));
  auto report =
      merge_rings(c.net.endpoint(addr(1)), from.ring->local_vnodes()[0],
                  c.host(addr(101)).ring->local_vnodes()[0], 8, Milliseconds(1000), 1 << 16);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->ours, static_cast<std::size_t>(3 * na));
  EXPECT_EQ(report->theirs, static_cast<std::size_t>(3 * nb));
  EXPECT_GT(report->notifies, 0u);
  EXPECT_EQ(report->answered, report->notifies);
  const int rounds = c.converge();
  EXPECT_GE(rounds, 0) << c.check();
  if (getenv("RING_DEBUG")) printf("%d+%d hosts merged in %d rounds\n", na, nb, rounds);
  // A second merge finds nothing to do.
  auto again = merge_rings(c.net.endpoint(addr(101)), c.host(addr(101)).ring->local_vnodes()[0],
                           from.ring->local_vnodes()[0], 8, Milliseconds(1000), 1 << 16);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->notifies, 0u);
}

INSTANTIATE_TEST_SUITE_P(Sizes, MergeRingsTest,
                         ::testing::Values(std::pair{1, 1}, std::pair{2, 1}, std::pair{3, 2},
                                           std::pair{5, 5}, std::pair{8, 3}, std::pair{1, 12}));

TEST(MergeRingsTest, ConcurrentMergesFromBothSidesEndInOneRing) {
  Cluster c;
  build_ring(c, {1, 2, 3, 4});
  build_ring(c, {11, 12, 13});
  ASSERT_GE(converge_group(c, hosts_of({1, 2, 3, 4})), 0);
  ASSERT_GE(converge_group(c, hosts_of({11, 12, 13})), 0);
  std::vector<std::thread> merges;
  for (auto [from, to] : {std::pair{1, 11}, std::pair{12, 3}, std::pair{4, 13}}) {
    merges.emplace_back([&c, from = from, to = to] {
      auto r =
          merge_rings(c.net.endpoint(addr(from)), c.host(addr(from)).ring->local_vnodes()[1],
                      c.host(addr(to)).ring->local_vnodes()[2], 8, Milliseconds(1000), 1 << 16);
      EXPECT_TRUE(r.ok());
    });
  }
  // Stabilisation runs meanwhile, as it would.
  c.round();
  for (auto& t : merges) t.join();
  EXPECT_GE(c.converge(), 0) << c.check();
}

TEST(WalkRingTest, SkipsAVnodeThatDoesNotAnswer) {
  Cluster c;
  build_ring(c, {1, 2, 3, 4, 5});
  ASSERT_GE(c.converge(), 0);
  RingWalk all = walk_ring(c.net.endpoint(addr(1)), c.host(addr(1)).ring->local_vnodes()[0], 4,
                           Milliseconds(1000), 1000);
  EXPECT_TRUE(all.complete);
  EXPECT_EQ(all.vnodes.size(), 15u);
  c.net.kill(addr(3));  // not yet detected by anyone
  RingWalk some = walk_ring(c.net.endpoint(addr(1)), c.host(addr(1)).ring->local_vnodes()[0], 4,
                            Milliseconds(1000), 1000);
  EXPECT_GE(some.vnodes.size(), 12u);
  EXPECT_LE(walk_ring(c.net.endpoint(addr(1)), c.host(addr(1)).ring->local_vnodes()[0], 4,
                      Milliseconds(1000), 5)
                .vnodes.size(),
            5u);
}

// Every host of a Cluster with a RingHealer of its own, driven by hand on a
// simulated clock: one step = one stabilisation round of every live host and
// one healer pass each, one second apart.
class Healers {
 public:
  Healers(Cluster& c, const std::vector<int>& ids) : c_(c) {
    HealerConfig hc;
    hc.timeout = Milliseconds(1000);
    for (int i : ids) {
      TestHost& h = c.host(addr(i));
      memberships_.push_back(std::make_unique<Membership>(addr(i), MembershipConfig{}));
      if (i != ids.front()) memberships_.back()->add_seed(addr(ids.front()), now_);
      healers_.push_back(std::make_unique<RingHealer>(*h.ring, c.net.endpoint(addr(i)),
                                                      *memberships_.back(), hc, metrics_, nullptr));
    }
  }
  void step() {
    now_ += std::chrono::seconds(1);
    c_.round();
    for (auto& h : healers_) h->tick(now_);
  }
  // Steps until the whole cluster is one correct ring; the steps, or -1.
  int until_one_ring(int max_steps) {
    for (int i = 0; i < max_steps; ++i) {
      if (c_.check().empty()) return i;
      step();
    }
    return c_.check().empty() ? max_steps : -1;
  }
  std::uint64_t merges() {
    return static_cast<std::uint64_t>(
        metrics_.counter("dendrite_ring_merges_started_total", "").value());
  }
  RingHealer& of(std::size_t k) { return *healers_[k]; }

 private:
  Cluster& c_;
  std::chrono::steady_clock::time_point now_ = std::chrono::steady_clock::now();
  MetricsRegistry metrics_;
  std::vector<std::unique_ptr<Membership>> memberships_;
  std::vector<std::unique_ptr<RingHealer>> healers_;
};

void partition(Cluster& c, const std::set<std::string>& a, const std::set<std::string>& b) {
  for (const auto& x : a) {
    for (const auto& y : b) {
      c.net.cut(x, y);
      c.net.cut(y, x);
    }
  }
}

TEST(RingHealerTest, APartitionLongerThanFailureDetectionHeals) {
  Cluster c;
  build_ring(c, {1, 2, 3, 4, 5});
  ASSERT_GE(c.converge(), 0);
  Healers healers(c, {1, 2, 3, 4, 5});
  healers.step();
  const auto minority = hosts_of({4, 5}), majority = hosts_of({1, 2, 3});
  partition(c, majority, minority);
  // Long enough for each side to become a ring of its own and to back off.
  for (int i = 0; i < 40; ++i) healers.step();
  ASSERT_EQ(c.check(&majority), "");
  ASSERT_EQ(c.check(&minority), "");
  bool down_seen = false;
  for (const RememberedHost& h : healers.of(0).membership().snapshot()) {
    if (minority.count(h.address)) down_seen = down_seen || h.state == HostState::kDown;
  }
  EXPECT_TRUE(down_seen);
  c.net.heal();
  const int steps = healers.until_one_ring(40);
  EXPECT_GE(steps, 0) << c.check();
  EXPECT_GT(healers.merges(), 0u);
  for (const RememberedHost& h : healers.of(0).membership().snapshot()) {
    EXPECT_EQ(h.state, HostState::kUp) << h.address;
  }
}

TEST(RingHealerTest, AHostThatDropsWhatItReceivesRejoinsAfterTheCut) {
  Cluster c;
  build_ring(c, {1, 2, 3, 4});
  ASSERT_GE(c.converge(), 0);
  Healers healers(c, {1, 2, 3, 4});
  healers.step();
  // Host 3 loses every request to it and every answer it waits for; its own
  // requests still arrive.
  for (int o : {1, 2, 4}) {
    c.net.cut(addr(o), addr(3));
    c.net.cut(addr(3), addr(o), /*deliver=*/true);
  }
  for (int i = 0; i < 30; ++i) healers.step();
  c.net.heal();
  EXPECT_GE(healers.until_one_ring(40), 0) << c.check();
}

TEST(RingHealerTest, RepeatedAndOverlappingCutsEndInOneRing) {
  Cluster c;
  build_ring(c, {1, 2, 3, 4, 5, 6});
  ASSERT_GE(c.converge(), 0);
  Healers healers(c, {1, 2, 3, 4, 5, 6});
  healers.step();
  for (int rep = 0; rep < 3; ++rep) {
    partition(c, hosts_of({1, 2}), hosts_of({3, 4, 5, 6}));
    for (int i = 0; i < 8; ++i) healers.step();
    // A second, overlapping cut before the first heals.
    partition(c, hosts_of({5}), hosts_of({1, 2, 3, 4, 6}));
    for (int i = 0; i < 8; ++i) healers.step();
    c.net.heal();
    for (int i = 0; i < 3; ++i) healers.step();
  }
  EXPECT_GE(healers.until_one_ring(40), 0) << c.check();
}

TEST(RingHealerTest, NoMergesInASettledRing) {
  Cluster c;
  build_ring(c, {1, 2, 3});
  ASSERT_GE(c.converge(), 0);
  Healers healers(c, {1, 2, 3});
  for (int i = 0; i < 70; ++i) healers.step();  // past the seed probe and a verify period
  EXPECT_EQ(healers.merges(), 0u);
  EXPECT_EQ(c.check(), "");
}

}  // namespace
}  // namespace dendrite::host
