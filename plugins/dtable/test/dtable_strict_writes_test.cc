// Strict writes (docs/dtable.md "Partitions"): with a remembered member out of
// reach, a write at consistency c counts only copies on the key's true
// holders in the whole membership, so "consistency 2" never means "2 copies
// on whichever hosts this side of a partition has". The plugin runs on a
// FakeHost whose reachable ring lacks one member (down).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "dendrite/dtable/messages.h"
#include "dtable_on_fake_host.h"
#include "integration/raw_protobuf.h"

namespace dendrite::test {
namespace {

namespace dmsg = dtable::msg;
using testing::FakeHost;

constexpr const char* kHost = "127.0.0.1:7300";
constexpr const char* kPeers[] = {"127.0.0.1:7301", "127.0.0.1:7302"};
constexpr const char* kDown = "127.0.0.1:7309";
constexpr const char* kMoreDown[] = {"127.0.0.1:7308", "127.0.0.1:7307"};
constexpr int kVnodes = 2;

std::vector<Vnode> vnodes_of(const std::string& host) {
  std::vector<Vnode> out;
  for (int i = 0; i < kVnodes; ++i) {
    out.push_back({Id::for_vnode(host, static_cast<std::uint16_t>(i)), host});
  }
  return out;
}

// `x` - k (k small), with borrow.
Id minus(const Id& x, int k) {
  Id::Bytes b = x.bytes();
  for (int i = static_cast<int>(b.size()) - 1; i >= 0 && k > 0; --i) {
    const int v = b[static_cast<std::size_t>(i)] - k;
    b[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>((v + 256) % 256);
    k = v < 0 ? 1 : 0;
  }
  return Id(b);
}

// The hosts of the key's `n` copies among `all` (brute force, for the test).
std::vector<std::string> true_holders(std::vector<Vnode> all, const Id& key, std::size_t n) {
  std::sort(all.begin(), all.end(), [](const Vnode& a, const Vnode& b) { return a.id < b.id; });
  std::size_t k = 0;
  while (k < all.size() && all[k].id < key) ++k;
  std::vector<std::string> out;
  for (std::size_t step = 0; step < all.size() && out.size() < n; ++step) {
    const std::string& h = all[(k + step) % all.size()].host;
    if (std::find(out.begin(), out.end(), h) == out.end()) out.push_back(h);
  }
  return out;
}

struct Outcome {
  bool ok = false;
  std::string text;  // the reply's payload, for the error text
};

class StrictWritesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<Vnode> ring = vnodes_of(kHost);
    for (const char* peer : kPeers) {
      for (const Vnode& v : vnodes_of(peer)) ring.push_back(v);
    }
    all_ = ring;
    std::vector<std::string> down{kDown};
    if (three_down_) down.insert(down.end(), std::begin(kMoreDown), std::end(kMoreDown));
    host_.set_ring(ring);  // the reachable ring: the down hosts are cut off
    std::vector<Member> members;
    for (const char* h : {kHost, kPeers[0], kPeers[1]}) members.push_back({h, true, vnodes_of(h)});
    for (std::size_t d = 0; d < down.size(); ++d) {
      // With three down, they sit right before this host's first vnode, one
      // vnode each: the keys in front of them have all their holders down.
      std::vector<Vnode> vs = vnodes_of(down[d]);
      if (three_down_)
        vs = {Vnode{minus(vnodes_of(kHost)[0].id, 3 - static_cast<int>(d)), down[d]}};
      members.push_back({down[d], false, vs});
      all_.insert(all_.end(), vs.begin(), vs.end());
    }
    host_.set_members(members);
    host_.set_responder([this](const std::string&, const Message& m) -> Result<Message> {
      if (refuse_replicas_) return make_error("replica refuses");
      if (m.type == dmsg::kSetReplica || m.type == dmsg::kSetMultiItem)
        return raw_pb::dtable_replica_ok();
      return Status::Unavailable("not a replica write");
    });
  }

  // A key whose primary in the reachable ring is local, and whose true
  // holders satisfy `want`.
  template <typename Want>
  std::pair<std::string, Vnode> find_key(Want want) {
    for (int i = 0; i < 20000; ++i) {
      const std::string key = "strict-" + std::to_string(i);
      auto owners = host_.lookup(1, Id::hash(key));
      if (!owners.ok() || owners->front().host != kHost) continue;
      if (want(true_holders(all_, Id::hash(key), 3))) return {key, owners->front()};
    }
    ADD_FAILURE() << "no key found";
    return {};
  }

  Outcome write(TransportHook* hook, const Vnode& primary, const std::string& key, int c) {
    std::promise<Result<Message>> reply;
    auto got = reply.get_future();
    hook->handle_async(raw_pb::dtable_set_item(primary, key, "v-" + key, c),
                       [&reply](Result<Message> r) { reply.set_value(std::move(r)); });
    if (got.wait_for(std::chrono::seconds(10)) != std::future_status::ready) return {};
    Result<Message> r = got.get();
    if (!r.ok()) return {false, r.status().to_string()};
    return {raw_pb::dtable_response_ok(r), r->payload};
  }

  static bool has(const std::vector<std::string>& hosts, const std::string& h) {
    return std::find(hosts.begin(), hosts.end(), h) != hosts.end();
  }

  FakeHost host_{kHost, kVnodes};
  bool three_down_ = false;
  std::vector<Vnode> all_;
  std::atomic<bool> refuse_replicas_{false};
};

TEST_F(StrictWritesTest, AWriteNeedsItsCopiesOnTheKeysTrueHolders) {
  DtableOnFakeHost dtable(host_);
  ASSERT_TRUE(dtable.start().ok());
  TransportHook* hook = dtable.hook_for(dmsg::kSetItem);
  ASSERT_NE(hook, nullptr);

  // The down host is one of the key's three holders, this host another: at
  // most two of the three copies can be written.
  auto [k1, p1] = find_key([&](const auto& h) { return has(h, kDown) && has(h, kHost); });
  Outcome c3 = write(hook, p1, k1, 3);
  EXPECT_FALSE(c3.ok);
  EXPECT_NE(c3.text.find("consistency not met"), std::string::npos) << c3.text;
  EXPECT_NE(c3.text.find(std::string(kDown) + " (down)"), std::string::npos) << c3.text;
  EXPECT_TRUE(write(hook, p1, k1, 2).ok);

  // The down host holds none of the key's copies: every level can be met.
  auto [k2, p2] = find_key([&](const auto& h) { return !has(h, kDown); });
  EXPECT_TRUE(write(hook, p2, k2, 3).ok);
  dtable.stop();
}

// Three members down: some keys have every true holder among them. This host
// stands in as their primary in the reachable ring, but its own copy is not
// one of the key's copies, so not even consistency 1 is met.
class StrictWritesThreeDownTest : public StrictWritesTest {
 protected:
  void SetUp() override {
    three_down_ = true;
    StrictWritesTest::SetUp();
  }
};

TEST_F(StrictWritesThreeDownTest, APrimaryOutsideTheHoldersDoesNotCountItsOwnCopy) {
  DtableOnFakeHost dtable(host_);
  ASSERT_TRUE(dtable.start().ok());
  TransportHook* hook = dtable.hook_for(dmsg::kSetItem);
  ASSERT_NE(hook, nullptr);
  auto [k, p] = find_key(
      [&](const auto& h) { return !has(h, kHost) && !has(h, kPeers[0]) && !has(h, kPeers[1]); });
  Outcome c1 = write(hook, p, k, 1);
  EXPECT_FALSE(c1.ok);
  EXPECT_NE(c1.text.find("only 0 of the key's 3 copy holders"), std::string::npos) << c1.text;
  // A key this host truly holds is written at consistency 1 on its own copy,
  // even when no replica takes it.
  refuse_replicas_ = true;
  auto [mine, pm] = find_key([&](const auto& h) { return h.front() == kHost; });
  EXPECT_TRUE(write(hook, pm, mine, 1).ok);
  dtable.stop();
}

TEST_F(StrictWritesTest, SloppyWritesCountWhateverTheReachableRingHas) {
  DtableOnFakeHost dtable(
      host_, R"({"settle_ms": 0, "partition_writes": "sloppy", "storage": {"engine": "memory"}})");
  ASSERT_TRUE(dtable.start().ok());
  TransportHook* hook = dtable.hook_for(dmsg::kSetItem);
  ASSERT_NE(hook, nullptr);
  auto [k1, p1] = find_key([&](const auto& h) { return has(h, kDown) && has(h, kHost); });
  EXPECT_TRUE(write(hook, p1, k1, 3).ok);
  dtable.stop();
}

}  // namespace
}  // namespace dendrite::test
