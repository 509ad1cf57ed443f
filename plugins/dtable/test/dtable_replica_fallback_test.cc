// dtable's replica channels against a replica that refuses batches (as an
// original node does: it knows SetReplica but not SetMultiItem{replica}).
// The real plugin runs on a FakeHost (dtable_on_fake_host.h)
// whose peers answer for the replicas, so the test decides what each replica
// request gets and sees every one sent.
// Raw dtable messages are hand-encoded (integration/raw_protobuf.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "chord.pb.h"
#include "dendrite/dtable/dtable.h"
#include "dendrite/dtable/messages.h"
#include "dendrite/testing/fake_host.h"
#include "dendrite/vnode_pb.h"
#include "dtable.pb.h"
#include "dtable_on_fake_host.h"
#include "integration/raw_protobuf.h"

namespace dendrite::test {
namespace {

namespace dmsg = dtable::msg;
using testing::FakeHost;

constexpr const char* kHost = "127.0.0.1:7200";
constexpr const char* kPeers[] = {"127.0.0.1:7201", "127.0.0.1:7202"};
constexpr int kVnodes = 2;
constexpr auto kWait = std::chrono::seconds(10);

std::vector<Vnode> vnodes_of(const std::string& host) {
  std::vector<Vnode> out;
  for (int i = 0; i < kVnodes; ++i) {
    out.push_back({Id::for_vnode(host, static_cast<std::uint16_t>(i)), host});
  }
  return out;
}

// A replica that answers SetReplica with ok and SetMultiItem with Err. Its
// first SetReplica is held until release(), so that later writes queue up on
// their channel and leave as a batch.
class RefusingReplica {
 public:
  Result<Message> answer(const std::string& host, const Message& request) {
    std::unique_lock lock(mu_);
    if (request.type == dmsg::kSetMultiItem) {
      ++batches_;
      return make_error("unknown message type 0x26");
    }
    if (request.type != dmsg::kSetReplica) return Status::Unavailable("not a replica write");
    ++singles_[host];
    if (!held_once_) {
      held_once_ = true;
      cv_.wait_for(lock, kWait, [this] { return released_; });
    }
    return raw_pb::dtable_replica_ok();
  }
  void release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  int batches() const {
    std::lock_guard lock(mu_);
    return batches_;
  }
  int singles() const {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& [host, count] : singles_) n += count;
    return n;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool held_once_ = false;
  bool released_ = false;
  int batches_ = 0;
  std::map<std::string, int> singles_;
};

// Counts answers to the writes the test sends.
class Answers {
 public:
  void add(bool ok) {
    std::lock_guard lock(mu_);
    ++(ok ? ok_ : failed_);
    cv_.notify_all();
  }
  // Waits until `n` answers came (bounded); the number of ok ones.
  int wait_ok(int n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, kWait, [&] { return ok_ + failed_ >= n; });
    return ok_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int ok_ = 0;
  int failed_ = 0;
};

TEST(DtableReplicaFallbackTest, BatchRefusedByAnOriginalReplicaIsResentAsSingleWrites) {
  FakeHost host(kHost, kVnodes);
  std::vector<Vnode> ring = vnodes_of(kHost);
  for (const char* peer : kPeers) {
    for (const Vnode& v : vnodes_of(peer)) ring.push_back(v);
  }
  host.set_ring(ring);
  RefusingReplica replica;
  host.set_responder(
      [&replica](const std::string& to, const Message& m) { return replica.answer(to, m); });
  DtableOnFakeHost dtable(host);
  ASSERT_TRUE(dtable.start().ok());
  TransportHook* hook = dtable.hook_for(dmsg::kSetItem);
  ASSERT_NE(hook, nullptr);

  // Keys whose primary is one local vnode, so that their replica writes share
  // channels (primary, replica, depth).
  std::vector<std::string> keys;
  Vnode primary;
  for (int i = 0; keys.size() < 20 && i < 10000; ++i) {
    const std::string key = "fallback-" + std::to_string(i);
    auto owners = host.lookup(1, Id::hash(key));
    ASSERT_TRUE(owners.ok());
    if (owners->front().host != kHost) continue;
    if (keys.empty()) primary = owners->front();
    if (owners->front() == primary) keys.push_back(key);
  }
  ASSERT_EQ(keys.size(), 20u);

  // The first write's replica requests go at once (its channels are idle);
  // one is held, so the other 19 writes wait on their channels and leave as
  // batches once it is answered. The replica refuses the batches; the writes
  // must still reach it, one by one, and every one must be acknowledged.
  Answers answers;
  const int min_acks = 3;  // the primary's copy and both replicas'
  for (const std::string& key : keys) {
    hook->handle_async(
        raw_pb::dtable_set_item(primary, key, "v-" + key, min_acks),
        [&answers](Result<Message> reply) { answers.add(raw_pb::dtable_response_ok(reply)); });
  }
  replica.release();
  EXPECT_EQ(answers.wait_ok(static_cast<int>(keys.size())), static_cast<int>(keys.size()));
  EXPECT_GE(replica.batches(), 1);
  // Both replicas got every write singly: the first one at once, the rest
  // after their batch was refused.
  EXPECT_EQ(replica.singles(), 2 * static_cast<int>(keys.size()));

  // The refusing hosts now get single writes only: no batch is tried again.
  const int batches_before = replica.batches();
  Answers more;
  for (const std::string& key : keys) {
    hook->handle_async(
        raw_pb::dtable_set_item(primary, key, "w-" + key, min_acks),
        [&more](Result<Message> reply) { more.add(raw_pb::dtable_response_ok(reply)); });
  }
  EXPECT_EQ(more.wait_ok(static_cast<int>(keys.size())), static_cast<int>(keys.size()));
  EXPECT_EQ(replica.batches(), batches_before);
  EXPECT_EQ(replica.singles(), 4 * static_cast<int>(keys.size()));
  dtable.stop();  // while the answer counters are alive
}

// The first host after `m` in `ring` (sorted by id) other than m's own.
std::string next_other_host(const std::vector<Vnode>& ring, const Vnode& m) {
  auto at = std::find(ring.begin(), ring.end(), m);
  for (std::size_t step = 1; step < ring.size(); ++step) {
    const Vnode& s = ring[(static_cast<std::size_t>(at - ring.begin()) + step) % ring.size()];
    if (s.host != m.host) return s.host;
  }
  return "";
}

// An original master never renews the replica copies it wrote (it sends no
// digests). Its copies here must outlive the orphan lease while it counts this
// host among its replicas, else they are gone when it dies; a copy from an
// original master that replicates elsewhere is an orphan as usual.
TEST(DtableReplicaFallbackTest, CopiesOfALiveOriginalMasterAreNoOrphans) {
  FakeHost host(kHost, kVnodes);
  host.set_replicas(1);
  std::vector<Vnode> ring = vnodes_of(kHost);
  for (const char* peer : kPeers) {
    for (const Vnode& v : vnodes_of(peer)) ring.push_back(v);
    host.set_dialect(peer, PeerDialect::kOriginal);
  }
  std::sort(ring.begin(), ring.end(), [](const Vnode& a, const Vnode& b) { return a.id < b.id; });
  host.set_ring(ring);
  std::mutex mu;
  std::set<std::string> handed;  // keys handed over (SetItem{demoting}) to their owner
  host.set_responder([&](const std::string&, const Message& m) -> Result<Message> {
    if (m.type != dmsg::kSetItem) return Status::Unavailable("not a hand-over");
    ::dtable::PBDTableSetItem req;
    if (!req.ParseFromString(m.payload) || !req.demoting()) return make_error("unexpected");
    std::lock_guard lock(mu);
    handed.insert(req.item().key());
    return raw_pb::dtable_replica_ok();
  });
  DtableOnFakeHost dtable(host, R"({"settle_ms": 0, "check_interval_ms": 100,)"
                                R"( "tombstone_grace_ms": 500, "storage": {"engine": "memory"}})");
  ASSERT_TRUE(dtable.start().ok());
  TransportHook* hook = dtable.hook_for(dmsg::kSetReplica);
  ASSERT_NE(hook, nullptr);
  auto table = host.get_service<dtable::Table>(dtable::kServiceName);
  ASSERT_TRUE(table.ok());

  // A master of each kind among the originals' vnodes, and a key it owns.
  std::optional<Vnode> keeps, elsewhere;
  for (const Vnode& v : ring) {
    if (v.host == kHost) continue;
    (next_other_host(ring, v) == kHost ? keeps : elsewhere) = v;
  }
  ASSERT_TRUE(keeps && elsewhere);
  auto key_of = [&](const Vnode& master) {
    for (int i = 0; i < 100000; ++i) {
      std::string key = "orig-" + std::to_string(i);
      auto owner = host.lookup(1, Id::hash(key));
      if (owner.ok() && owner->front() == master) return key;
    }
    return std::string();
  };
  const std::string kept_key = key_of(*keeps), orphan_key = key_of(*elsewhere);
  ASSERT_FALSE(kept_key.empty());
  ASSERT_FALSE(orphan_key.empty());
  // Each master writes its replica copy here as an original does.
  const Vnode here = vnodes_of(kHost)[0];
  for (const auto& [master, key] :
       {std::pair{*keeps, kept_key}, std::pair{*elsewhere, orphan_key}}) {
    ::dtable::PBDTableSetItem req;
    to_pb(here, req.mutable_dest());
    auto* item = req.mutable_item();
    item->set_key(key);
    item->set_val("v-" + key);
    item->set_timestamp(std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count());
    to_pb(master, item->mutable_replicainfo()->mutable_master());
    to_pb(here, item->mutable_replicainfo()->add_vnodes());
    item->mutable_replicainfo()->set_depth(0);
    Result<Message> reply = hook->handle(pack(dmsg::kSetReplica, req));
    ASSERT_TRUE(raw_pb::dtable_response_ok(reply)) << key;
  }
  auto replica_copies = [&](const std::string& key) {
    int n = 0;
    for (const auto& c : (*table)->stored_copies(key)) {
      if (c.role == dtable::StoredCopy::Role::kReplica && !c.deleted) ++n;
    }
    return n;
  };
  // Well past the lease (3 checks of 100 ms): the orphan went to its owner
  // and away; the copy of the master that keeps this host stayed.
  const auto until = std::chrono::steady_clock::now() + kWait;
  while (std::chrono::steady_clock::now() < until && replica_copies(orphan_key) > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // several more checks
  EXPECT_EQ(replica_copies(orphan_key), 0);
  {
    std::lock_guard lock(mu);
    EXPECT_TRUE(handed.count(orphan_key));
    EXPECT_FALSE(handed.count(kept_key));
  }
  EXPECT_EQ(replica_copies(kept_key), 1);
  table->reset();
  dtable.stop();
}

}  // namespace
}  // namespace dendrite::test
