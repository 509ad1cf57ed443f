// Failover: the primary node of 1,000 keys written at consistency 2 crashes;
// every key stays readable with its value, ends on its new owner and gets its
// replicas back. A delete stays deleted after the failover, also once its
// tombstone has been collected.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/dtable_cluster.h"

namespace dendrite::test {
namespace {

std::string value_for(const std::string& key) {
  return "v:" + key;
}

TEST(DtableFailoverTest, KilledPrimaryLosesNoAcknowledgedKey) {
  DtableCluster c;
  for (int i = 0; i < 4; ++i) c.add(dtable_test_settings());
  ASSERT_EQ(c.wait_converged(), "");
  const std::size_t victim = 1;
  const auto keys = c.keys_owned_by(victim, 1000, "fo-");
  ASSERT_EQ(keys.size(), 1000u);
  for (std::size_t k = 0; k < keys.size(); ++k) {
    auto& table = c.table(k % 2 == 0 ? 0 : 3);  // from nodes other than the victim
    ASSERT_TRUE(table.query().consistency(2).set(keys[k], value_for(keys[k])).ok()) << keys[k];
  }

  c.kill(victim);
  // At once, before the ring noticed: reads fall back to the replicas.
  for (std::size_t k = 0; k < 10; ++k) {
    auto v = c.table(0).query().get(keys[k]);
    ASSERT_TRUE(v.ok()) << keys[k] << ": " << v.status().to_string();
    EXPECT_EQ(*v, value_for(keys[k]));
  }
  ASSERT_EQ(c.wait_converged(), "");
  // Every key, from every live node.
  for (std::size_t i : c.live()) {
    auto got = c.table(i).query().get_multi(keys);
    for (std::size_t k = 0; k < keys.size(); ++k) {
      ASSERT_TRUE(got[k].ok()) << "node " << i << " " << keys[k] << ": "
                               << got[k].status().to_string();
      EXPECT_EQ(*got[k], value_for(keys[k]));
    }
  }
  // Promoted to the new owners and re-replicated to 3 hosts.
  EXPECT_TRUE(wait_until([&] {
    for (const auto& key : keys) {
      if (!c.on_owner(key, value_for(key))) return false;
    }
    return true;
  })) << "not every key sits on its new owner";
  EXPECT_TRUE(wait_until([&] {
    for (const auto& key : keys) {
      if (c.hosts_with(key, value_for(key)).size() < 3) return false;
    }
    return true;
  })) << "not every key is back on 3 hosts";
}

TEST(DtableFailoverTest, DeleteStaysDeletedAfterFailover) {
  DtableCluster c;
  for (int i = 0; i < 4; ++i) c.add(dtable_test_settings());
  ASSERT_EQ(c.wait_converged(), "");
  const std::size_t victim = 2;
  const auto keys = c.keys_owned_by(victim, 100, "del-");
  ASSERT_EQ(keys.size(), 100u);
  for (const auto& key : keys) {
    ASSERT_TRUE(c.table(0).query().consistency(3).set(key, value_for(key)).ok());
  }
  for (std::size_t k = 0; k < keys.size(); k += 2) {
    ASSERT_TRUE(c.table(1).query().consistency(2).del(keys[k]).ok());
  }
  c.kill(victim);
  ASSERT_EQ(c.wait_converged(), "");

  auto check = [&](const char* when) {
    for (std::size_t i : c.live()) {
      for (std::size_t k = 0; k < keys.size(); ++k) {
        auto v = c.table(i).query().get(keys[k]);
        if (k % 2 == 0) {
          EXPECT_EQ(v.status().code(), StatusCode::kNotFound)
              << when << ": " << keys[k] << " came back on node " << i;
        } else {
          ASSERT_TRUE(v.ok()) << when << ": " << keys[k] << " " << v.status().to_string();
          EXPECT_EQ(*v, value_for(keys[k]));
        }
      }
    }
  };
  check("after failover");
  // Past the tombstone grace (4 s) and several self-checks (orphans handed to
  // owners, tombstones collected): still deleted.
  std::this_thread::sleep_for(std::chrono::seconds(7));
  check("after collection");
  for (std::size_t k = 0; k < keys.size(); k += 2) {
    EXPECT_TRUE(c.hosts_with(keys[k], value_for(keys[k])).empty()) << keys[k];
  }
}

}  // namespace
}  // namespace dendrite::test
