// What a replica answers a batch of replica writes (SetMultiItem{replica}):
// Response{ok} alone when it wrote every item, and one result per item, in
// order, when it refused one (the primary acknowledges item by item from
// them). The real plugin runs on a FakeHost (dtable_on_fake_host.h);
// the messages are hand-encoded and read back raw (integration/raw_protobuf.h).
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dendrite/dtable/messages.h"
#include "dendrite/testing/fake_host.h"
#include "dtable_on_fake_host.h"
#include "integration/raw_protobuf.h"

namespace dendrite::test {
namespace {

namespace dmsg = dtable::msg;
using raw_pb::field_bytes;
using raw_pb::field_varint;
using raw_pb::read_fields;
using raw_pb::vnode_bytes;
using testing::FakeHost;

constexpr const char* kHost = "127.0.0.1:7300";
constexpr const char* kPeer = "127.0.0.1:7301";

struct Write {
  std::string key;
  std::string value;
  std::int64_t ts;
};

// SetMultiItem{dest, origin, items, replica: true}.
Message replica_batch(const Vnode& dest, const Vnode& origin, const std::vector<Write>& writes) {
  std::string m;
  field_bytes(m, 1, vnode_bytes(dest));
  field_bytes(m, 2, vnode_bytes(origin));
  for (const Write& w : writes) {
    std::string item;
    field_bytes(item, 1, w.key);
    field_bytes(item, 2, w.value);
    field_varint(item, 3, static_cast<std::uint64_t>(w.ts));
    field_bytes(item, 5, Id::hash(w.key).raw());
    field_bytes(m, 3, item);
  }
  field_varint(m, 4, 1);
  return Message{dmsg::kSetMultiItem, m};
}

// A Response read back: ok, and each result's (ok, code).
struct Answer {
  bool ok = false;
  std::vector<std::pair<bool, std::uint64_t>> results;
};

Answer read_answer(const Result<Message>& reply) {
  EXPECT_TRUE(reply.ok());
  if (!reply.ok()) return {};
  EXPECT_EQ(reply->type, dmsg::kResponse);
  auto fields = read_fields(reply->payload);
  EXPECT_TRUE(fields.has_value());
  Answer a;
  if (!fields) return a;
  for (const auto& f : *fields) {
    if (f.number == 1) a.ok = f.value != 0;
    if (f.number != 6) continue;
    auto sub = read_fields(f.bytes);
    EXPECT_TRUE(sub.has_value());
    std::pair<bool, std::uint64_t> r{false, 0};
    for (const auto& g : sub.value_or(std::vector<raw_pb::Field>{})) {
      if (g.number == 1) r.first = g.value != 0;
      if (g.number == 3) r.second = g.value;
    }
    a.results.push_back(r);
  }
  return a;
}

TEST(DtableReplicaBatchTest, AnswerListsResultsOnlyWhenAnItemWasRefused) {
  FakeHost host(kHost, 1);
  const Vnode local{Id::for_vnode(kHost, 0), kHost};
  const Vnode peer{Id::for_vnode(kPeer, 0), kPeer};
  host.set_ring({local, peer});
  DtableOnFakeHost dtable(host);
  ASSERT_TRUE(dtable.start().ok());
  TransportHook* hook = dtable.hook_for(dmsg::kSetMultiItem);
  ASSERT_NE(hook, nullptr);
  auto send = [&](const std::vector<Write>& writes) {
    Result<Message> reply = Status::Unavailable("no answer");
    hook->handle_async(replica_batch(local, peer, writes),
                       [&reply](Result<Message> r) { reply = std::move(r); });
    return read_answer(reply);
  };

  // Every item written: {ok} and nothing else.
  const Answer all = send({{"a", "a1", 100}, {"b", "b1", 100}, {"c", "c1", 100}});
  EXPECT_TRUE(all.ok);
  EXPECT_TRUE(all.results.empty());

  // The middle item is older than the copy held: refused, and the answer
  // lists every item's result in order.
  const Answer mixed = send({{"a", "a2", 200}, {"b", "b0", 50}, {"c", "c2", 200}});
  EXPECT_FALSE(mixed.ok);
  ASSERT_EQ(mixed.results.size(), 3u);
  EXPECT_TRUE(mixed.results[0].first);
  EXPECT_FALSE(mixed.results[1].first);
  EXPECT_EQ(mixed.results[1].second, static_cast<std::uint64_t>(dtable::kCodeOlder));
  EXPECT_TRUE(mixed.results[2].first);

  // A lone batch item the same way.
  const Answer one = send({{"d", "d1", 100}, {"a", "a3", 300}});
  EXPECT_TRUE(one.ok);
  EXPECT_TRUE(one.results.empty());
}

}  // namespace
}  // namespace dendrite::test
