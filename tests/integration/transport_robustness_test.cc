// Bad input never crashes the transport: malformed multipart messages,
// empty/truncated/oversized frames, unknown types, random bytes and non-ZMTP
// garbage get an Err reply (when a reply envelope is known) or are dropped, and
// the server keeps serving normal requests afterwards.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "chord.pb.h"
#include "dendrite/message.h"
#include "host/zmq_transport.h"

namespace dendrite::host {
namespace {

using namespace std::chrono_literals;
using Frames = std::vector<std::string>;

constexpr MessageType kEcho = 0x40;
constexpr std::size_t kMaxFrame = 1024;
constexpr auto kWait = 20s;

// Ping inline (Err when its payload does not decode), kEcho on a worker,
// anything else Err.
class StrictHandler final : public RequestHandler {
 public:
  bool runs_inline(MessageType type) const override { return type == msg::kPing; }
  Message handle(const Message& request) override {
    ++handled;
    if (request.type == msg::kPing) {
      auto ping = unpack<PBProtoPing>(request, msg::kPing);
      if (!ping.ok()) return make_error(ping.status().message());
      PBProtoPing pong;
      pong.set_version(1);
      return pack(msg::kPing, pong);
    }
    if (request.type == kEcho) return request;
    return make_error("unknown message type " + std::to_string(request.type));
  }
  std::atomic<int> handled{0};
};

class TransportRobustness : public ::testing::Test {
 protected:
  void SetUp() override {
    TransportConfig c;
    c.listen = "127.0.0.1:0";
    c.workers.min = 1;
    c.workers.max = 4;
    c.max_frame_bytes = kMaxFrame;
    server_ = std::make_unique<ZmqTransport>(c, handler_);
    ASSERT_TRUE(server_->start().ok());
    dealer_ = connect();
  }
  void TearDown() override {
    dealer_.close();
    server_->stop();
  }

  zmq::socket_t connect() {
    zmq::socket_t s(ctx_, zmq::socket_type::dealer);
    s.set(zmq::sockopt::linger, 0);
    s.connect("tcp://" + server_->address());
    return s;
  }

  static void send(zmq::socket_t& s, const Frames& frames) {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const auto flags = i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
      ASSERT_TRUE(s.send(zmq::buffer(frames[i]), flags));
    }
  }

  // The next multipart message on `s`, or nothing within kWait.
  static std::optional<Frames> receive(zmq::socket_t& s) {
    zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::duration_cast<std::chrono::milliseconds>(kWait));
    if (!(item.revents & ZMQ_POLLIN)) return std::nullopt;
    std::vector<zmq::message_t> msgs;
    if (!zmq::recv_multipart(s, std::back_inserter(msgs))) return std::nullopt;
    Frames out;
    for (auto& m : msgs) out.push_back(m.to_string());
    return out;
  }

  static std::string ping_frame() {
    PBProtoPing ping;
    ping.set_version(1);
    return pack(msg::kPing, ping).to_frame();
  }

  // Sends [id][empty][payload...] and returns the reply's last frame after
  // checking its envelope is [id][empty].
  std::string request(const std::string& id, Frames payload_frames) {
    Frames f{id, ""};
    for (auto& p : payload_frames) f.push_back(std::move(p));
    send(dealer_, f);
    auto reply = receive(dealer_);
    EXPECT_TRUE(reply.has_value()) << "no reply to " << id;
    if (!reply) return {};
    EXPECT_EQ(reply->size(), 3u);
    if (reply->size() != 3) return {};
    EXPECT_EQ((*reply)[0], id);
    EXPECT_EQ((*reply)[1], "");
    return (*reply)[2];
  }

  // The text of an Err reply frame (fails the test if it is not one).
  static std::string error_text(const std::string& frame) {
    auto m = Message::from_frame(frame);
    EXPECT_TRUE(m.ok());
    if (!m.ok()) return {};
    EXPECT_EQ(m->type, msg::kErr);
    auto e = unpack<PBProtoErr>(*m, msg::kErr);
    EXPECT_TRUE(e.ok());
    return e.ok() ? e->error() : std::string();
  }

  // Sends a normal Ping with a fresh id on `s` and reads other replies until
  // its answer, handing each to `other` when given. Returns how many other
  // replies came first, or -1 if its answer did not come.
  int probe(zmq::socket_t& s, const std::function<void(const Frames&)>& other = {}) {
    const std::string id = "probe-" + std::to_string(++probes_);
    send(s, {id, "", ping_frame()});
    for (int skipped = 0; skipped < 10000; ++skipped) {
      auto reply = receive(s);
      if (!reply) return -1;
      if (reply->size() == 3 && (*reply)[0] == id) {
        auto m = Message::from_frame((*reply)[2]);
        EXPECT_TRUE(m.ok() && m->type == msg::kPing);
        return skipped;
      }
      if (other) other(*reply);
    }
    return -1;
  }

  StrictHandler handler_;
  std::unique_ptr<ZmqTransport> server_;
  zmq::context_t ctx_;
  zmq::socket_t dealer_;
  int probes_ = 0;
};

TEST_F(TransportRobustness, EmptyPayloadGetsErr) {
  EXPECT_NE(error_text(request("a", {""})).find("empty frame"), std::string::npos);
  EXPECT_EQ(probe(dealer_), 0);
}

TEST_F(TransportRobustness, MissingPayloadGetsErr) {
  EXPECT_NE(error_text(request("b", {})).find("missing payload"), std::string::npos);
  EXPECT_EQ(probe(dealer_), 0);
}

TEST_F(TransportRobustness, ExtraFramesAfterPayloadGetErr) {
  EXPECT_NE(error_text(request("c", {ping_frame(), "extra", ""})).find("unexpected"),
            std::string::npos);
  EXPECT_EQ(probe(dealer_), 0);
}

TEST_F(TransportRobustness, OversizedFrameGetsErr) {
  std::string big(kMaxFrame + 1, 'x');
  big[0] = static_cast<char>(kEcho);
  EXPECT_NE(error_text(request("d", {big})).find("exceeds the limit"), std::string::npos);
  // Exactly at the limit is served.
  std::string fits(kMaxFrame, 'y');
  fits[0] = static_cast<char>(kEcho);
  EXPECT_EQ(request("e", {fits}), fits);
  EXPECT_EQ(probe(dealer_), 0);
}

TEST_F(TransportRobustness, UnknownTypeAndTruncatedProtobufGetErr) {
  EXPECT_NE(error_text(request("f", {std::string("\x7e\x01\x02", 3)})).find("unknown"),
            std::string::npos);
  // Ping whose varint is cut off, and Ping missing its required field.
  EXPECT_FALSE(error_text(request("g", {std::string("\x00\x08", 2)})).empty());
  EXPECT_FALSE(error_text(request("h", {std::string("\x00", 1)})).empty());
  EXPECT_EQ(probe(dealer_), 0);
}

TEST_F(TransportRobustness, NoDelimiterOrTooManyEnvelopeFramesIsDropped) {
  send(dealer_, {ping_frame()});
  send(dealer_, {"id", ping_frame()});
  send(dealer_, {"1", "2", "3", "4", "5", "6", "7", "", ping_frame()});
  EXPECT_EQ(probe(dealer_), 0);  // nothing came back for the three above
}

TEST_F(TransportRobustness, FrameAboveMaxMsgSizeDisconnectsOnlyThatPeer) {
  zmq::socket_t hostile = connect();
  send(hostile, {"big", "", std::string(8u << 20, 'z')});
  zmq::socket_t fresh = connect();
  EXPECT_EQ(probe(fresh), 0);
  EXPECT_EQ(probe(dealer_), 0);
}

TEST_F(TransportRobustness, RawTcpGarbageIsIgnored) {
  const std::string address = server_->address();
  const int port = std::stoi(address.substr(address.rfind(':') + 1));
  std::mt19937 rng(7);
  for (int round = 0; round < 5; ++round) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    std::string junk(4096, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    if (round == 0) junk[0] = static_cast<char>(0xff);  // looks like a ZMTP signature start
    [[maybe_unused]] auto n = ::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
    ::close(fd);
  }
  EXPECT_EQ(probe(dealer_), 0);
}

TEST_F(TransportRobustness, RandomMultipartFuzzKeepsServing) {
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> nframes(1, 5), len(0, 40), byte(0, 255), coin(0, 3);
  for (int i = 0; i < 500; ++i) {
    Frames f;
    const int n = nframes(rng);
    for (int k = 0; k < n; ++k) {
      // Sometimes an empty frame (a delimiter or an empty payload).
      std::string s(coin(rng) == 0 ? 0 : len(rng), '\0');
      for (auto& c : s) c = static_cast<char>(byte(rng));
      f.push_back(std::move(s));
    }
    send(dealer_, f);
  }
  // Every reply that comes back is well formed: the request's envelope, the
  // empty delimiter, then one frame holding a message (an Err, or the
  // handler's answer); then a normal request works.
  int malformed = 0;
  const int replies = probe(dealer_, [&](const Frames& reply) {
    const bool shaped = reply.size() >= 2 && reply[reply.size() - 2].empty() &&
                        Message::from_frame(reply.back()).ok();
    if (!shaped) ++malformed;
  });
  EXPECT_GT(replies, 0) << "the fuzzed requests got no reply at all";
  EXPECT_EQ(malformed, 0) << "of " << replies << " replies";
  zmq::socket_t fresh = connect();
  EXPECT_EQ(probe(fresh), 0);
  EXPECT_GT(handler_.handled.load(), 0);
}

TEST_F(TransportRobustness, OriginalReqClientGetsErrForEmptyRequest) {
  zmq::socket_t req(ctx_, zmq::socket_type::req);
  req.set(zmq::sockopt::linger, 0);
  req.set(zmq::sockopt::rcvtimeo, 20000);
  req.connect("tcp://" + server_->address());
  zmq::message_t empty;
  ASSERT_TRUE(req.send(empty, zmq::send_flags::none));
  zmq::message_t reply;
  ASSERT_TRUE(req.recv(reply));
  EXPECT_NE(error_text(reply.to_string()).find("empty frame"), std::string::npos);
}

}  // namespace
}  // namespace dendrite::host
