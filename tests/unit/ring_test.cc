// The Chord ring over the in-memory network: convergence of created and joined
// rings, lookups against brute force, failures (crash, graceful leave, half the
// ring at once), joins under concurrent lookups, ring events, and the request
// handlers on small hand-built rings.
#include "host/ring.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "chord.pb.h"
#include "host/ring_codec.h"
#include "support/mem_network.h"
#include "support/mem_ring_cluster.h"

namespace dendrite::host {
namespace {

using test::MemNetwork;

// Random keys looked up from every host (fewer under sanitizers, which make
// each lookup a hundred times slower).
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr int kLookupKeys = 2000;
#else
constexpr int kLookupKeys = 10000;
#endif

using test::addr;
using test::Cluster;
using test::random_id;
using test::TestHost;

// ---- convergence ----

class RingConvergeTest : public ::testing::TestWithParam<int> {};

TEST_P(RingConvergeTest, ConvergesToTrueRing) {
  Cluster c;
  c.build(GetParam());
  int rounds = c.converge();
  EXPECT_GE(rounds, 0) << c.check();
  // Stays correct.
  c.round();
  EXPECT_EQ(c.check(), "");
}

INSTANTIATE_TEST_SUITE_P(Hosts, RingConvergeTest, ::testing::Values(1, 2, 5, 8));

TEST(RingTest, OneVnodeRingPointsAtItself) {
  Cluster c(1);
  TestHost& h = c.create(addr(1));
  VnodeState s = h.ring->state(0);
  ASSERT_TRUE(s.predecessor.has_value());
  EXPECT_EQ(*s.predecessor, s.self);
  EXPECT_EQ(s.successors, std::vector<Vnode>{s.self});
  c.round();
  EXPECT_EQ(c.check(), "");
  auto r = h.ring->lookup(1, Id::hash("k"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->front(), s.self);
}

TEST(RingTest, CreateLinksLocalVnodesInIdOrder) {
  Cluster c(5, 3);
  c.create(addr(1));
  EXPECT_EQ(c.check(), "");
}

TEST(RingTest, JoinWhenExistingVnodesHaveNoPredecessorYet) {
  Cluster c(3);
  c.create(addr(1));
  // Joins without any stabilisation in between: some vnodes of the first joiner
  // have no predecessor yet when the next ones join through it.
  ASSERT_TRUE(c.join(addr(2), {addr(1)}).ok());
  ASSERT_TRUE(c.join(addr(3), {addr(2)}).ok());
  ASSERT_TRUE(c.join(addr(4), {addr(3), addr(1)}).ok());
  EXPECT_GE(c.converge(), 0) << c.check();
}

TEST(RingTest, JoinFailsNamingTheSeeds) {
  Cluster c;
  c.create(addr(1));
  Status s = c.join(addr(2), {"10.9.9.9:1", "10.9.9.8:1"});
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("10.9.9.9:1"), std::string::npos) << s.to_string();
  EXPECT_NE(s.message().find("10.9.9.8:1"), std::string::npos) << s.to_string();
}

TEST(RingTest, JoinSkipsDeadSeed) {
  Cluster c;
  c.create(addr(1));
  ASSERT_TRUE(c.join(addr(3), {"10.9.9.9:1", addr(1)}).ok());
  EXPECT_GE(c.converge(), 0) << c.check();
}

// ---- lookups ----

TEST(RingTest, LookupsMatchBruteForce) {
  Cluster c;
  c.build(8);
  ASSERT_GE(c.converge(), 0) << c.check();
  std::mt19937_64 rng(42);
  int wrong = 0;
  for (int i = 0; i < kLookupKeys; ++i) {
    Id key = random_id(rng);
    Vnode want = c.owners(key, 1)[0];
    for (TestHost* h : c.up_hosts()) {
      auto r = h->ring->lookup(1, key);
      if (!r.ok() || r->size() != 1 || !(r->front() == want)) ++wrong;
    }
  }
  EXPECT_EQ(wrong, 0);
  // Several successors, and keys equal to vnode ids.
  for (const Vnode& v : c.truth()) {
    for (TestHost* h : c.up_hosts()) {
      auto r = h->ring->lookup(4, v.id);
      ASSERT_TRUE(r.ok()) << r.status().to_string();
      EXPECT_EQ(*r, c.owners(v.id, 4));
    }
  }
}

TEST(RingTest, FingerRefreshCostsFewLookups) {
  Cluster c;
  c.build(8);
  ASSERT_GE(c.converge(), 0) << c.check();
  auto before = c.net.calls(msg::kFindSuccessors);
  c.round();
  auto per_vnode = (c.net.calls(msg::kFindSuccessors) - before) / 24;
  // About log2(24) lookups of about log2(24)/2 hops each; far below one lookup per bit.
  EXPECT_LT(per_vnode, 60u);
  // The fingers are distinct and lead away from the vnode.
  for (TestHost* h : c.up_hosts()) {
    VnodeState s = h->ring->state(0);
    EXPECT_FALSE(s.fingers.empty());
    for (std::size_t i = 1; i < s.fingers.size(); ++i) {
      EXPECT_LT(distance(s.self.id, s.fingers[i - 1].id), distance(s.self.id, s.fingers[i].id));
    }
  }
}

TEST(RingTest, LookupRoutesAroundDeadVnodes) {
  Cluster c(3, 8);
  c.build(6);
  ASSERT_GE(c.converge(), 0) << c.check();
  c.kill(addr(3));
  // Before any repair, lookups still find the live owner (or the dead one as
  // stale owner; never an error).
  std::mt19937_64 rng(7);
  int errors = 0;
  for (int i = 0; i < 500; ++i) {
    Id key = random_id(rng);
    auto r = c.host(addr(1)).ring->lookup(1, key);
    if (!r.ok()) ++errors;
  }
  EXPECT_EQ(errors, 0);
}

// ---- failures ----

TEST(RingTest, ReconvergesAfterCrashAndGracefulLeave) {
  Cluster c;
  c.build(5);
  ASSERT_GE(c.converge(), 0) << c.check();
  c.kill(addr(2));
  EXPECT_GE(c.converge(), 0) << c.check();
  TestHost& leaver = c.host(addr(4));
  leaver.ring->leave();
  leaver.up = false;  // still registered: answers Err "leaving"
  EXPECT_GE(c.converge(), 0) << c.check();
  // After leaving, it refuses requests.
  Message reply = leaver.ring->handle(make_ping());
  EXPECT_EQ(error_of(reply).message(), "leaving");
  // A leave followed by the process exiting.
  TestHost& other = c.host(addr(5));
  other.ring->leave();
  c.kill(addr(5));
  EXPECT_GE(c.converge(), 0) << c.check();
  for (TestHost* h : c.up_hosts()) {
    auto r = h->ring->lookup(1, Id::hash("x"));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->front(), c.owners(Id::hash("x"), 1)[0]);
  }
}

TEST(RingTest, GracefulLeaveRepairsNeighboursAtOnce) {
  Cluster c;
  c.build(4);
  ASSERT_GE(c.converge(), 0) << c.check();
  c.host(addr(3)).ring->leave();
  c.kill(addr(3));
  // Without any round, no live vnode still lists a vnode of the leaver as its
  // first successor or predecessor.
  for (TestHost* h : c.up_hosts()) {
    for (std::size_t i = 0; i < h->ring->vnode_count(); ++i) {
      VnodeState s = h->ring->state(i);
      EXPECT_NE(s.successors[0].host, addr(3));
      if (s.predecessor) {
        EXPECT_NE(s.predecessor->host, addr(3));
      }
    }
  }
  EXPECT_GE(c.converge(), 0) << c.check();
  // The neighbours asked for a prompt stabilisation.
  std::size_t requests = 0;
  for (TestHost* h : c.up_hosts()) {
    std::lock_guard<std::mutex> lock(h->mu);
    requests += h->requested.size();
  }
  EXPECT_GT(requests, 0u);
}

TEST(RingTest, SurvivesHalfTheHostsFailingAtOnce) {
  Cluster c(3, 10);
  c.build(8);
  ASSERT_GE(c.converge(), 0) << c.check();
  for (int i : {2, 4, 5, 7}) c.kill(addr(i));
  EXPECT_GE(c.converge(), 0) << c.check();
  std::mt19937_64 rng(3);
  for (int i = 0; i < 1000; ++i) {
    Id key = random_id(rng);
    auto r = c.host(addr(1)).ring->lookup(1, key);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->front(), c.owners(key, 1)[0]);
  }
}

TEST(RingTest, CrashedHostRestartsAndRejoinsBeforeRepair) {
  Cluster c;
  c.build(5);
  ASSERT_GE(c.converge(), 0) << c.check();
  c.kill(addr(3));
  c.round();
  // A new process at the same address (same vnode ids) joins while the ring
  // still lists its previous incarnation.
  ASSERT_TRUE(c.join(addr(3), {addr(1)}).ok());
  EXPECT_GE(c.converge(), 0) << c.check();
}

TEST(RingTest, TimeoutsCountAsDeath) {
  Cluster c;
  c.build(4);
  ASSERT_GE(c.converge(), 0) << c.check();
  c.host(addr(2)).up = false;
  c.net.kill(addr(2), StatusCode::kTimeout);
  EXPECT_GE(c.converge(), 0) << c.check();
}

TEST(RingTest, JoinDuringConcurrentLookups) {
  Cluster c;
  c.build(5);
  ASSERT_GE(c.converge(), 0) << c.check();
  std::vector<Vnode> before = c.truth();
  std::vector<TestHost*> old_hosts = c.up_hosts();
  // The ring after the join, computed up front.
  std::vector<Vnode> after = before;
  for (int i = 0; i < 3; ++i) after.push_back(Vnode{Id::for_vnode(addr(6), i), addr(6)});
  std::sort(after.begin(), after.end(), [](const Vnode& a, const Vnode& b) { return a.id < b.id; });
  auto owner_in = [](const std::vector<Vnode>& all, const Id& key) {
    auto it = std::lower_bound(all.begin(), all.end(), key,
                               [](const Vnode& v, const Id& k) { return v.id < k; });
    return it == all.end() ? all.front() : *it;
  };

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, errors{0}, invalid{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(100 + t);
      for (int i = 0; i < 200000 && !stop.load(); ++i) {
        Id key = random_id(rng);
        auto r = old_hosts[static_cast<std::size_t>(i) % old_hosts.size()]->ring->lookup(1, key);
        if (!r.ok()) {
          ++errors;
        } else if (r->front() == owner_in(before, key) || r->front() == owner_in(after, key)) {
          ++ok;
        } else {
          ++invalid;
        }
      }
    });
  }
  // Let the lookups get going, join, stabilise, and let them run a while more.
  auto wait_lookups = [&](int n) {
    for (int i = 0; i < 20000 && ok + errors + invalid < n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  };
  wait_lookups(200);
  Status joined = c.join(addr(6), {addr(1)});
  int rounds = -1;
  if (joined.ok()) {
    for (rounds = 0; rounds < 60 && !c.check().empty(); ++rounds) {
      c.round();
      wait_lookups(ok + errors + invalid + 50);
    }
    if (!c.check().empty()) rounds = -1;
  }
  wait_lookups(ok + errors + invalid + 200);
  stop = true;
  for (auto& t : threads) t.join();
  ASSERT_TRUE(joined.ok()) << joined.to_string();
  EXPECT_GE(rounds, 0) << c.check();
  EXPECT_EQ(invalid.load(), 0);
  EXPECT_LE(errors.load(), 10);
  EXPECT_GT(ok.load(), 0);
  if (getenv("RING_DEBUG")) printf("lookups ok %d errors %d\n", ok.load(), errors.load());
}

TEST(RingTest, ConcurrentStabilisationOfAllHosts) {
  Cluster c;
  c.build(4);
  ASSERT_GE(c.converge(), 0) << c.check();
  // The keys looked up meanwhile, with their owners (no host comes or goes,
  // so every lookup must find them while rounds run on every host at once).
  std::mt19937_64 rng(9);
  std::vector<std::pair<Id, Vnode>> keys;
  for (int i = 0; i < 2000; ++i) {
    const Id key = random_id(rng);
    keys.emplace_back(key, c.owners(key, 1)[0]);
  }
  std::vector<std::thread> threads;
  std::atomic<bool> stop{false};
  // The rounds wait for the lookups to begin, so the two overlap however the
  // threads are scheduled (else the rounds could all end before one lookup).
  std::atomic<bool> looking{false};
  for (TestHost* h : c.up_hosts()) {
    threads.emplace_back([h, &looking] {
      while (!looking.load()) std::this_thread::yield();
      for (int r = 0; r < 15; ++r) {
        for (std::size_t i = 0; i < h->ring->vnode_count(); ++i) h->ring->stabilize(i);
      }
    });
  }
  int looked_up = 0, wrong = 0, empty_state = 0;
  threads.emplace_back([&] {
    looking.store(true);
    for (int i = 0; i < 20000 && !stop.load(); ++i) {
      const auto& [key, want] = keys[static_cast<std::size_t>(i) % keys.size()];
      auto r = c.host(addr(1)).ring->lookup(1, key);
      if (!r.ok() || r->size() != 1 || !(r->front() == want)) ++wrong;
      ++looked_up;
      if (c.host(addr(2)).ring->state(0).successors.empty()) ++empty_state;
    }
  });
  for (std::size_t i = 0; i + 1 < threads.size(); ++i) threads[i].join();
  stop = true;
  threads.back().join();
  EXPECT_GT(looked_up, 0);
  EXPECT_EQ(wrong, 0) << "of " << looked_up << " lookups";
  EXPECT_EQ(empty_state, 0);
  EXPECT_GE(c.converge(), 0) << c.check();
}

// Random churn: hosts at seed-dependent addresses (so each seed is another id
// layout) crash, leave and join; after each step the ring reconverges and
// lookups match brute force.
class RingChurnTest : public ::testing::TestWithParam<int> {};

TEST_P(RingChurnTest, ReconvergesAfterEachStep) {
  const int seed = GetParam();
  std::mt19937_64 rng(static_cast<std::uint64_t>(seed));
  auto address = [&](int i) {
    return "10." + std::to_string(seed % 250) + ".0." + std::to_string(i) + ":7000";
  };
  Cluster c(3, 8);
  c.create(address(1));
  int next = 2;
  for (; next <= 6; ++next) ASSERT_TRUE(c.join(address(next), {address(1)}).ok());
  ASSERT_GE(c.converge(), 0) << c.check();
  for (int step = 0; step < 6; ++step) {
    std::vector<TestHost*> up = c.up_hosts();
    int action = static_cast<int>(rng() % 3);
    if (up.size() <= 2) action = 2;
    if (action == 0) {
      c.kill(up[rng() % up.size()]->address);
    } else if (action == 1) {
      TestHost* h = up[rng() % up.size()];
      h->ring->leave();
      c.kill(h->address);
    } else {
      std::string seed_host = up[rng() % up.size()]->address;
      ASSERT_TRUE(c.join(address(next++), {seed_host}).ok());
    }
    ASSERT_GE(c.converge(), 0) << "step " << step << " action " << action << ": " << c.check();
    for (int i = 0; i < 200; ++i) {
      Id key = random_id(rng);
      TestHost* from = c.up_hosts()[rng() % c.up_hosts().size()];
      auto r = from->ring->lookup(1, key);
      ASSERT_TRUE(r.ok()) << r.status().to_string();
      ASSERT_EQ(r->front(), c.owners(key, 1)[0]);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, RingChurnTest, ::testing::Range(1, 9));

// ---- events ----

bool has_event(const std::vector<RingEvent>& events, RingEventType type, const Vnode& target,
               const std::optional<Vnode>& new_pred, const std::optional<Vnode>& old_pred) {
  for (const RingEvent& e : events) {
    if (e.type == type && e.target == target && e.new_predecessor == new_pred &&
        e.old_predecessor == old_pred) {
      return true;
    }
  }
  return false;
}

std::vector<RingEvent> all_events(Cluster& c) {
  std::vector<RingEvent> out;
  for (TestHost* h : c.up_hosts()) {
    for (RingEvent& e : h->all_events()) out.push_back(std::move(e));
  }
  return out;
}

void clear_events(Cluster& c) {
  for (TestHost* h : c.up_hosts()) h->take_events();
}

TEST(RingEventsTest, JoinReportsPredecessorJoinedAtSuccessors) {
  Cluster c;
  c.build(4);
  ASSERT_GE(c.converge(), 0) << c.check();
  std::map<std::string, std::vector<Vnode>> remote_before;
  for (TestHost* h : c.up_hosts()) {
    for (std::size_t i = 0; i < h->ring->vnode_count(); ++i) {
      VnodeState s = h->ring->state(i);
      remote_before[s.self.id.hex()] = s.remote_successors;
    }
  }
  clear_events(c);
  ASSERT_TRUE(c.join(addr(5), {addr(2)}).ok());
  ASSERT_GE(c.converge(), 0) << c.check();
  std::vector<Vnode> all = c.truth();
  std::vector<RingEvent> events = all_events(c);
  std::set<std::string> expected_targets;
  for (std::size_t k = 0; k < all.size(); ++k) {
    const Vnode& x = all[k];
    const Vnode& s = all[(k + 1) % all.size()];
    if (x.host != addr(5) || s.host == addr(5)) continue;
    expected_targets.insert(s.id.hex());
    bool found = false;
    for (const RingEvent& e : events) {
      found |=
          e.type == RingEventType::kPredecessorJoined && e.target == s && e.new_predecessor == x;
    }
    EXPECT_TRUE(found) << "no PredecessorJoined at " << s.to_string() << " for " << x.to_string();
  }
  EXPECT_FALSE(expected_targets.empty());
  for (const RingEvent& e : events) {
    if (e.type != RingEventType::kPredecessorJoined || e.target.host == addr(5)) continue;
    EXPECT_TRUE(expected_targets.count(e.target.id.hex())) << e.target.to_string();
    EXPECT_EQ(e.new_predecessor->host, addr(5));
  }
  // ReplicasChanged: the last event of each vnode whose replica set changed
  // carries its new remote successors.
  for (TestHost* h : c.up_hosts()) {
    for (std::size_t i = 0; i < h->ring->vnode_count(); ++i) {
      VnodeState s = h->ring->state(i);
      if (h->address != addr(5) && remote_before[s.self.id.hex()] == s.remote_successors) continue;
      const RingEvent* last = nullptr;
      for (const RingEvent& e : events) {
        if (e.type == RingEventType::kReplicasChanged && e.target == s.self) last = &e;
      }
      ASSERT_NE(last, nullptr) << s.self.to_string();
      EXPECT_EQ(last->remote_successors, s.remote_successors);
      EXPECT_EQ(s.remote_successors.size(), 2u);
      for (const Vnode& r : s.remote_successors) EXPECT_NE(r.host, h->address);
    }
  }
}

TEST(RingEventsTest, LeaveAndCrashReportPredecessorLeft) {
  Cluster c;
  c.build(5);
  ASSERT_GE(c.converge(), 0) << c.check();
  for (const std::string& gone : {addr(3), addr(4)}) {
    std::vector<Vnode> all = c.truth();
    clear_events(c);
    if (gone == addr(3)) {
      c.host(gone).ring->leave();
      c.kill(gone);
    } else {
      c.kill(gone);  // crash
    }
    ASSERT_GE(c.converge(), 0) << c.check();
    std::vector<RingEvent> events = all_events(c);
    for (std::size_t k = 0; k < all.size(); ++k) {
      const Vnode& x = all[k];
      const Vnode& s = all[(k + 1) % all.size()];
      if (x.host != gone || s.host == gone) continue;
      bool found = false;
      for (const RingEvent& e : events) {
        found |=
            e.type == RingEventType::kPredecessorLeft && e.target == s && e.old_predecessor == x;
      }
      EXPECT_TRUE(found) << gone << ": no PredecessorLeft at " << s.to_string();
      if (gone == addr(3)) {
        // A graceful leave names the new predecessor at once.
        VnodeState st = c.host(s.host).ring->state(*c.host(s.host).ring->index_of(s.id));
        EXPECT_TRUE(has_event(events, RingEventType::kPredecessorLeft, s, st.predecessor, x));
      }
    }
  }
}

// ---- handlers ----

class RingHandlerTest : public ::testing::Test {
 protected:
  RingHandlerTest() : c(4, 3) {
    h = &c.create(addr(1));
    for (std::size_t i : {0u, 1u, 2u, 3u}) {
      VnodeState s = h->ring->state(i);
      sorted.push_back(s.self);
    }
    std::sort(sorted.begin(), sorted.end(),
              [](const Vnode& a, const Vnode& b) { return a.id < b.id; });
  }
  VnodeState state_of(const Vnode& v) { return h->ring->state(*h->ring->index_of(v.id)); }
  Cluster c;
  TestHost* h;
  std::vector<Vnode> sorted;  // the 4 local vnodes by id
};

std::vector<Vnode> list_reply(const Message& m) {
  auto l = parse_vnode_list(m);
  EXPECT_TRUE(l.ok()) << l.status().to_string();
  return l.ok() ? l.value() : std::vector<Vnode>{};
}

TEST_F(RingHandlerTest, PingAndListVnodes) {
  Message pong = h->ring->handle(make_ping());
  ASSERT_EQ(pong.type, msg::kPing);
  auto p = unpack<PBProtoPing>(pong, msg::kPing);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->version(), 1);
  EXPECT_EQ(list_reply(h->ring->handle(make_list_vnodes())), h->ring->local_vnodes());
  EXPECT_TRUE(Ring::handles(msg::kNotify));
  EXPECT_FALSE(Ring::handles(msg::kAck));
  EXPECT_FALSE(Ring::handles(0x20));
}

TEST_F(RingHandlerTest, FindSuccessorsAnswersOrForwards) {
  const Vnode& a = sorted[0];
  const Vnode& b = sorted[1];
  // Key in (a, b]: a answers with its successor list, up to the limit.
  Id key = a.id.plus_pow2(0);  // a + 1
  Message r = h->ring->handle(make_find_successors(key, a, 2));
  EXPECT_EQ(list_reply(r), (std::vector<Vnode>{sorted[1], sorted[2]}));
  r = h->ring->handle(make_find_successors(b.id, a, 8));
  EXPECT_EQ(list_reply(r), (std::vector<Vnode>{sorted[1], sorted[2], sorted[3]}));
  // key == a: a's successor list.
  r = h->ring->handle(make_find_successors(a.id, a, 1));
  EXPECT_EQ(list_reply(r), std::vector<Vnode>{sorted[1]});
  // Avoiding b: the list skips it.
  r = h->ring->handle(make_find_successors(key, a, 8, {b.id}));
  EXPECT_EQ(list_reply(r), (std::vector<Vnode>{sorted[2], sorted[3]}));
  // Key just after c (sorted[2]): a forwards to the closest preceding, c.
  Id key_c = sorted[2].id.plus_pow2(0);
  r = h->ring->handle(make_find_successors(key_c, a, 1));
  ASSERT_EQ(r.type, msg::kForward);
  auto f = unpack<PBProtoForward>(r, msg::kForward);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(from_pb(f->vnode()), sorted[2]);
  // A key shorter than 20 bytes, as an original sends finger keys (a big
  // integer's bytes): the same number with its leading zero bytes restored.
  PBProtoFindSuccessors short_key;
  short_key.set_key(std::string(1, '\x05'));  // 5: lies in (last vnode, first] or beyond
  to_pb(a, short_key.mutable_dest());
  short_key.set_limit(1);
  Id five = Id::from_bytes(std::string(19, '\0') + '\x05').value();
  Message short_reply = h->ring->handle(pack(msg::kFindSuccessors, short_key));
  EXPECT_NE(short_reply.type, msg::kErr) << error_of(short_reply).to_string();
  EXPECT_EQ(short_reply.type, h->ring->handle(make_find_successors(five, a, 1)).type);
  EXPECT_EQ(short_reply.payload, h->ring->handle(make_find_successors(five, a, 1)).payload);
  // ... or to b when c is avoided.
  r = h->ring->handle(make_find_successors(key_c, a, 1, {sorted[2].id}));
  ASSERT_EQ(r.type, msg::kForward);
  f = unpack<PBProtoForward>(r, msg::kForward);
  EXPECT_EQ(from_pb(f->vnode()), sorted[1]);
}

TEST_F(RingHandlerTest, GetPredecessor) {
  const Vnode& b = sorted[1];
  Message r = h->ring->handle(make_get_predecessor(b));
  ASSERT_EQ(r.type, msg::kProtoVnode);
  auto pb = unpack<PBProtoVnode>(r, msg::kProtoVnode);
  ASSERT_TRUE(pb.ok());
  EXPECT_EQ(from_pb(pb.value()), sorted[0]);
  // A host that has not created or joined a ring knows no predecessor: its
  // vnode names itself (an Err would read as death to an original caller).
  TestHost& fresh = c.add_host(addr(2));
  Vnode v = fresh.ring->local_vnodes()[0];
  r = fresh.ring->handle(make_get_predecessor(v));
  ASSERT_EQ(r.type, msg::kProtoVnode) << error_of(r).to_string();
  pb = unpack<PBProtoVnode>(r, msg::kProtoVnode);
  ASSERT_TRUE(pb.ok());
  EXPECT_EQ(from_pb(pb.value()), v);
  // Nor can it answer FindSuccessors yet.
  EXPECT_EQ(error_of(fresh.ring->handle(make_find_successors(v.id, v, 1))).code(),
            StatusCode::kRemoteError);
}

TEST_F(RingHandlerTest, NotifyRectifies) {
  const Vnode& b = sorted[1];
  // A vnode between a and b becomes b's predecessor; the reply is b's list.
  Vnode x{sorted[0].id.plus_pow2(0), "10.9.9.9:1"};
  Message r = h->ring->handle(make_notify(b, x));
  EXPECT_EQ(list_reply(r), state_of(b).successors);
  EXPECT_EQ(state_of(b).predecessor, x);
  // One outside (x, b) does not replace it.
  Vnode y{sorted[2].id.plus_pow2(0), "10.9.9.9:1"};
  h->ring->handle(make_notify(b, y));
  EXPECT_EQ(state_of(b).predecessor, x);
  auto events = h->take_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, RingEventType::kPredecessorJoined);
  EXPECT_EQ(events[0].target, b);
  EXPECT_EQ(events[0].new_predecessor, x);
  EXPECT_EQ(events[0].old_predecessor, sorted[0]);
}

TEST_F(RingHandlerTest, LeaveFromSuccessorAndPredecessor) {
  const Vnode& a = sorted[0];
  const Vnode& b = sorted[1];
  const Vnode& d = sorted[3];
  Vnode x{Id::for_vnode("10.9.9.9:1", 0), "10.9.9.9:1"};
  Vnode y{Id::for_vnode("10.9.9.9:1", 1), "10.9.9.9:1"};
  // b leaves: a (its predecessor) splices in b's list.
  Message r = h->ring->handle(make_leave(b, a, a, {x, a, y}));
  ASSERT_EQ(r.type, msg::kAck);
  EXPECT_EQ(state_of(a).successors, std::vector<Vnode>{x});  // cut at a itself
  // d leaves: a (its successor) takes d's predecessor.
  r = h->ring->handle(make_leave(d, a, sorted[2], {a}));
  ASSERT_EQ(r.type, msg::kAck);
  EXPECT_EQ(state_of(a).predecessor, sorted[2]);
  auto events = h->take_events();
  EXPECT_TRUE(has_event(events, RingEventType::kPredecessorLeft, a, sorted[2], d));
  std::lock_guard<std::mutex> lock(h->mu);
  std::size_t ia = *h->ring->index_of(a.id);
  EXPECT_EQ(std::count(h->requested.begin(), h->requested.end(), ia), 2);
}

TEST_F(RingHandlerTest, BadRequestsGetErr) {
  const Vnode& a = sorted[0];
  Vnode unknown{Id::for_vnode("10.9.9.9:1", 0), "10.9.9.9:1"};
  for (MessageType t : {msg::kPing, msg::kListVnodes, msg::kFindSuccessors, msg::kGetPredecessor,
                        msg::kNotify, msg::kLeave}) {
    Message garbage{t, std::string("\xff\xff\xff", 3)};
    EXPECT_EQ(h->ring->handle(garbage).type, msg::kErr) << int(t);
  }
  for (MessageType t : {msg::kFindSuccessors, msg::kGetPredecessor, msg::kNotify, msg::kLeave}) {
    Message empty{t, ""};  // required fields missing
    EXPECT_EQ(h->ring->handle(empty).type, msg::kErr) << int(t);
  }
  EXPECT_EQ(h->ring->handle(Message{msg::kAck, ""}).type, msg::kErr);
  EXPECT_EQ(h->ring->handle(Message{0x77, ""}).type, msg::kErr);
  for (const Message& m : {make_find_successors(a.id, unknown, 1), make_get_predecessor(unknown),
                           make_notify(unknown, a), make_leave(a, unknown, std::nullopt, {})}) {
    Message r = h->ring->handle(m);
    EXPECT_EQ(r.type, msg::kErr);
    EXPECT_EQ(error_of(r).message().rfind("unknown vnode", 0), 0u) << error_of(r).message();
  }
  // A vnode id of the wrong length.
  PBProtoGetPredecessor bad;
  bad.mutable_dest()->set_id("short");
  bad.mutable_dest()->set_host(addr(1));
  EXPECT_EQ(h->ring->handle(pack(msg::kGetPredecessor, bad)).type, msg::kErr);
}

}  // namespace
}  // namespace dendrite::host
