// Mutations and expiries on a real ring (replicas 2): conditional writes and
// counters decided at the primary, atomic under concurrent clients of several
// nodes; an expiry carried to every copy, honoured by reads through any node,
// after a failover and after a join moved the key; and a newcomer deciding on
// the value the ring holds.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "support/dtable_cluster.h"

namespace dendrite::test {
namespace {

using dtable::Mutation;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Mutation set_if(Mutation::If condition, std::string value) {
  Mutation m;
  m.condition = condition;
  m.operand = std::move(value);
  return m;
}

Mutation incr_by(std::int64_t delta) {
  Mutation m;
  m.op = Mutation::Op::kIncrBy;
  m.delta = delta;
  m.expiry = Mutation::Expiry::kKeep;
  return m;
}

Mutation set_expiring(std::string value, std::int64_t expires_ms) {
  Mutation m;
  m.operand = std::move(value);
  m.expiry = Mutation::Expiry::kAt;
  m.expires_ms = expires_ms;
  return m;
}

TEST(DtableMutationTest, ConditionalWritesAndReadModifyWritesAtThePrimary) {
  DtableCluster c;
  for (int i = 0; i < 3; ++i) c.add();
  ASSERT_EQ(c.wait_converged(), "");
  auto& t = c.table(1);
  auto nx = t.query().consistency(2).mutate("m:nx", set_if(Mutation::If::kAbsent, "first"));
  ASSERT_TRUE(nx.ok()) << nx.status().to_string();
  EXPECT_TRUE(nx->applied);
  EXPECT_FALSE(nx->existed);
  nx = c.table(2).query().mutate("m:nx", set_if(Mutation::If::kAbsent, "second"));
  ASSERT_TRUE(nx.ok());
  EXPECT_FALSE(nx->applied);
  EXPECT_TRUE(nx->existed);
  EXPECT_EQ(*c.table(0).query().get("m:nx"), "first");
  auto xx = t.query().mutate("m:xx", set_if(Mutation::If::kPresent, "x"));
  ASSERT_TRUE(xx.ok());
  EXPECT_FALSE(xx->applied);
  EXPECT_EQ(c.table(0).query().get("m:xx").status().code(), StatusCode::kNotFound);

  // The copies written are replicated like any write: 3 hosts hold "first".
  EXPECT_TRUE(wait_until([&] { return c.hosts_with("m:nx", "first").size() == 3; }));

  // APPEND, GETDEL.
  Mutation append;
  append.op = Mutation::Op::kAppend;
  append.operand = "-more";
  append.expiry = Mutation::Expiry::kKeep;
  auto a = t.query().mutate("m:nx", append);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->length, 10u);
  EXPECT_EQ(*c.table(2).query().get("m:nx"), "first-more");
  Mutation getdel;
  getdel.op = Mutation::Op::kDelete;
  getdel.want_previous = true;
  auto d = c.table(0).query().consistency(3).mutate("m:nx", getdel);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->applied);
  EXPECT_EQ(d->previous, "first-more");
  EXPECT_EQ(c.table(1).query().get("m:nx").status().code(), StatusCode::kNotFound);
  d = c.table(0).query().mutate("m:nx", getdel);
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->applied);
  EXPECT_FALSE(d->existed);

  // Not a number: refused in Redis's words, nothing written.
  ASSERT_TRUE(t.query().set("m:text", "abc").ok());
  auto bad = t.query().mutate("m:text", incr_by(1));
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("not an integer"), std::string::npos)
      << bad.status().to_string();
  EXPECT_EQ(*t.query().get("m:text"), "abc");
}

// Three clients on three nodes add to the same counters at once: no
// increment is lost (each is decided under the key's lock at its primary).
TEST(DtableMutationTest, ConcurrentIncrementsFromEveryNodeLoseNone) {
  DtableCluster c;
  for (int i = 0; i < 3; ++i) c.add();
  ASSERT_EQ(c.wait_converged(), "");
  constexpr int kCounters = 5;
  constexpr int kPerClient = 60;
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  for (std::size_t n = 0; n < 3; ++n) {
    clients.emplace_back([&, n] {
      for (int k = 0; k < kPerClient; ++k) {
        for (int i = 0; i < kCounters; ++i) {
          auto r = c.table(n).query().consistency(2).mutate("ctr" + std::to_string(i), incr_by(1));
          if (!r.ok()) ++failures;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(failures.load(), 0);
  for (int i = 0; i < kCounters; ++i) {
    const std::string key = "ctr" + std::to_string(i);
    EXPECT_EQ(*c.table(i % 3).query().get(key), std::to_string(3 * kPerClient)) << key;
    EXPECT_TRUE(wait_until([&] { return c.hosts_with(key, "180").size() == 3; })) << key;
  }
}

// An expiry travels with its value to every copy; past it, every node reads
// the key as absent, the replicas too after the primary's host was killed;
// a later expiry survives the failover and a join that moves the key.
TEST(DtableMutationTest, ExpiriesHoldOnEveryCopyAfterFailoverAndJoin) {
  DtableCluster c;
  for (int i = 0; i < 4; ++i) c.add();
  ASSERT_EQ(c.wait_converged(), "");
  const std::size_t victim = 2;
  const auto soon = c.keys_owned_by(victim, 20, "exp-soon-");
  const auto later = c.keys_owned_by(victim, 20, "exp-later-");
  ASSERT_EQ(soon.size(), 20u);
  ASSERT_EQ(later.size(), 20u);
  const std::int64_t soon_at = now_ms() + 2500;
  const std::int64_t later_at = now_ms() + 3'600'000;
  for (const auto& key : soon) {
    auto r = c.table(0).query().consistency(3).mutate(key, set_expiring("s", soon_at));
    ASSERT_TRUE(r.ok()) << key << ": " << r.status().to_string();
    EXPECT_EQ(r->expires_ms, soon_at);
  }
  for (const auto& key : later) {
    ASSERT_TRUE(c.table(0).query().consistency(3).mutate(key, set_expiring("l", later_at)).ok());
  }
  // Every copy holds the expiry.
  for (const auto& key : soon) {
    int copies = 0;
    for (std::size_t i : c.live()) {
      for (const auto& copy : c.visible(i, key)) {
        EXPECT_EQ(copy.expires_ms, soon_at) << key << " on node " << i;
        ++copies;
      }
    }
    EXPECT_EQ(copies, 3) << key;
  }
  auto entry = c.table(1).query().get_entry(later[0]);
  ASSERT_TRUE(entry.ok());
  EXPECT_EQ(entry->expires_ms, later_at);

  c.kill(victim);
  ASSERT_EQ(c.wait_converged(), "");
  // Past the expiry: absent through every node, whichever copy answers.
  ASSERT_TRUE(wait_until([&] { return now_ms() > soon_at + 50; }, std::chrono::seconds(30)));
  for (std::size_t i : c.live()) {
    for (const auto& key : soon) {
      EXPECT_EQ(c.table(i).query().get(key).status().code(), StatusCode::kNotFound)
          << key << " read on node " << i << " after its expiry";
      EXPECT_EQ(c.table(i).query().consistency(3).get(key).status().code(), StatusCode::kNotFound)
          << key << " read at consistency 3 on node " << i;
    }
    auto listed = c.table(i).query().scan(0, 100000);
    ASSERT_TRUE(listed.ok()) << listed.status().to_string();
    for (const auto& key : listed->keys)
      EXPECT_EQ(key.rfind("exp-soon-", 0), std::string::npos) << key;
  }
  // The later expiry is the same after the failover, and after a join.
  auto check_later = [&](const char* when) {
    for (std::size_t i : c.live()) {
      for (const auto& key : later) {
        auto e = c.table(i).query().get_entry(key);
        ASSERT_TRUE(e.ok()) << when << ": " << key << " " << e.status().to_string();
        EXPECT_EQ(e->value, "l");
        EXPECT_EQ(e->expires_ms, later_at) << when << ": " << key;
      }
    }
  };
  check_later("after failover");
  EXPECT_TRUE(wait_until([&] {
    for (const auto& key : later) {
      if (!c.on_owner(key, "l")) return false;
    }
    return true;
  }));
  c.add();
  ASSERT_EQ(c.wait_converged(), "");
  check_later("after a join");
  // The key's new primary copy, wherever it went, carries the expiry.
  for (const auto& key : later) {
    ASSERT_TRUE(wait_until([&] { return c.on_owner(key, "l"); })) << key;
    const auto owner = c.node_of(c.owner_of(key));
    ASSERT_TRUE(owner);
    for (const auto& copy : c.table(*owner).stored_copies(key)) {
      EXPECT_EQ(copy.expires_ms, later_at) << key;
    }
  }
}

// A node that just joined owns keys it may not hold yet: counters mutated
// through it at once go on from the ring's values rather than restarting at 0
// (whether the hand-over or the read-through brought them; the read-through
// alone is pinned down by dtable_mutation_read_through_test).
TEST(DtableMutationTest, ANewcomerDecidesOnTheValueTheRingHolds) {
  DtableCluster c;
  for (int i = 0; i < 3; ++i) c.add();
  ASSERT_EQ(c.wait_converged(), "");
  std::vector<std::string> keys;
  std::vector<dtable::KeyValue> items;
  for (int k = 0; k < 300; ++k) {
    keys.push_back("nc" + std::to_string(k));
    items.push_back({keys.back(), "10"});
  }
  for (const Status& s : c.table(0).query().consistency(3).set_multi(items)) {
    ASSERT_TRUE(s.ok()) << s.to_string();
  }
  const std::size_t newcomer = c.add();
  std::vector<std::string> owned;
  ASSERT_TRUE(wait_until([&] {
    owned.clear();
    for (const auto& key : keys) {
      if (c.owner_of(key).host == c.node(newcomer).address()) owned.push_back(key);
    }
    return !owned.empty();
  }));
  // At once, through the newcomer itself.
  for (const auto& key : owned) {
    auto r = c.table(newcomer).query().mutate(key, incr_by(1));
    ASSERT_TRUE(r.ok()) << key << ": " << r.status().to_string();
    EXPECT_EQ(r->number, "11") << key;
  }
  ASSERT_EQ(c.wait_converged(), "");
  for (const auto& key : owned) EXPECT_EQ(*c.table(1).query().get(key), "11") << key;
}

}  // namespace
}  // namespace dendrite::test
