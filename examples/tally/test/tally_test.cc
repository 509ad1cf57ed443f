// The tally plugin against dendrite::testing::FakeHost: handlers, forwarding
// and ring events, without a ring or a network.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "dendrite/dtable/memory_table.h"
#include "dendrite/testing/fake_host.h"
#include "tally.h"
#include "tally.pb.h"

namespace {

using namespace dendrite;

// [snippet fake-table]
// What the tally plugin finds as the "dtable" service: dtable's own complete
// in-memory Table (one copy per key, write hooks, thread-safe).
using dendrite::dtable::MemoryTable;
// [end snippet]

Message add(const std::string& name, std::int64_t delta) {
  dendrite_tally::AddRequest r;
  r.set_name(name);
  r.set_delta(delta);
  return Message{tally::kAdd, r.SerializeAsString()};
}

Message get(const std::string& name) {
  dendrite_tally::GetRequest r;
  r.set_name(name);
  return Message{tally::kGet, r.SerializeAsString()};
}

std::int64_t value_of(const Result<Message>& reply) {
  EXPECT_TRUE(reply.ok()) << reply.status().message();
  if (!reply.ok()) return -1;
  EXPECT_EQ(reply->type, tally::kValue);
  dendrite_tally::Value v;
  EXPECT_TRUE(v.ParseFromString(reply->payload));
  return v.value();
}

// [snippet fixture]
class TallyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(host_.publish_service("dtable", table_).ok());
    ASSERT_TRUE(plugin_.init("{}", context_).ok());
    ASSERT_TRUE(plugin_.start().ok());
  }
  void TearDown() override { plugin_.stop(); }

  dendrite::testing::FakeHost host_{"127.0.0.1:7000", /*vnodes=*/1};  // a one-node ring
  dendrite::testing::RecordingLogger log_;
  PluginContext context_{"tally", host_, log_};
  std::shared_ptr<MemoryTable> table_ = std::make_shared<MemoryTable>();
  tally::TallyPlugin plugin_;
};

TEST_F(TallyTest, AddsAndStoresInDtable) {
  EXPECT_EQ(value_of(plugin_.handle(add("hits", 2))), 2);
  EXPECT_EQ(value_of(plugin_.handle(add("hits", 3))), 5);
  EXPECT_EQ(table_->get("tally/hits", {}).value(), "5");
}
// [end snippet]

TEST_F(TallyTest, GetOfAnUnknownCounterIsZero) {
  EXPECT_EQ(value_of(plugin_.handle(get("never"))), 0);
}

TEST_F(TallyTest, BadRequestsAreErrorsNotCrashes) {
  EXPECT_EQ(plugin_.handle(Message{tally::kAdd, "\xff\xff garbage"}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(plugin_.handle(add("", 1)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(plugin_.handle(Message{tally::kValue, ""}).status().code(),
            StatusCode::kInvalidArgument);
}

// [snippet ring-event-test]
TEST_F(TallyTest, PredecessorJoinDropsTheCache) {
  EXPECT_EQ(value_of(plugin_.handle(add("hits", 1))), 1);
  ASSERT_TRUE(table_->set("tally/hits", "41", {}).ok());  // changed behind the cache
  EXPECT_EQ(value_of(plugin_.handle(get("hits"))), 1);

  RingEvent joined{RingEventType::kPredecessorJoined, host_.local_vnodes()[0], {}, {}, {}};
  plugin_.on_ring_event(joined);
  EXPECT_EQ(plugin_.cache_drops(), 1u);
  EXPECT_EQ(value_of(plugin_.handle(add("hits", 1))), 42);  // re-read from dtable
}
// [end snippet]

TEST_F(TallyTest, ForwardsToTheOwnerOnAnotherNode) {
  // The ring is one remote vnode: it owns every counter.
  Vnode remote{Id::for_vnode("10.0.0.2:5000", 0), "10.0.0.2:5000"};
  host_.set_ring({remote});
  dendrite_tally::Value canned;
  canned.set_name("hits");
  canned.set_value(7);
  canned.set_owner(remote.host);
  host_.set_reply(tally::kAdd, Message{tally::kValue, canned.SerializeAsString()});

  EXPECT_EQ(value_of(plugin_.handle(add("hits", 1))), 7);
  auto requests = host_.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].host, remote.host);
  dendrite_tally::AddRequest forwarded;
  ASSERT_TRUE(forwarded.ParseFromString(requests[0].message.payload));
  EXPECT_TRUE(forwarded.forwarded());  // the owner will not forward it again
  EXPECT_EQ(table_->get("tally/hits", {}).status().code(), StatusCode::kNotFound);
}

TEST_F(TallyTest, StoppedPluginAnswersUnavailable) {
  plugin_.stop();
  EXPECT_EQ(plugin_.handle(add("hits", 1)).status().code(), StatusCode::kUnavailable);
}

TEST(TallyConfigTest, RejectsABadConsistency) {
  dendrite::testing::FakeHost host;
  dendrite::testing::RecordingLogger log;
  PluginContext context{"tally", host, log};
  tally::TallyPlugin plugin;
  Status s = plugin.init(R"({"consistency": 0})", context);
  EXPECT_EQ(s.message(), "'consistency' must be an integer >= 1");
}

}  // namespace
