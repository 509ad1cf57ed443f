// Hostile input against a live node over ZeroMQ: random, truncated and
// oversized frames, unknown types and undecodable payloads of every host type
// get Err replies (or are dropped when no reply is possible), and the node keeps
// serving.
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <zmq.hpp>

#include "chord.pb.h"
#include "support/cluster.h"

namespace dendrite::test {
namespace {

class NodeRobustnessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_.add();
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::rcvtimeo, 3000);
    socket_.connect("tcp://" + cluster_.node(0).address());
  }

  // Sends one raw payload frame behind an empty delimiter (as a REQ would) and
  // returns the decoded reply, or nullopt when none came within 3 s.
  std::optional<Message> exchange(const std::string& frame) {
    socket_.send(zmq::message_t(), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(frame), zmq::send_flags::none);
    zmq::message_t delim, body;
    if (!socket_.recv(delim)) return std::nullopt;
    EXPECT_EQ(delim.size(), 0u);
    EXPECT_TRUE(delim.more());
    if (!socket_.recv(body)) return std::nullopt;
    auto m = Message::from_frame(body.to_string_view());
    if (!m.ok()) return std::nullopt;
    return std::move(m).value();
  }

  // The node answers a Ping with Ping{version 1}.
  void expect_serving() {
    PBProtoPing ping;
    ping.set_version(1);
    auto reply = exchange(pack(msg::kPing, ping).to_frame());
    ASSERT_TRUE(reply.has_value());
    ASSERT_EQ(reply->type, msg::kPing);
    auto pong = unpack<PBProtoPing>(*reply, msg::kPing);
    ASSERT_TRUE(pong.ok());
    EXPECT_EQ(pong->version(), 1);
  }

  void expect_err(const std::string& frame) {
    auto reply = exchange(frame);
    ASSERT_TRUE(reply.has_value()) << "no reply";
    EXPECT_EQ(reply->type, msg::kErr);
    EXPECT_FALSE(error_of(*reply).ok());
  }

  Cluster cluster_;
  zmq::context_t ctx_;
  zmq::socket_t socket_{ctx_, zmq::socket_type::dealer};
};

TEST_F(NodeRobustnessTest, UnknownTypesGetErr) {
  for (int type : {4, 12 + 2, 0x1f, 0x20, 0x40, 0x99, 0xff}) {
    SCOPED_TRACE(type);
    expect_err(std::string(1, static_cast<char>(type)) + "payload");
  }
  expect_serving();
}

TEST_F(NodeRobustnessTest, UndecodablePayloadsOfEveryHostTypeGetErr) {
  const std::string garbage("\xff\xfe\x01\x02\x03", 5);
  for (MessageType type :
       {msg::kPing, msg::kLeave, msg::kFindSuccessors, msg::kGetPredecessor, msg::kNotify}) {
    SCOPED_TRACE(static_cast<int>(type));
    expect_err(std::string(1, static_cast<char>(type)) + garbage);
    // Truncated: type byte only means every required field is missing.
    expect_err(std::string(1, static_cast<char>(type)));
  }
  expect_serving();
}

TEST_F(NodeRobustnessTest, MisaddressedRequestsGetErr) {
  PBProtoGetPredecessor gp;
  gp.mutable_dest()->set_id(Id::hash("nobody").raw());
  gp.mutable_dest()->set_host("127.0.0.1:1");
  expect_err(pack(msg::kGetPredecessor, gp).to_frame());
  gp.mutable_dest()->set_id("short id");
  expect_err(pack(msg::kGetPredecessor, gp).to_frame());
  expect_serving();
}

TEST_F(NodeRobustnessTest, RandomFramesNeverStopTheNode) {
  std::mt19937_64 rng(1234);
  for (int i = 0; i < 500; ++i) {
    std::string frame(1 + rng() % 200, '\0');
    for (auto& c : frame) c = static_cast<char>(rng());
    // Ping, ListVnodes and host status frames with random bytes may still parse;
    // any answer is fine, but there must be one.
    ASSERT_TRUE(exchange(frame).has_value()) << "no reply to random frame " << i;
  }
  expect_serving();
}

TEST_F(NodeRobustnessTest, OversizedAndMalformedMultipartDoNotStopTheNode) {
  // A 70 MB payload exceeds the default frame limit (64 MiB).
  expect_err(std::string(1, static_cast<char>(msg::kPing)) + std::string(70u << 20, 'x'));
  // No empty delimiter: nothing to answer to; must be dropped.
  socket_.send(zmq::buffer(std::string("\x00", 1)), zmq::send_flags::none);
  // An empty payload behind the delimiter.
  expect_err("");
  expect_serving();
}

}  // namespace
}  // namespace dendrite::test
