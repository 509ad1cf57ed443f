// The ring simulator (bench/ringsim): on small rings its lookups through the
// host's Ring agree with brute force (sorted ids -> true successor), it counts
// hops, and failure injection followed by stabilisation rounds yields a right
// ring again.
#include "sim.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace dendrite::sim {
namespace {

constexpr int kKeys = 3000;

// A right ring of `hosts` hosts: built the quick way, then checked.
void build_right(Simulation& sim, std::size_t hosts) {
  EXPECT_GE(build(sim, hosts, 60), 0);
  ASSERT_EQ(sim.live_vnodes().size(), hosts * sim.ring(0).vnode_count());
  ASSERT_TRUE(sim.check(true).all_ok());
}

// Every lookup of random keys from random hosts finds the brute-force owner.
void expect_lookups_right(Simulation& sim, int keys, double max_mean_hops) {
  const std::vector<Vnode> sorted = sim.live_vnodes();
  const std::vector<std::size_t> live = sim.live_hosts();
  long hops = 0;
  for (int k = 0; k < keys; ++k) {
    const Id key = sim.random_key();
    const std::size_t from = live[sim.rng()() % live.size()];
    const LookupOutcome o = sim.lookup(from, key, sorted);
    ASSERT_TRUE(o.ok) << "lookup " << key.hex() << " from " << sim.address(from);
    ASSERT_TRUE(o.correct) << "lookup " << key.hex() << " from " << sim.address(from)
                           << " missed the owner " << owner(sorted, key).to_string();
    EXPECT_FALSE(o.dead_answer);
    // A lookup never visits a vnode twice.
    EXPECT_LE(o.hops, static_cast<int>(sorted.size()));
    hops += o.hops;
  }
  EXPECT_LE(static_cast<double>(hops) / keys, max_mean_hops);
}

TEST(RingSim, OwnerAndFingersFromSortedIds) {
  std::vector<Vnode> sorted;
  for (int i = 0; i < 8; ++i) {
    sorted.push_back(Vnode{Id::for_vnode(host_address(static_cast<std::size_t>(i)), 0), "h"});
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const Vnode& a, const Vnode& b) { return a.id < b.id; });
  EXPECT_EQ(owner(sorted, sorted[3].id), sorted[3]);
  EXPECT_EQ(
      owner(sorted, sorted[3].id + Id::for_vnode("x", 0).plus_pow2(0) - Id::for_vnode("x", 0)),
      sorted[4]);
  EXPECT_EQ(owner(sorted, Id::max()), sorted.front());
  const std::vector<Vnode> f = true_fingers(sorted, sorted[0]);
  ASSERT_FALSE(f.empty());
  EXPECT_EQ(f.front(), sorted[1]);
  for (const Vnode& v : f) EXPECT_NE(v, sorted[0]);
}

TEST(RingSim, LookupsAgreeWithBruteForce) {
  Simulation sim({1, 12, 7});
  build_right(sim, 48);
  // Half of log2(48) ~ 2.8 expected; a loose bound catches routing along successors.
  expect_lookups_right(sim, kKeys, std::log2(48.0));
}

TEST(RingSim, LookupsAgreeWithBruteForceSeveralVnodesPerHost) {
  Simulation sim({4, 12, 11});
  build_right(sim, 16);  // 64 vnodes
  expect_lookups_right(sim, kKeys, std::log2(64.0));
}

TEST(RingSim, CountsRemoteFindSuccessorsAsHops) {
  Simulation sim({1, 4, 3});
  build_right(sim, 2);
  const std::vector<Vnode> sorted = sim.live_vnodes();
  // A key owned by the successor of host 0's vnode is answered by that vnode
  // itself: no remote hop. A key owned by host 0's own vnode takes one hop (the
  // other vnode answers for it).
  const Vnode mine = sim.ring(0).local_vnodes()[0];
  const Vnode other = sim.ring(1).local_vnodes()[0];
  const Id one = Id::for_vnode("x", 0).plus_pow2(0) - Id::for_vnode("x", 0);
  LookupOutcome o = sim.lookup(0, mine.id + one, sorted);
  EXPECT_TRUE(o.correct);
  EXPECT_EQ(o.hops, 0);
  o = sim.lookup(0, other.id + one, sorted);
  EXPECT_TRUE(o.correct);
  EXPECT_EQ(o.hops, 1);
}

TEST(RingSim, FailuresThenStabilisationGiveARightRing) {
  for (double fraction : {0.25, 0.5}) {
    SCOPED_TRACE(fraction);
    Simulation sim({1, 12, 5});
    build_right(sim, 64);
    std::vector<std::size_t> live = sim.live_hosts();
    std::shuffle(live.begin(), live.end(), sim.rng());
    live.resize(static_cast<std::size_t>(fraction * 64));
    for (std::size_t h : live) sim.kill(h);
    EXPECT_FALSE(sim.check(false).ring_ok());
    const Convergence c = converge(sim, 60, Level::kFingers);
    EXPECT_GE(c.successors, 0);
    EXPECT_GE(c.ring, 0);
    EXPECT_GE(c.fingers, 0);
    EXPECT_TRUE(sim.check(true).all_ok());
    expect_lookups_right(sim, kKeys / 3, std::log2(64.0));
  }
}

TEST(RingSim, PartitionedHalvesMergeIntoOneRightRing) {
  // 64 hosts of two vnodes split in halves until each half is a ring of its
  // own, healed, and one merge from one host: one right ring again, with
  // lookups that agree with brute force.
  Simulation sim({2, 12, 11});
  build_right(sim, 64);
  std::vector<bool> side(64, false), other(64, true);
  std::vector<std::size_t> live = sim.live_hosts();
  std::shuffle(live.begin(), live.end(), sim.rng());
  for (std::size_t i = 0; i < 32; ++i) {
    side[live[i]] = true;
    other[live[i]] = false;
  }
  sim.split(side);
  bool halves = false;
  for (int i = 0; i < 60 && !halves; ++i) {
    sim.round();
    halves = sim.check(false, &side).ring_ok() && sim.check(false, &other).ring_ok();
  }
  ASSERT_TRUE(halves);
  sim.heal();
  EXPECT_FALSE(sim.check(false).ring_ok());  // two rings, without a merge for ever
  auto report = sim.merge(live[0], live[40]);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->ours, 64u);
  EXPECT_EQ(report->theirs, 64u);
  const Convergence c = converge(sim, 60, Level::kFingers);
  EXPECT_GE(c.ring, 0);
  EXPECT_GE(c.fingers, 0);
  EXPECT_TRUE(sim.check(true).all_ok());
  expect_lookups_right(sim, kKeys / 3, std::log2(128.0));
}

TEST(RingSim, MassJoinConverges) {
  // Hosts of two vnodes: 24 join a ring of 24 at once, with only the rounds
  // Ring::join runs, then random rounds until everything is right.
  Simulation sim({2, 10, 9});
  build_right(sim, 24);
  const MassJoin m = mass_join(sim, 24, 60, Level::kFingers);
  EXPECT_EQ(m.before, 24u);
  EXPECT_EQ(m.joined, 24u);
  EXPECT_EQ(m.join_errors, 0u);
  EXPECT_GE(m.rounds.successors, 0);
  EXPECT_LE(m.rounds.successors, m.rounds.ring);
  EXPECT_LE(m.rounds.ring, m.rounds.fingers);
  EXPECT_TRUE(sim.check(true).all_ok());
  expect_lookups_right(sim, kKeys / 3, std::log2(96.0));
}

}  // namespace
}  // namespace dendrite::sim
