// The host's ZAP handler (host/zap_handler.h): its verdicts on every shape
// of request, and the handler thread answering libzmq's questions.
#include "host/zap_handler.h"

#include <zmq.h>

#include <array>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "dendrite/wire/curve_keys.h"
#include "support/process.h"

namespace dendrite::host {
namespace {

// The 32 bytes of a Z85 key, as a ZAP request carries them.
std::string raw_key(const std::string& z85) {
  std::array<std::uint8_t, 32> bytes{};
  EXPECT_NE(zmq_z85_decode(bytes.data(), z85.c_str()), nullptr);
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

class ZapHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto node = wire::generate_curve_key_pair();
    auto other = wire::generate_curve_key_pair();
    auto client = wire::generate_curve_key_pair();
    auto stranger = wire::generate_curve_key_pair();
    ASSERT_TRUE(node.ok() && other.ok() && client.ok() && stranger.ok());
    ASSERT_TRUE(wire::write_curve_key_pair(tmp_.path() + "/node", *node).ok());
    node_ = node->public_key;
    other_ = other->public_key;
    client_ = client->public_key;
    stranger_ = stranger->public_key;
    CurveConfig curve;
    curve.secret_key_file = tmp_.path() + "/node/secret.key";
    curve.public_key_file = tmp_.path() + "/node/public.key";
    curve.nodes = {node_ + " 127.0.0.1:5000", other_ + " 127.0.0.1:5001"};
    curve.clients = {client_};
    auto loaded = AccessPolicy::load(curve);
    ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
    policy_ = *loaded;
  }

  // A well-formed CURVE request from `key` (Z85).
  std::vector<std::string> request(const std::string& key) const {
    return {"1.0", "req-7", "dendrite", "10.1.2.3", "", "CURVE", raw_key(key)};
  }
  ZapVerdict judge(const std::vector<std::string>& frames) const {
    std::vector<std::string_view> views(frames.begin(), frames.end());
    return judge_zap_request(views, *policy_);
  }

  test::TempDir tmp_;
  std::string node_, other_, client_, stranger_;
  std::shared_ptr<const AccessPolicy> policy_;
};

TEST_F(ZapHandlerTest, NodeAndClientKeysAreLetInWithTheirRole) {
  for (const auto& [key, role, user] :
       {std::tuple{node_, PeerRole::kNode, "node"}, std::tuple{other_, PeerRole::kNode, "node"},
        std::tuple{client_, PeerRole::kClient, "client"}}) {
    const ZapVerdict v = judge(request(key));
    EXPECT_EQ(v.role, role);
    EXPECT_TRUE(v.refusal.empty()) << v.refusal;
    ASSERT_EQ(v.reply.size(), 6u);
    EXPECT_EQ(v.reply[0], "1.0");
    EXPECT_EQ(v.reply[1], "req-7");  // the request's id, echoed
    EXPECT_EQ(v.reply[2], "200");
    EXPECT_EQ(v.reply[4], user);
    EXPECT_EQ(role_of_user_id(v.reply[4]), role);
  }
}

TEST_F(ZapHandlerTest, OtherKeysDomainsAndMechanismsAreRefusedSayingWhy) {
  ZapVerdict v = judge(request(stranger_));
  EXPECT_EQ(v.role, PeerRole::kNone);
  ASSERT_EQ(v.reply.size(), 6u);
  EXPECT_EQ(v.reply[2], "400");
  EXPECT_EQ(v.reply[4], "");  // no user id
  EXPECT_EQ(v.reason, RefusalReason::kUnknownKey);
  EXPECT_NE(v.refusal.find(stranger_), std::string::npos) << v.refusal;
  EXPECT_EQ(v.peer, "10.1.2.3");

  auto wrong_domain = request(client_);
  wrong_domain[2] = "elsewhere";
  v = judge(wrong_domain);
  EXPECT_EQ(v.reply[2], "400");
  EXPECT_EQ(v.reason, RefusalReason::kWrongDomain);

  auto plain = request(client_);
  plain[5] = "NULL";
  plain.pop_back();
  v = judge(plain);
  EXPECT_EQ(v.reply[2], "400");
  EXPECT_EQ(v.role, PeerRole::kNone);
}

TEST_F(ZapHandlerTest, MalformedRequestsGetA500OrNoAnswer) {
  EXPECT_TRUE(judge({}).reply.empty());
  EXPECT_TRUE(judge({"1.0"}).reply.empty());
  for (std::vector<std::string> frames :
       {std::vector<std::string>{"2.0", "id", "dendrite", "a", "", "CURVE", raw_key(node_)},
        std::vector<std::string>{"1.0", "id", "dendrite"},
        std::vector<std::string>{"1.0", "id", "dendrite", "a", "", "CURVE", "short"},
        std::vector<std::string>{"1.0", "id", "dendrite", "a", "", "CURVE"},
        std::vector<std::string>{"1.0", "id", "dendrite", "a", "", "CURVE", raw_key(node_), "x"},
        std::vector<std::string>(40, "1.0")}) {
    const ZapVerdict v = judge(frames);
    EXPECT_EQ(v.role, PeerRole::kNone);
    ASSERT_EQ(v.reply.size(), 6u);
    EXPECT_EQ(v.reply[1], frames[1]);
    EXPECT_TRUE(v.reply[2] == "500" || v.reply[2] == "400") << v.reply[2];
  }
}

TEST_F(ZapHandlerTest, TheHandlerAnswersOnInprocAndCountsRefusals) {
  zmq::context_t ctx;
  MetricsRegistry metrics;
  Refusals refusals(metrics);
  ZapHandler handler(ctx, *policy_, refusals);
  ASSERT_TRUE(handler.start().ok());
  // A second handler in the same context cannot take the endpoint.
  ZapHandler second(ctx, *policy_, refusals);
  EXPECT_EQ(second.start().code(), StatusCode::kUnavailable);
  {
    zmq::socket_t req(ctx, zmq::socket_type::req);
    req.set(zmq::sockopt::linger, 0);
    req.set(zmq::sockopt::rcvtimeo, 10000);
    req.connect("inproc://zeromq.zap.01");
    for (const std::string& key : {client_, stranger_}) {
      const auto frames = request(key);
      for (std::size_t i = 0; i < frames.size(); ++i) {
        req.send(zmq::buffer(frames[i]),
                 i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
      }
      std::vector<std::string> reply;
      for (bool more = true; more;) {
        zmq::message_t m;
        ASSERT_TRUE(req.recv(m)) << "no answer within 10 s";
        reply.push_back(m.to_string());
        more = m.more();
      }
      ASSERT_EQ(reply.size(), 6u);
      EXPECT_EQ(reply[2], key == client_ ? "200" : "400");
    }
  }
  EXPECT_EQ(refusals.count(RefusalReason::kUnknownKey), 1u);
  handler.stop();
  second.stop();
}

}  // namespace
}  // namespace dendrite::host
