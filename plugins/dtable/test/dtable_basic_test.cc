// dtable in rings of 1, 3 and 5 in-process nodes: a key set on any node reads
// back from every node, each key has copies on 3 distinct hosts (replicas 2),
// deletes, multi operations, local keys, write hooks, and the usage errors.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/dtable_cluster.h"

namespace dendrite::test {
namespace {

using dtable::KeyValue;

std::string key_of(int i) {
  return "key-" + std::to_string(i);
}
std::string value_of(int i) {
  return "value-" + std::to_string(i * 7919);
}

class DtableRingTest : public ::testing::TestWithParam<int> {};

TEST_P(DtableRingTest, SetOnAnyNodeReadsBackFromEveryNode) {
  const int n = GetParam();
  DtableCluster c;
  for (int i = 0; i < n; ++i) c.add();
  ASSERT_EQ(c.wait_converged(), "");
  constexpr int kKeys = 60;
  for (int k = 0; k < kKeys; ++k) {
    auto& table = c.table(static_cast<std::size_t>(k % n));
    ASSERT_TRUE(table.query().set(key_of(k), value_of(k)).ok()) << k;
  }
  for (std::size_t i : c.live()) {
    for (int k = 0; k < kKeys; ++k) {
      auto v = c.table(i).query().get(key_of(k));
      ASSERT_TRUE(v.ok()) << "node " << i << " key " << k << ": " << v.status().to_string();
      EXPECT_EQ(*v, value_of(k));
    }
  }
  // Every key's primary copy sits on its owner; with 3+ hosts and replicas 2,
  // copies live on 3 distinct hosts.
  const std::size_t want_hosts = std::min<std::size_t>(static_cast<std::size_t>(n), 3);
  for (int k = 0; k < kKeys; ++k) {
    EXPECT_TRUE(c.on_owner(key_of(k), value_of(k))) << key_of(k);
    EXPECT_TRUE(wait_until([&] {
      return c.hosts_with(key_of(k), value_of(k)).size() == want_hosts;
    })) << key_of(k)
        << " is on " << c.hosts_with(key_of(k), value_of(k)).size() << " hosts";
  }
  // local_keys of all nodes together: every key exactly once.
  std::vector<std::string> all;
  for (std::size_t i : c.live()) {
    auto keys = c.table(i).local_keys();
    all.insert(all.end(), keys.begin(), keys.end());
  }
  std::sort(all.begin(), all.end());
  std::vector<std::string> want;
  for (int k = 0; k < kKeys; ++k) want.push_back(key_of(k));
  std::sort(want.begin(), want.end());
  EXPECT_EQ(all, want);
  // Each node's counts agree with its listing; an expiry on some keys (a
  // mutation, decided at the primary) is counted once, at the primary.
  dtable::Mutation far;
  far.operand = "expiring";
  far.expiry = dtable::Mutation::Expiry::kAt;
  far.expires_ms = dtable::unix_now_ms() + 3600000;
  constexpr int kExpiring = 7;
  for (int k = 0; k < kExpiring; ++k) {
    ASSERT_TRUE(c.table(0).mutate(key_of(k), far, dtable::Options{}).ok()) << k;
  }
  std::size_t keys = 0, expiring = 0;
  for (std::size_t i : c.live()) {
    const dtable::KeyCounts counts = c.table(i).local_key_counts();
    EXPECT_EQ(counts.keys, c.table(i).local_keys().size()) << "node " << i;
    keys += counts.keys;
    expiring += counts.expiring;
  }
  EXPECT_EQ(keys, static_cast<std::size_t>(kKeys));
  EXPECT_EQ(expiring, static_cast<std::size_t>(kExpiring));
}

TEST_P(DtableRingTest, DeleteHidesTheKeyEverywhere) {
  const int n = GetParam();
  DtableCluster c;
  for (int i = 0; i < n; ++i) c.add();
  ASSERT_EQ(c.wait_converged(), "");
  const int level = std::min(n, 3);
  for (int k = 0; k < 20; ++k) {
    ASSERT_TRUE(c.table(0).query().consistency(level).set(key_of(k), value_of(k)).ok());
  }
  for (int k = 0; k < 20; k += 2) {
    ASSERT_TRUE(
        c.table(static_cast<std::size_t>(k % n)).query().consistency(level).del(key_of(k)).ok());
  }
  for (std::size_t i : c.live()) {
    for (int k = 0; k < 20; ++k) {
      auto v = c.table(i).query().get(key_of(k));
      if (k % 2 == 0) {
        EXPECT_EQ(v.status().code(), StatusCode::kNotFound) << key_of(k) << " on node " << i;
      } else {
        ASSERT_TRUE(v.ok()) << v.status().to_string();
        EXPECT_EQ(*v, value_of(k));
      }
    }
  }
  // Deleting an absent key succeeds; reading it is NotFound.
  EXPECT_TRUE(c.table(0).query().del("never-written").ok());
  EXPECT_EQ(c.table(0).query().get("never-written").status().code(), StatusCode::kNotFound);
}

TEST_P(DtableRingTest, MultiOperationsMatchSingleOnes) {
  const int n = GetParam();
  DtableCluster c;
  for (int i = 0; i < n; ++i) c.add();
  ASSERT_EQ(c.wait_converged(), "");
  std::vector<KeyValue> items;
  std::vector<std::string> keys;
  for (int k = 0; k < 300; ++k) {
    items.push_back({key_of(k), value_of(k)});
    keys.push_back(key_of(k));
  }
  keys.push_back("missing");
  const int level = std::min(n, 2);
  auto set = c.table(0).query().consistency(level).set_multi(items);
  ASSERT_EQ(set.size(), items.size());
  for (std::size_t k = 0; k < set.size(); ++k) ASSERT_TRUE(set[k].ok()) << k << set[k].to_string();
  for (std::size_t i : c.live()) {
    auto got = c.table(i).query().get_multi(keys);
    ASSERT_EQ(got.size(), keys.size());
    for (int k = 0; k < 300; ++k) {
      ASSERT_TRUE(got[static_cast<std::size_t>(k)].ok())
          << got[static_cast<std::size_t>(k)].status().to_string();
      EXPECT_EQ(*got[static_cast<std::size_t>(k)], value_of(k));
    }
    EXPECT_EQ(got.back().status().code(), StatusCode::kNotFound);
    auto single = c.table(i).query().get(key_of(123));
    ASSERT_TRUE(single.ok());
    EXPECT_EQ(*single, value_of(123));
  }
}

INSTANTIATE_TEST_SUITE_P(Nodes, DtableRingTest, ::testing::Values(1, 3, 5),
                         [](const auto& info) { return std::to_string(info.param) + "nodes"; });

TEST(DtableServiceTest, UsageErrorsAreStatusValues) {
  DtableCluster c;
  c.add();
  auto& table = c.table(0);
  EXPECT_EQ(table.max_consistency(), 3);
  Status too_high = table.query().consistency(4).set("k", "v");
  EXPECT_EQ(too_high.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(too_high.message().find("maximum is 3"), std::string::npos) << too_high.message();
  EXPECT_EQ(table.query().consistency(0).set("k", "v").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(table.query().set("", "v").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(table.query().get("").status().code(), StatusCode::kInvalidArgument);
  // One host cannot hold two copies.
  Status two = table.query().consistency(2).set("k", "v");
  EXPECT_EQ(two.code(), StatusCode::kConsistencyNotMet) << two.to_string();
  EXPECT_EQ(table.query().get("k").status().code(), StatusCode::kNotFound);
  // The empty value is a value.
  ASSERT_TRUE(table.query().set("empty", "").ok());
  auto empty = table.query().get("empty");
  ASSERT_TRUE(empty.ok()) << empty.status().to_string();
  EXPECT_EQ(*empty, "");
}

TEST(DtableServiceTest, KeysAndValuesOverTheLimitsAreRefused) {
  DtableCluster c;
  c.add(R"({"max_key_bytes": 16, "max_value_bytes": 1024, "batch_bytes": 4096,)"
        R"( "storage": {"engine": "memory"}})");
  c.add(R"({"max_key_bytes": 16, "max_value_bytes": 1024, "batch_bytes": 4096,)"
        R"( "storage": {"engine": "memory"}})");
  ASSERT_EQ(c.wait_converged(), "");
  auto& table = c.table(0);
  Status long_key = table.query().set(std::string(17, 'k'), "v");
  EXPECT_EQ(long_key.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(long_key.message(), "key of 17 bytes exceeds the limit of 16 (max_key_bytes)");
  Status big = table.query().set("big", std::string(1025, 'v'));
  EXPECT_EQ(big.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(big.message(), "value of 1025 bytes exceeds the limit of 1024 (max_value_bytes)");
  EXPECT_EQ(table.query().get("big").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(table.query().set(std::string(16, 'k'), std::string(1024, 'v')).ok());

  // In a batch only the oversized items fail; the rest, cut into batches of at
  // most 4 KiB, are written.
  std::vector<KeyValue> items;
  for (int i = 0; i < 40; ++i) items.push_back({"m" + std::to_string(i), std::string(1000, 'x')});
  items[7].value.assign(2000, 'y');
  auto results = table.query().consistency(2).set_multi(items);
  ASSERT_EQ(results.size(), items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i == 7) {
      EXPECT_EQ(results[i].code(), StatusCode::kInvalidArgument) << results[i].to_string();
    } else {
      EXPECT_TRUE(results[i].ok()) << i << ": " << results[i].to_string();
      auto got = c.table(1).query().consistency(2).get(items[i].key);
      ASSERT_TRUE(got.ok()) << got.status().to_string();
      EXPECT_EQ(*got, items[i].value);
    }
  }
}

TEST(DtableServiceTest, WriteHooksSeeCommittedWrites) {
  DtableCluster c;
  c.add();
  c.add();
  ASSERT_EQ(c.wait_converged(), "");
  std::mutex mu;
  std::vector<std::string> seen;
  std::vector<dtable::HookId> ids;
  for (std::size_t i : c.live()) {
    ids.push_back(c.table(i).add_write_hook([&](const dtable::WriteEvent& e) {
      std::lock_guard lock(mu);
      seen.push_back(e.key + (e.deleted ? " deleted" : "=" + e.value));
    }));
  }
  ASSERT_TRUE(c.table(0).query().set("hooked", "1").ok());
  ASSERT_TRUE(c.table(1).query().del("hooked").ok());
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(seen, (std::vector<std::string>{"hooked=1", "hooked deleted"}));
  }
  for (std::size_t i : c.live()) c.table(i).remove_write_hook(ids[i]);
  ASSERT_TRUE(c.table(0).query().set("hooked", "2").ok());
  std::lock_guard lock(mu);
  EXPECT_EQ(seen.size(), 2u);
}

TEST(DtableServiceTest, ConcurrentClientsOnEveryNodeKeepTheTableConsistent) {
  DtableCluster c;
  for (int i = 0; i < 3; ++i) c.add();
  ASSERT_EQ(c.wait_converged(), "");
  constexpr int kThreads = 16, kKeys = 40;
  std::atomic<int> errors{0};
  std::mutex mu;
  std::string first_error;  // guarded by mu
  auto failed = [&](const std::string& what, const Status& s) {
    ++errors;
    std::lock_guard lock(mu);
    if (first_error.empty()) first_error = what + ": " + s.to_string();
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto& table = c.table(static_cast<std::size_t>(t % 3));
      for (int round = 0; round < 3; ++round) {
        for (int k = 0; k < kKeys; ++k) {
          const std::string key = "t" + std::to_string(t) + "-" + std::to_string(k);
          // Shared keys too: every thread writes "shared-k" (last write wins).
          if (Status s = table.query().consistency(2).set(key, std::to_string(round)); !s.ok()) {
            failed("set " + key, s);
          }
          if (Status s = table.query().set("shared-" + std::to_string(k), key); !s.ok()) {
            failed("set shared", s);
          }
          if (k % 5 == 0 && round == 2) {
            if (Status s = table.query().consistency(2).del(key); !s.ok()) failed("del " + key, s);
          }
          auto v = table.query().get(key);
          if (!(k % 5 == 0 && round == 2) && (!v.ok() || *v != std::to_string(round))) {
            failed("get " + key + (v.ok() ? " = " + *v : ""), v.status());
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0) << first_error;
  for (std::size_t i : c.live()) {
    for (int t = 0; t < kThreads; ++t) {
      for (int k = 0; k < kKeys; ++k) {
        const std::string key = "t" + std::to_string(t) + "-" + std::to_string(k);
        auto v = c.table(i).query().get(key);
        if (k % 5 == 0) {
          EXPECT_EQ(v.status().code(), StatusCode::kNotFound) << key;
        } else {
          ASSERT_TRUE(v.ok()) << key << ": " << v.status().to_string();
          EXPECT_EQ(*v, "2");
        }
      }
    }
    // Every node agrees on the winner of each shared key.
    for (int k = 0; k < kKeys; ++k) {
      auto mine = c.table(i).query().get("shared-" + std::to_string(k));
      auto first = c.table(0).query().get("shared-" + std::to_string(k));
      ASSERT_TRUE(mine.ok() && first.ok());
      EXPECT_EQ(*mine, *first);
    }
  }
}

TEST(DtableServiceTest, UnknownConfigKeyFailsStartNamingIt) {
  host::Node node(dtable_node_config({}, R"({"check_interval": 5})"));
  Status s = node.start();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("unknown key 'check_interval'"), std::string::npos) << s.message();
  node.stop(false);
}

}  // namespace
}  // namespace dendrite::test
