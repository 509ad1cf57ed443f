// dendrite/dtable/memory_table.h and scan_cursor.h: the cursor's buckets, and
// MemoryTable's walk (the reference every Table::scan must match).
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "dendrite/dtable/memory_table.h"
#include "dendrite/dtable/scan_cursor.h"

namespace dendrite::dtable {
namespace {

TEST(ScanCursorTest, BucketsAreTheFirst64BitsAndAfterIsTheLastHashBelow) {
  Id::Bytes b{};
  b[0] = 0x12;
  b[7] = 0x34;
  b[8] = 0xff;  // beyond the bucket
  EXPECT_EQ(scan_bucket(Id(b)), 0x1200000000000034u);
  EXPECT_FALSE(scan_after(0).has_value());
  const Id after = *scan_after(0x1200000000000034u);
  EXPECT_EQ(scan_bucket(after), 0x1200000000000033u);
  EXPECT_LT(after, Id(b));
  Id::Bytes first_of_bucket{};
  first_of_bucket[0] = 0x12;
  first_of_bucket[7] = 0x34;
  EXPECT_LT(after, Id(first_of_bucket)) << "the whole bucket of the cursor follows `after`";
  EXPECT_EQ(scan_bucket(*scan_after(1)), 0u);
  EXPECT_EQ(*scan_after(1),
            Id(Id::Bytes{0,    0,    0,    0,    0,    0,    0,    0,    0xff, 0xff,
                         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
}

TEST(MemoryTableTest, AWalkListsEachLiveKeyOnceInHashOrder) {
  MemoryTable table;
  std::set<std::string> live;
  for (int k = 0; k < 200; ++k) {
    const std::string key = "k" + std::to_string(k);
    ASSERT_TRUE(table.query().set(key, "v").ok());
    if (k % 7 == 0) {
      ASSERT_TRUE(table.query().del(key).ok());
    } else {
      live.insert(key);
    }
  }
  for (std::size_t count : {1u, 3u, 64u, 1000u}) {
    std::multiset<std::string> listed;
    std::uint64_t cursor = 0;
    int pages = 0;
    do {
      auto page = table.query().scan(cursor, count);
      ASSERT_TRUE(page.ok()) << page.status().to_string();
      EXPECT_LE(page->keys.size(), count) << "no two keys of 200 share a bucket";
      Id last;
      for (const auto& key : page->keys) {
        const Id hash = Id::hash(key);
        EXPECT_GE(scan_bucket(hash), cursor);
        if (page->cursor != 0) {
          EXPECT_LT(scan_bucket(hash), page->cursor);
        }
        EXPECT_LT(last, hash) << "hash order";
        last = hash;
        listed.insert(key);
      }
      cursor = page->cursor;
      ASSERT_LT(++pages, 1000);
    } while (cursor != 0);
    EXPECT_EQ(listed, std::multiset<std::string>(live.begin(), live.end())) << "count " << count;
  }
  EXPECT_EQ(table.query().scan(0, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(table.query().consistency(9).scan(0, 10).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dendrite::dtable
