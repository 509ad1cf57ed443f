// Migration: nodes join while a writer keeps writing (every acknowledged key
// stays readable and ends on its correct owner), and a graceful leave loses
// nothing.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/dtable_cluster.h"

namespace dendrite::test {
namespace {

std::string value_for(const std::string& key) {
  return "value of " + key;
}

bool all_readable(DtableCluster& c, const std::vector<std::string>& keys, std::string* problem) {
  for (std::size_t i : c.live()) {
    auto got = c.table(i).query().get_multi(keys);
    for (std::size_t k = 0; k < keys.size(); ++k) {
      if (!got[k].ok() || *got[k] != value_for(keys[k])) {
        *problem = "node " + std::to_string(i) + " " + keys[k] + ": " +
                   (got[k].ok() ? "wrong value " + *got[k] : got[k].status().to_string());
        return false;
      }
    }
  }
  return true;
}

bool all_on_owner(DtableCluster& c, const std::vector<std::string>& keys, std::string* problem) {
  for (const auto& key : keys) {
    if (!c.on_owner(key, value_for(key))) {
      *problem = key + " is not on its owner " + c.owner_of(key).to_string() + "; copies:";
      for (std::size_t i : c.live()) {
        for (const auto& copy : c.visible(i, key)) {
          *problem += std::string(" ") +
                      (copy.role == dtable::StoredCopy::Role::kPrimary ? "primary" : "replica") +
                      "@" + copy.vnode.to_string();
        }
      }
      return false;
    }
  }
  return true;
}

TEST(DtableMigrationTest, JoinsDuringWriteLoadLoseNoAcknowledgedKey) {
  DtableCluster c;
  for (int i = 0; i < 3; ++i) c.add();
  ASSERT_EQ(c.wait_converged(), "");

  std::mutex mu;
  std::vector<std::string> acked;
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  auto writer = [&](dtable::Table& table, const std::string& prefix) {
    for (int i = 0; !stop.load() && i < 100000; ++i) {
      const std::string key = prefix + std::to_string(i);
      if (table.query().consistency(2).set(key, value_for(key)).ok()) {
        std::lock_guard lock(mu);
        acked.push_back(key);
      } else {
        failures.fetch_add(1);
      }
    }
  };
  std::thread w1(writer, std::ref(c.table(0)), "a-");
  std::thread w2(writer, std::ref(c.table(1)), "b-");
  auto count = [&] {
    std::lock_guard lock(mu);
    return acked.size();
  };
  ASSERT_TRUE(wait_until([&] { return count() >= 300; }));
  c.add();
  ASSERT_TRUE(wait_until([&] { return count() >= 900; }));
  c.add();
  ASSERT_TRUE(wait_until([&] { return count() >= 1500; }));
  stop = true;
  w1.join();
  w2.join();
  ASSERT_EQ(c.wait_converged(), "");

  std::vector<std::string> keys;
  {
    std::lock_guard lock(mu);
    keys = acked;
  }
  std::string problem;
  EXPECT_TRUE(all_readable(c, keys, &problem)) << problem;
  EXPECT_TRUE(wait_until([&] { return all_on_owner(c, keys, &problem); })) << problem;
  EXPECT_TRUE(all_readable(c, keys, &problem)) << problem;
  // Each key's primary copy is only on its owner.
  for (const auto& key : keys) {
    int primaries = 0;
    for (std::size_t i : c.live()) {
      for (const auto& copy : c.visible(i, key)) {
        if (copy.role == dtable::StoredCopy::Role::kPrimary) ++primaries;
      }
    }
    EXPECT_EQ(primaries, 1) << key;
  }
}

// The hand-over follows the join itself, not the periodic self-check: with a
// self-check every 10 minutes, each newcomer holds its share long before the
// check could have moved it (seconds in a release build; the bound is loose
// for sanitizer builds on a loaded machine). (The join is reported to the old
// owner before the ring's routes lead to the newcomer; the hand-over must try
// again soon rather than wait for the check.)
TEST(DtableMigrationTest, NewcomerHoldsItsShareSoonAfterJoining) {
  const std::string settings = R"({"check_interval_ms": 600000, "tombstone_grace_ms": 2400000,)"
                               R"( "settle_ms": 5000, "batch_items": 128})";
  const auto bound = std::chrono::seconds(120);  // far below the check interval
  DtableCluster c;
  c.add(settings);
  ASSERT_EQ(c.wait_converged(), "");
  std::vector<std::string> keys;
  std::vector<dtable::KeyValue> items;
  for (int k = 0; k < 3000; ++k) {
    keys.push_back("share-" + std::to_string(k));
    items.push_back({keys.back(), value_for(keys.back())});
  }
  for (const Status& s : c.table(0).query().set_multi(items)) ASSERT_TRUE(s.ok()) << s.to_string();

  for (int join = 0; join < 2; ++join) {
    const auto start = std::chrono::steady_clock::now();
    const std::size_t newcomer = c.add(settings);
    ASSERT_FALSE(HasFatalFailure()) << "join " << join << " failed";
    ASSERT_EQ(c.wait_converged(), "");
    std::size_t share = 0;
    for (const auto& key : keys) {
      if (c.node_of(c.owner_of(key)) == newcomer) ++share;
    }
    ASSERT_GT(share, 0u) << "the newcomer owns none of the keys; pick more";
    std::string problem;
    EXPECT_TRUE(wait_until([&] { return all_on_owner(c, keys, &problem); }, bound))
        << "join " << join << ": " << problem;
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_LT(took, bound) << "join " << join;
    EXPECT_TRUE(all_readable(c, keys, &problem)) << problem;
    std::cout << "join " << join << ": newcomer holds its " << share << " keys after "
              << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n";
  }
}

// The old owner keeps what it handed over as replica copies of the new owner
// (which then does not send them back to it): they must be real copies, so
// that the new owner's crash right after loses nothing.
TEST(DtableMigrationTest, HandedOverKeysSurviveTheNewOwnersCrash) {
  DtableCluster c;
  c.add();
  ASSERT_EQ(c.wait_converged(), "");
  std::vector<std::string> keys;
  std::vector<dtable::KeyValue> items;
  for (int k = 0; k < 2000; ++k) {
    keys.push_back("kept-" + std::to_string(k));
    items.push_back({keys.back(), value_for(keys.back())});
  }
  for (const Status& s : c.table(0).query().set_multi(items)) ASSERT_TRUE(s.ok()) << s.to_string();

  const std::size_t newcomer = c.add();
  ASSERT_EQ(c.wait_converged(), "");
  std::string problem;
  ASSERT_TRUE(wait_until([&] { return all_on_owner(c, keys, &problem); })) << problem;
  std::size_t moved = 0;
  for (const auto& key : keys) {
    if (c.node_of(c.owner_of(key)) != newcomer) continue;
    ++moved;
    EXPECT_EQ(c.hosts_with(key, value_for(key)).size(), 2u) << key;
  }
  ASSERT_GT(moved, 0u) << "the newcomer owns none of the keys; pick more";

  c.kill(newcomer);
  ASSERT_EQ(c.wait_converged(), "");
  EXPECT_TRUE(wait_until([&] { return all_readable(c, keys, &problem); })) << problem;
  EXPECT_TRUE(wait_until([&] { return all_on_owner(c, keys, &problem); })) << problem;
}

TEST(DtableMigrationTest, GracefulLeaveLosesNothing) {
  DtableCluster c;
  for (int i = 0; i < 4; ++i) c.add();
  ASSERT_EQ(c.wait_converged(), "");
  std::vector<std::string> keys;
  for (int k = 0; k < 600; ++k) keys.push_back("leave-" + std::to_string(k));
  std::vector<dtable::KeyValue> items;
  for (const auto& key : keys) items.push_back({key, value_for(key)});
  for (const Status& s : c.table(0).query().set_multi(items)) ASSERT_TRUE(s.ok()) << s.to_string();

  c.leave(2);
  ASSERT_EQ(c.wait_converged(), "");
  std::string problem;
  EXPECT_TRUE(all_readable(c, keys, &problem)) << problem;
  EXPECT_TRUE(wait_until([&] { return all_on_owner(c, keys, &problem); })) << problem;
  EXPECT_TRUE(wait_until([&] {
    for (const auto& key : keys) {
      if (c.hosts_with(key, value_for(key)).size() < 3) return false;
    }
    return true;
  })) << "not every key is back on 3 hosts";

  // A second leave right after, then a crash of a third node: still nothing lost.
  c.leave(1);
  ASSERT_EQ(c.wait_converged(), "");
  EXPECT_TRUE(all_readable(c, keys, &problem)) << problem;
  EXPECT_TRUE(wait_until([&] { return all_on_owner(c, keys, &problem); })) << problem;
}

}  // namespace
}  // namespace dendrite::test
