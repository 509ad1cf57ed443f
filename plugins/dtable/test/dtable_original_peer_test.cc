// Rings that mix our nodes with an "original" one: a stand-in
// (support/original_strict_peer.h) that refuses the batch probe as an original
// Go node does, answers Err to every type the original does not serve, and
// records each request that would crash or wedge an original. Behind it a node
// of ours serves what the original would. Writes, deletes, joins, graceful
// leaves and crashes of our nodes must keep every key readable everywhere and
// send the original nothing it cannot take.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "dendrite/client/dtable_client.h"
#include "dendrite/client/ring_view.h"
#include "dendrite/dtable/dtable.h"
#include "dendrite/dtable/messages.h"
#include "dendrite/dtable/write_request.h"
#include "dendrite/vnode_pb.h"
#include "dtable.pb.h"
#include "support/child_process.h"
#include "support/dtable_cluster.h"
#include "support/original_strict_peer.h"

namespace dendrite::test {
namespace {

std::string value_for(const std::string& key) {
  return "v:" + key;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += "\n  " + l;
  return out;
}

// A ring of our nodes and one stand-in original.
class MixedRing {
 public:
  explicit MixedRing(int replicas) : replicas_(replicas) {}
  // Our nodes stop before the original's backend: a call to an original
  // whose backend is gone waits out the 10 s minimum of a request to one.
  ~MixedRing() {
    for (std::size_t i : c.live()) {
      if (!original_ || i != original_index_) c.kill(i);
    }
  }

  // One of our nodes, joining the first live node.
  std::size_t add_ours() { return c.add(config_joining_first()); }

  // The stand-in original, joining the first live node (or creating the
  // ring). Its backend listens on a port of its own and advertises the
  // peer's address, so that every request to it passes the peer.
  std::size_t add_original() {
    auto started = OriginalStrictPeer::start(replicas_);
    EXPECT_TRUE(started.ok()) << started.status().to_string();
    original_ = std::move(started).value();
    const std::string backend = "127.0.0.1:" + std::to_string(free_port());
    original_->set_backend(backend);
    host::Config config = config_joining_first();
    config.listen = backend;
    config.advertise = original_->address();
    original_index_ = c.add(std::move(config));
    return original_index_;
  }

  OriginalStrictPeer& original() { return *original_; }
  std::size_t original_index() const { return original_index_; }

  // Every key of `values` reads as given (absent: NotFound) from every live
  // node; "" when so, else the first difference.
  std::string check_reads(const std::map<std::string, std::optional<std::string>>& values) {
    for (std::size_t i : c.live()) {
      for (const auto& [key, want] : values) {
        auto got = c.table(i).query().get(key);
        if (!want) {
          if (got.ok() || got.status().code() != StatusCode::kNotFound) {
            return "node " + std::to_string(i) + " " + key + ": want not found, got " +
                   (got.ok() ? *got : got.status().to_string());
          }
          continue;
        }
        if (!got.ok()) {
          return "node " + std::to_string(i) + " " + key + ": " + got.status().to_string();
        }
        if (*got != *want) return "node " + std::to_string(i) + " " + key + ": " + *got;
      }
    }
    return "";
  }

  // Declared first, destroyed last: our nodes stop while the peer still
  // answers for the original (else their calls to it wait out its timeout).
  std::unique_ptr<OriginalStrictPeer> original_;
  DtableCluster c;

 private:
  host::Config config_joining_first() {
    std::vector<std::string> seeds;
    for (std::size_t i : c.live()) {
      seeds.push_back(c.node(i).address());
      break;
    }
    host::Config config = dtable_node_config(seeds);
    config.replicas = replicas_;
    config.timeout = Milliseconds(1000);
    return config;
  }

  int replicas_;
  std::size_t original_index_ = 0;
};

class DtableOriginalPeerTest : public ::testing::TestWithParam<int> {};

// Writes a value (or, with nullopt, deletes) `key`.
using Write = std::function<Status(const std::string& key, const std::optional<std::string>&)>;

// Writes `n` keys through `write`, then deletes every `del_every`-th; records
// what each key should read as in `values`.
void write_and_delete(const Write& write, const std::string& prefix, int n, int del_every,
                      std::map<std::string, std::optional<std::string>>& values) {
  for (int k = 0; k < n; ++k) {
    const std::string key = prefix + std::to_string(k);
    Status s = write(key, value_for(key));
    ASSERT_TRUE(s.ok()) << key << ": " << s.to_string();
    values[key] = value_for(key);
  }
  for (int k = 0; k < n; k += del_every) {
    const std::string key = prefix + std::to_string(k);
    Status s = write(key, std::nullopt);
    ASSERT_TRUE(s.ok()) << key << " (delete): " << s.to_string();
    values[key] = std::nullopt;
  }
}

// write_and_delete() through node `from`'s dtable service, every fifth deleted.
void write_keys(MixedRing& ring, std::size_t from, const std::string& prefix, int n,
                std::map<std::string, std::optional<std::string>>& values) {
  dtable::Table& table = ring.c.table(from);
  write_and_delete(
      [&](const std::string& key, const std::optional<std::string>& value) {
        return value ? table.query().set(key, *value) : table.query().del(key);
      },
      prefix, n, 5, values);
}

TEST_P(DtableOriginalPeerTest, WritesFromEverySideAreReadEverywhere) {
  MixedRing ring(GetParam());
  const std::size_t a = ring.add_ours();
  const std::size_t o = ring.add_original();
  const std::size_t b = ring.add_ours();
  ASSERT_EQ(ring.c.wait_converged(), "");
  std::map<std::string, std::optional<std::string>> values;
  write_keys(ring, a, "a-", 60, values);
  write_keys(ring, b, "b-", 60, values);
  write_keys(ring, o, "o-", 30, values);
  // A client of the library: it sends each write straight to the key's
  // primary, the original's included.
  auto dclient = client::DtableClient::connect(ring.c.node(a).address());
  ASSERT_TRUE(dclient.ok()) << dclient.status().to_string();
  client::DtableClient& cli = **dclient;
  write_and_delete(
      [&](const std::string& key, const std::optional<std::string>& value) {
        return value ? cli.set(key, *value) : cli.del(key);
      },
      "cli-", 30, 3, values);
  EXPECT_EQ(ring.check_reads(values), "");
  const auto seen = ring.original().seen();
  EXPECT_GT(seen.count(dtable::msg::kSetItem), 0u) << "no write reached the original's primary";
  EXPECT_GT(seen.count(dtable::msg::kSetReplica), 0u) << "no replica reached the original";
  EXPECT_TRUE(wait_until([&] { return ring.original().uncommitted().empty(); }))
      << ring.original().uncommitted().size() << " replica writes never committed";
  EXPECT_TRUE(ring.original().violations().empty()) << joined(ring.original().violations());
}

TEST_P(DtableOriginalPeerTest, OurNodesJoinThroughTheOriginalAndLeave) {
  MixedRing ring(GetParam());
  const std::size_t o = ring.add_original();
  const std::size_t a = ring.add_ours();
  ASSERT_EQ(ring.c.wait_converged(), "");
  std::map<std::string, std::optional<std::string>> values;
  write_keys(ring, o, "first-", 60, values);
  write_keys(ring, a, "second-", 60, values);
  // A third node joins: keys move to it, and from it to their owners.
  const std::size_t b = ring.add_ours();
  ASSERT_EQ(ring.c.wait_converged(), "");
  EXPECT_EQ(ring.check_reads(values), "");
  // Our nodes leave gracefully, one after the other: their keys go to the
  // original (hand-overs as it takes them), and it is never sent a Leave.
  ring.c.leave(b);
  ASSERT_EQ(ring.c.wait_converged(), "");
  EXPECT_EQ(ring.check_reads(values), "");
  const int before = ring.original().hand_overs();
  ring.c.leave(a);
  // The last of our nodes handed its primary keys to the original.
  EXPECT_GT(ring.original().hand_overs(), before);
  ASSERT_EQ(ring.c.wait_converged(), "");
  EXPECT_EQ(ring.check_reads(values), "");
  EXPECT_TRUE(ring.original().violations().empty()) << joined(ring.original().violations());
}

TEST_P(DtableOriginalPeerTest, CrashOfOurNodeLosesNoKeyWithALiveCopy) {
  MixedRing ring(GetParam());
  const std::size_t a = ring.add_ours();
  ring.add_original();
  const std::size_t b = ring.add_ours();
  ASSERT_EQ(ring.c.wait_converged(), "");
  std::map<std::string, std::optional<std::string>> values;
  write_keys(ring, a, "k-", 120, values);
  // Every key, and every delete, sits on replicas + 1 hosts before the crash
  // (a write at consistency 1 is acknowledged before its replicas: one that
  // only its primary held may be lost with it, as that level promises).
  const auto copies = static_cast<std::size_t>(GetParam()) + 1;
  const auto tombstones = [&](const std::string& key) {
    std::set<std::string> hosts;
    for (std::size_t i : ring.c.live()) {
      const auto visible = ring.c.visible(i, key);
      if (!visible.empty() && visible.back().deleted) hosts.insert(visible.back().vnode.host);
    }
    return hosts.size();
  };
  ASSERT_TRUE(wait_until([&] {
    for (const auto& [key, want] : values) {
      if (want ? ring.c.hosts_with(key, *want).size() < copies : tombstones(key) < copies) {
        return false;
      }
    }
    return true;
  })) << "keys did not reach their replicas";
  ring.c.kill(b);
  ASSERT_EQ(ring.c.wait_converged(), "");
  EXPECT_EQ(ring.check_reads(values), "");
  EXPECT_TRUE(ring.original().violations().empty()) << joined(ring.original().violations());
}

TEST_P(DtableOriginalPeerTest, RingWalkAndKeyListingOnAMixedRing) {
  MixedRing ring(GetParam());
  const std::size_t a = ring.add_ours();
  ring.add_original();
  ring.add_ours();
  ASSERT_EQ(ring.c.wait_converged(), "");
  // The walk (dendrite-cli ring) reads the original with its own messages.
  for (const std::string& from : {ring.c.node(a).address(), ring.original().address()}) {
    auto walked = client::walk_ring(from, Milliseconds(3000));
    ASSERT_TRUE(walked.ok()) << from << ": " << walked.status().to_string();
    EXPECT_EQ(*walked, ring.c.ring().all_vnodes()) << "from " << from;
  }
  // The key listing cannot list the original: it says so.
  auto dclient = client::DtableClient::connect(ring.c.node(a).address());
  ASSERT_TRUE(dclient.ok()) << dclient.status().to_string();
  EXPECT_EQ((*dclient)->ring(), ring.c.ring().all_vnodes());
  auto keys = (*dclient)->keys();
  ASSERT_FALSE(keys.ok());
  EXPECT_NE(keys.status().message().find(ring.original().address()), std::string::npos)
      << keys.status().to_string();
  EXPECT_TRUE(ring.original().violations().empty()) << joined(ring.original().violations());
}

INSTANTIATE_TEST_SUITE_P(Replicas, DtableOriginalPeerTest, ::testing::Values(1, 2),
                         [](const auto& info) { return "r" + std::to_string(info.param); });

// The judge itself: what it calls harmful is what the original cannot take.
TEST(OriginalVerdictTest, FlagsWhatWouldHurtAnOriginal) {
  EXPECT_FALSE(judge_for_original(Message{msg::kLeave, ""}, 2).violation.empty());
  EXPECT_EQ(judge_for_original(Message{msg::kLeave, ""}, 2).action,
            OriginalVerdict::Action::kWedge);
  EXPECT_EQ(judge_for_original(Message{msg::kBatch, "x"}, 2).action,
            OriginalVerdict::Action::kRefuse);
  EXPECT_TRUE(judge_for_original(Message{msg::kBatch, "x"}, 2).violation.empty());

  // A client write as our filler builds it is served as it is.
  const Vnode dest{Id::for_vnode("127.0.0.1:9", 0), "127.0.0.1:9"};
  ::dtable::PBDTableSetItem good;
  to_pb(dest, good.mutable_dest());
  dtable::fill_write_request(good, "k", {}, "v", false, 1);
  auto verdict = [](MessageType type, const ::dtable::PBDTableSetItem& m) {
    return judge_for_original(pack(type, m), 2);
  };
  EXPECT_EQ(verdict(dtable::msg::kSetItem, good).action, OriginalVerdict::Action::kServe);
  EXPECT_TRUE(verdict(dtable::msg::kSetItem, good).violation.empty());
  // Without replicaInfo, or without minAcks: the original never answers.
  auto bad = good;
  bad.mutable_item()->clear_replicainfo();
  EXPECT_EQ(verdict(dtable::msg::kSetItem, bad).action, OriginalVerdict::Action::kWedge);
  bad = good;
  bad.clear_minacks();
  EXPECT_EQ(verdict(dtable::msg::kSetItem, bad).action, OriginalVerdict::Action::kWedge);
  // A delete with a val would store it.
  bad = good;
  bad.mutable_item()->set_deleted(true);
  EXPECT_FALSE(verdict(dtable::msg::kSetItem, bad).violation.empty());
  // A replica copy whose info has no entry at its depth.
  auto replica = good;
  to_pb(dest, replica.mutable_item()->mutable_replicainfo()->mutable_master());
  replica.mutable_item()->mutable_replicainfo()->set_depth(1);
  to_pb(dest, replica.mutable_item()->mutable_replicainfo()->add_vnodes());
  EXPECT_FALSE(verdict(dtable::msg::kSetReplica, replica).violation.empty());
  to_pb(dest, replica.mutable_item()->mutable_replicainfo()->add_vnodes());
  EXPECT_TRUE(verdict(dtable::msg::kSetReplica, replica).violation.empty());
}

}  // namespace
}  // namespace dendrite::test
