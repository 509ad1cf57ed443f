// Consistency levels of dtable: n copies or ConsistencyNotMet, a failed write
// rolled back everywhere (old value back, new key invisible), read repair of a
// stale replica, and the wrong-owner reply to a misrouted request. Raw dtable
// messages are hand-encoded (integration/raw_protobuf.h).
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dendrite/dtable/messages.h"
#include "integration/raw_protobuf.h"
#include "support/dtable_cluster.h"

namespace dendrite::test {
namespace {

namespace dmsg = dtable::msg;

using raw_pb::field_bytes;
using raw_pb::field_varint;
using raw_pb::vnode_bytes;

// DropItems(dest, replica table, [keyHash, timestamp]): rolls one replica
// version back, as a failed write's primary would.
Message rollback_replica(const Vnode& dest, const std::string& key, std::int64_t ts) {
  std::string ref;
  field_bytes(ref, 1, Id::hash(key).raw());
  field_varint(ref, 2, static_cast<std::uint64_t>(ts));
  std::string m;
  field_bytes(m, 1, vnode_bytes(dest));
  field_bytes(m, 3, ref);
  field_varint(m, 4, 1);
  return Message{dmsg::kDropItems, m};
}

// GetItem(dest, keyHash).
Message get_item(const Vnode& dest, const std::string& key) {
  std::string m;
  field_bytes(m, 1, vnode_bytes(dest));
  field_bytes(m, 2, Id::hash(key).raw());
  return Message{dmsg::kGetItem, m};
}

TEST(DtableConsistencyTest, AllCopiesWithThreeHostsNotMetWithTwo) {
  DtableCluster c;
  for (int i = 0; i < 3; ++i) c.add(dtable_test_settings());
  ASSERT_EQ(c.wait_converged(), "");
  for (int k = 0; k < 30; ++k) {
    const std::string key = "c3-" + std::to_string(k);
    ASSERT_TRUE(c.table(0).query().consistency(3).set(key, "v1").ok()) << key;
    // Acknowledged at consistency 3: on all three hosts already.
    EXPECT_EQ(c.hosts_with(key, "v1").size(), 3u) << key;
  }

  c.kill(2);
  // Right after the crash the ring may still list the dead host: the write
  // then times out there and is rolled back. Either way it must fail.
  Status fresh = c.table(0).query().consistency(3).set("fresh", "x");
  EXPECT_EQ(fresh.code(), StatusCode::kConsistencyNotMet) << fresh.to_string();
  Status over = c.table(1).query().consistency(3).set("c3-7", "v2");
  EXPECT_EQ(over.code(), StatusCode::kConsistencyNotMet) << over.to_string();
  EXPECT_NE(over.message().find("consistency not met"), std::string::npos);

  ASSERT_EQ(c.wait_converged(), "");
  Status later = c.table(0).query().consistency(3).set("later", "y");
  EXPECT_EQ(later.code(), StatusCode::kConsistencyNotMet) << later.to_string();
  // Lower levels still work with two hosts.
  EXPECT_TRUE(c.table(0).query().consistency(2).set("two", "ok").ok());

  // The failed writes are not readable, from any node, at any level, and no
  // visible copy of them is left anywhere.
  for (std::size_t i : c.live()) {
    EXPECT_EQ(c.table(i).query().get("fresh").status().code(), StatusCode::kNotFound);
    EXPECT_EQ(c.table(i).query().get("later").status().code(), StatusCode::kNotFound);
    auto old = c.table(i).query().consistency(2).get("c3-7");
    ASSERT_TRUE(old.ok()) << old.status().to_string();
    EXPECT_EQ(*old, "v1");
  }
  EXPECT_TRUE(wait_until([&] {
    return c.hosts_with("fresh", "x").empty() && c.hosts_with("later", "y").empty() &&
           c.hosts_with("c3-7", "v2").empty();
  }));
  auto two = c.table(1).query().get("two");
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(*two, "ok");
}

TEST(DtableConsistencyTest, ReadRepairFixesAStaleCopy) {
  DtableCluster c;
  for (int i = 0; i < 3; ++i) c.add(dtable_test_settings());
  ASSERT_EQ(c.wait_converged(), "");
  const std::string key = "repair-me";
  ASSERT_TRUE(c.table(0).query().consistency(3).set(key, "v1").ok());
  ASSERT_TRUE(c.table(0).query().consistency(3).set(key, "v2").ok());
  // Roll v2 back on one replica: it then holds v1, a stale copy.
  std::optional<std::pair<std::size_t, dtable::StoredCopy>> replica;
  for (std::size_t i : c.live()) {
    for (const auto& copy : c.table(i).stored_copies(key)) {
      if (copy.role == dtable::StoredCopy::Role::kReplica && copy.value == "v2") {
        replica.emplace(i, copy);
      }
    }
  }
  ASSERT_TRUE(replica);
  const auto& [holder, copy] = *replica;
  auto reply = c.node(holder).host_services().request(
      copy.vnode.host, rollback_replica(copy.vnode, key, copy.timestamp), Milliseconds(2000));
  ASSERT_TRUE(reply.ok()) << reply.status().to_string();
  ASSERT_EQ(reply->type, dmsg::kResponse) << error_of(*reply).to_string();
  EXPECT_EQ(c.hosts_with(key, "v2").size(), 2u);
  EXPECT_EQ(c.hosts_with(key, "v1").size(), 1u);

  // A read at consistency 3 sees the newest value and repairs the stale copy.
  auto v = c.table(holder).query().consistency(3).get(key);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(*v, "v2");
  EXPECT_TRUE(wait_until([&] { return c.hosts_with(key, "v2").size() == 3; }));
  EXPECT_TRUE(c.hosts_with(key, "v1").empty());
}

TEST(DtableConsistencyTest, MisroutedRequestGetsWrongOwner) {
  DtableCluster c;
  for (int i = 0; i < 3; ++i) c.add(dtable_test_settings());
  ASSERT_EQ(c.wait_converged(), "");
  const std::string key = "routed";
  ASSERT_TRUE(c.table(0).query().set(key, "v").ok());
  const Vnode owner = c.owner_of(key);
  // A vnode on another host than the owner's.
  std::optional<Vnode> other;
  for (const Vnode& v : c.ring().all_vnodes()) {
    if (v.host != owner.host) other = v;
  }
  ASSERT_TRUE(other);
  auto reply =
      c.node(0).host_services().request(other->host, get_item(*other, key), Milliseconds(2000));
  ASSERT_TRUE(reply.ok()) << reply.status().to_string();
  ASSERT_EQ(reply->type, msg::kErr);
  const std::string text = error_of(*reply).message();
  EXPECT_EQ(text.rfind(std::string(dtable::kWrongOwnerText), 0), 0u) << text;
  // Asking the owner works.
  auto good =
      c.node(0).host_services().request(owner.host, get_item(owner, key), Milliseconds(2000));
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good->type, dmsg::kItem);
}

}  // namespace
}  // namespace dendrite::test
