// A mutation at a primary that is still settling (just started or just
// given a range) decides on the value the previous holders hold: the real
// plugin runs on a FakeHost whose peers answer the read-through with a
// version of the key, and the counter goes on from it.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "dendrite/dtable/dtable.h"
#include "dendrite/dtable/messages.h"
#include "dendrite/testing/fake_host.h"
#include "dendrite/vnode_pb.h"
#include "dtable.pb.h"
#include "dtable_on_fake_host.h"

namespace dendrite::test {
namespace {

namespace dmsg = dtable::msg;
using testing::FakeHost;

constexpr const char* kHost = "127.0.0.1:7300";
constexpr const char* kPeer = "127.0.0.1:7301";

std::vector<Vnode> vnodes_of(const std::string& host) {
  std::vector<Vnode> out;
  for (int i = 0; i < 2; ++i) {
    out.push_back({Id::for_vnode(host, static_cast<std::uint16_t>(i)), host});
  }
  return out;
}

// A key whose owner is one of `host`'s vnodes on `ring`.
std::string key_owned_by(FakeHost& host, const std::string& owner_host) {
  for (int i = 0; i < 100000; ++i) {
    std::string key = "rt-" + std::to_string(i);
    auto owner = host.lookup(1, Id::hash(key));
    if (owner.ok() && owner->front().host == owner_host) return key;
  }
  return "";
}

// The ring of `host`'s two vnodes and kPeer's two.
void set_two_host_ring(FakeHost& host) {
  host.set_replicas(1);
  std::vector<Vnode> ring = vnodes_of(kHost);
  for (const Vnode& v : vnodes_of(kPeer)) ring.push_back(v);
  std::sort(ring.begin(), ring.end(), [](const Vnode& a, const Vnode& b) { return a.id < b.id; });
  host.set_ring(ring);
}

// What a client sends for INCR `key` to its primary `dest`, through `hook`;
// the new value, or "" (after a test failure) when the mutation failed.
std::string incr(TransportHook& hook, const Vnode& dest, const std::string& key) {
  ::dtable::PBDTableMutate req;
  to_pb(dest, req.mutable_dest());
  req.set_key(key);
  req.set_op(static_cast<int>(dtable::Mutation::Op::kIncrBy));
  req.set_delta(1);
  Result<Message> reply = hook.handle(pack(dmsg::kMutate, req));
  EXPECT_TRUE(reply.ok()) << reply.status().to_string();
  if (!reply.ok()) return "";
  auto r = unpack<::dtable::PBDTableResponse>(*reply, dmsg::kResponse);
  EXPECT_TRUE(r.ok() && r->ok()) << (r.ok() ? r->error() : r.status().to_string());
  return r.ok() ? r->mutation().number() : "";
}

class DtableMutationReadThroughTest : public ::testing::TestWithParam<bool> {};

// With settling (settle_ms 60 s: every vnode settles after the start) the
// peer's version is read first; without (settle_ms 0) the primary decides on
// what it holds, which is nothing: the difference shows the read happened.
TEST_P(DtableMutationReadThroughTest, ASettlingPrimaryReadsThePreviousHoldersFirst) {
  const bool settling = GetParam();
  FakeHost host(kHost, 2);
  set_two_host_ring(host);
  std::atomic<int> reads{0};
  host.set_responder([&](const std::string&, const Message& m) -> Result<Message> {
    if (m.type == dmsg::kGetItem) {
      ++reads;
      ::dtable::PBDTableGetItem req;
      if (!req.ParseFromString(m.payload)) return make_error("malformed");
      ::dtable::PBDTableItem item;
      item.set_keyhash(req.keyhash());
      item.set_val("41");
      item.set_timestamp(std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count() -
                         1'000'000'000);
      item.set_commited(true);
      item.set_found(true);
      return pack(dmsg::kItem, item);
    }
    // Replica writes of the counter: acknowledged.
    ::dtable::PBDTableResponse ok;
    ok.set_ok(true);
    return pack(dmsg::kResponse, ok);
  });
  DtableOnFakeHost dtable(host, std::string(R"({"settle_ms": )") + (settling ? "60000" : "0") +
                                    R"(, "storage": {"engine": "memory"}})");
  ASSERT_TRUE(dtable.start().ok());
  TransportHook* hook = dtable.hook_for(dmsg::kMutate);
  ASSERT_NE(hook, nullptr);
  const std::string key = key_owned_by(host, kHost);
  ASSERT_FALSE(key.empty());
  auto owner = host.lookup(1, Id::hash(key));
  ASSERT_TRUE(owner.ok());
  EXPECT_EQ(incr(*hook, owner->front(), key), settling ? "42" : "1");
  EXPECT_EQ(reads.load() > 0, settling);
  dtable.stop();
}

// After a failover the new primary's copy of a key can still sit in its
// replica table (the promotion is under way): the decision counts it, as
// reads do, so the counter goes on from it.
TEST(DtableMutationPromotionTest, AMutationCountsTheCopyInTheReplicaTable) {
  FakeHost host(kHost, 2);
  set_two_host_ring(host);
  host.set_responder([&](const std::string&, const Message&) -> Result<Message> {
    ::dtable::PBDTableResponse ok;
    ok.set_ok(true);
    return pack(dmsg::kResponse, ok);
  });
  DtableOnFakeHost dtable(host);  // settle_ms 0: no read-through
  ASSERT_TRUE(dtable.start().ok());
  const std::string key = key_owned_by(host, kHost);
  ASSERT_FALSE(key.empty());
  auto owner = host.lookup(1, Id::hash(key));
  ASSERT_TRUE(owner.ok());
  // The dead master's replica write of the key, into the owner's replica table.
  ::dtable::PBDTableSetItem set;
  to_pb(owner->front(), set.mutable_dest());
  auto* item = set.mutable_item();
  item->set_key(key);
  item->set_val("41");
  item->set_timestamp(std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count());
  to_pb(vnodes_of(kPeer)[0], item->mutable_replicainfo()->mutable_master());
  to_pb(owner->front(), item->mutable_replicainfo()->add_vnodes());
  Result<Message> stored = dtable.hook_for(dmsg::kSetReplica)->handle(pack(dmsg::kSetReplica, set));
  ASSERT_TRUE(stored.ok());

  EXPECT_EQ(incr(*dtable.hook_for(dmsg::kMutate), owner->front(), key), "42");
  dtable.stop();
}

INSTANTIATE_TEST_SUITE_P(Settling, DtableMutationReadThroughTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "settling" : "settled"; });

}  // namespace
}  // namespace dendrite::test
