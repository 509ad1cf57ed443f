// The true copy holders of a key in the full membership (placement.h).
#include "placement.h"

#include <gtest/gtest.h>

namespace dendrite::dtable {
namespace {

Vnode at(std::uint8_t first, const std::string& host) {
  Id::Bytes b{};
  b[0] = first;
  return Vnode{Id(b), host};
}

Id key_at(std::uint8_t first, std::uint8_t second = 0) {
  Id::Bytes b{};
  b[0] = first;
  b[1] = second;
  return Id(b);
}

TEST(PlacementTest, HoldersAreTheOwnerThenTheNextDistinctHosts) {
  Layout l = make_layout({
      Member{"a", true, {at(10, "a"), at(60, "a")}},
      Member{"b", false, {at(20, "b"), at(30, "b")}},
      Member{"c", true, {at(40, "c")}},
  });
  ASSERT_EQ(l.vnodes.size(), 5u);
  EXPECT_TRUE(l.complete);
  // Owner of 15 is b's 20; then b's 30 (same host, skipped), c's 40, a's 60.
  EXPECT_EQ(l.holders(key_at(15), 3), (std::vector<std::string>{"b", "c", "a"}));
  EXPECT_EQ(l.holders(key_at(15), 2), (std::vector<std::string>{"b", "c"}));
  // Exactly at a vnode: that vnode owns it.
  EXPECT_EQ(l.holders(key_at(40), 1), (std::vector<std::string>{"c"}));
  // Past the last vnode: wraps to the first.
  EXPECT_EQ(l.holders(key_at(200), 2), (std::vector<std::string>{"a", "b"}));
  // More copies than hosts: every host once.
  EXPECT_EQ(l.holders(key_at(15), 9).size(), 3u);
  EXPECT_FALSE(l.reachable("b"));
  EXPECT_TRUE(l.reachable("a"));
}

TEST(PlacementTest, EmptyMembershipHasNoHolders) {
  Layout l = make_layout({Member{"a", true, {}}});
  EXPECT_FALSE(l.complete);
  EXPECT_TRUE(l.holders(key_at(1), 3).empty());
}

}  // namespace
}  // namespace dendrite::dtable
