// Migration: nodes join while a writer keeps writing (every acknowledged key
// stays readable and ends on its correct owner), and a graceful leave loses
// nothing.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "integration/dtable_cluster.h"

namespace dendrite::testing {
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
      *problem = key + " is not on its owner " + c.owner_of(key).to_string();
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
}  // namespace dendrite::testing
