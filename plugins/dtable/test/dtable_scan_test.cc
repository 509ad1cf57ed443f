// Table::scan on a real ring: a walk lists every live key (none deleted), its
// pages keep to their cursors, and it goes on across a join and a kill -9;
// with more hosts down than replicas it fails rather than miss keys.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "dendrite/dtable/scan_cursor.h"
#include "support/dtable_cluster.h"

namespace dendrite::test {
namespace {

// Writes keys "<prefix>0" .. and returns them.
std::vector<std::string> write_keys(DtableCluster& c, const std::string& prefix, int n) {
  std::vector<std::string> keys;
  std::vector<dtable::KeyValue> items;
  for (int k = 0; k < n; ++k) {
    keys.push_back(prefix + std::to_string(k));
    items.push_back({keys.back(), "v" + std::to_string(k)});
  }
  for (const Status& s : c.table(0).query().set_multi(items)) EXPECT_TRUE(s.ok()) << s.to_string();
  return keys;
}

// One whole walk from node `from`, `count` per page; `between(page)` runs
// after each page. Counts how often each key was listed; fails the test on a
// page error or a page whose keys lie outside its cursors.
std::map<std::string, int> walk(DtableCluster& c, std::size_t from, std::size_t count,
                                const std::function<void(int)>& between = {}) {
  std::map<std::string, int> listed;
  std::uint64_t cursor = 0;
  for (int page = 0; page < 100000; ++page) {
    auto got = c.table(from).query().scan(cursor, count);
    EXPECT_TRUE(got.ok()) << "page " << page << ": " << got.status().to_string();
    if (!got.ok()) return listed;
    for (const auto& key : got->keys) {
      ++listed[key];
      const std::uint64_t bucket = dtable::scan_bucket(Id::hash(key));
      EXPECT_GE(bucket, cursor) << key << " on page " << page;
      if (got->cursor != 0) {
        EXPECT_LT(bucket, got->cursor) << key << " on page " << page;
      }
    }
    if (got->cursor == 0) return listed;
    EXPECT_GT(got->cursor, cursor) << "page " << page << " went backwards";
    cursor = got->cursor;
    if (between) between(page);
  }
  ADD_FAILURE() << "the walk did not end";
  return listed;
}

// Every key of `keys` listed at least once, and nothing else.
void expect_exactly(const std::map<std::string, int>& listed, const std::set<std::string>& keys) {
  for (const auto& key : keys) EXPECT_TRUE(listed.count(key)) << key << " was not listed";
  for (const auto& [key, n] : listed) EXPECT_TRUE(keys.count(key)) << key << " was listed";
}

TEST(DtableScanTest, AWalkListsEveryLiveKeyOfTheRing) {
  DtableCluster c;
  for (int i = 0; i < 3; ++i) c.add();
  ASSERT_EQ(c.wait_converged(), "");
  auto written = write_keys(c, "scan-", 600);
  std::set<std::string> live(written.begin(), written.end());
  for (int k = 0; k < 600; k += 10) {
    ASSERT_TRUE(c.table(1).query().del("scan-" + std::to_string(k)).ok());
    live.erase("scan-" + std::to_string(k));
  }
  int pages = 0;
  auto listed = walk(c, 2, 10, [&](int) { ++pages; });
  expect_exactly(listed, live);
  for (const auto& [key, n] : listed) EXPECT_EQ(n, 1) << key << " listed twice on a still ring";
  EXPECT_GT(pages, 20) << "count 10 over 540 keys should take many pages";
  // One page holds them all when the count allows.
  auto all = c.table(0).query().scan(0, 100000);
  ASSERT_TRUE(all.ok()) << all.status().to_string();
  EXPECT_EQ(all->cursor, 0u);
  EXPECT_EQ(all->keys.size(), live.size());
  EXPECT_EQ(c.table(0).query().scan(0, 0).status().code(), StatusCode::kInvalidArgument);
}

TEST(DtableScanTest, AWalkGoesOnAcrossAJoinAndAKillNine) {
  DtableCluster c;
  for (int i = 0; i < 3; ++i) c.add();
  ASSERT_EQ(c.wait_converged(), "");
  auto written = write_keys(c, "walk-", 800);
  const std::set<std::string> keys(written.begin(), written.end());
  // A node joins after page 2 (its share is handed over while the walk goes
  // on), and another is killed after page 12.
  auto listed = walk(c, 0, 20, [&](int page) {
    if (page == 2) c.add();
    if (page == 12) c.kill(1);
  });
  expect_exactly(listed, keys);
  ASSERT_EQ(c.wait_converged(), "");
  expect_exactly(walk(c, 3, 50), keys);
}

TEST(DtableScanTest, MoreHostsDownThanReplicasFailsTheWalk) {
  DtableCluster c;
  for (int i = 0; i < 4; ++i) c.add();
  ASSERT_EQ(c.wait_converged(), "");
  write_keys(c, "gone-", 100);
  c.kill(1);
  c.kill(2);
  c.kill(3);
  auto page = c.table(0).query().scan(0, 1000);
  ASSERT_FALSE(page.ok()) << "a walk with 3 of 4 hosts down (replicas 2) listed "
                          << page->keys.size() << " keys";
  EXPECT_EQ(page.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(page.status().message().find("3 hosts did not answer"), std::string::npos)
      << page.status().to_string();
}

}  // namespace
}  // namespace dendrite::test
