// wire::PeerChannel against a ROUTER the test drives by hand on 127.0.0.1:
// the batch probe and what follows from its answer, plain and batch replies
// matched by id, deadlines (order, late hand-over, replies that came in time),
// close, and what the observer hears. Everything runs on the test's thread.
#include "dendrite/wire/peer_channel.h"

#include <chrono>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <zmq.hpp>

#include "dendrite/batch_frame.h"
#include "dendrite/wire/frame_codec.h"

namespace dendrite::wire {
namespace {

using namespace std::chrono_literals;
using Frames = std::vector<std::string>;

constexpr MessageType kEcho = 0x40;

// A ROUTER on an ephemeral port whose messages the test reads and answers.
class Router {
 public:
  explicit Router(zmq::context_t& ctx) : socket_(ctx, zmq::socket_type::router) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind("tcp://127.0.0.1:0");
    address_ = socket_.get(zmq::sockopt::last_endpoint).substr(6);  // strip tcp://
  }
  const std::string& address() const { return address_; }

  // The next message ([identity][...]) within `limit`, or nullopt.
  std::optional<Frames> receive(std::chrono::milliseconds limit = 5s) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, limit) <= 0) return std::nullopt;
    Frames out;
    bool more = true;
    while (more) {
      zmq::message_t m;
      if (!socket_.recv(m, zmq::recv_flags::dontwait)) break;
      more = m.more();
      out.push_back(m.to_string());
    }
    return out;
  }
  void send(const Frames& frames) {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      socket_.send(zmq::buffer(frames[i]),
                   i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }

 private:
  zmq::socket_t socket_;
  std::string address_;
};

// What the observer heard.
struct Heard final : CallObserver {
  int sent_count = 0, answered_count = 0, timeouts = 0, malformed = 0;
  std::vector<std::string> thrown;
  std::vector<PeerDialect> dialects;  // dialect_known() calls, in order
  void sent(MessageType) override { ++sent_count; }
  void answered(MessageType, Clock::duration) override { ++answered_count; }
  void timed_out(MessageType) override { ++timeouts; }
  void malformed_reply(const std::string&, std::string_view) override { ++malformed; }
  void callback_threw(std::string_view what) override { thrown.emplace_back(what); }
  void dialect_known(const std::string&, PeerDialect d) override { dialects.push_back(d); }
};

// The results of calls, by index.
struct Results {
  std::map<int, Result<Message>> got;
  ReplyCallback add(int i) {
    return [this, i](Result<Message> r) { got.emplace(i, std::move(r)); };
  }
};

class PeerChannelTest : public ::testing::Test {
 protected:
  PeerChannelTest() : router_(ctx_) {
    options_.observer = &heard_;
    options_.probe_timeout = 3s;
  }

  std::unique_ptr<PeerChannel> open() {
    auto c = PeerChannel::open(ctx_, router_.address(), options_);
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    return c.ok() ? std::move(c).value() : nullptr;
  }

  // Reads the probe the channel sent on opening and answers it: yes (as our
  // nodes do) or with an Err (as an original node does).
  void answer_probe(bool yes) {
    auto probe = router_.receive();
    ASSERT_TRUE(probe.has_value());
    ASSERT_EQ(probe->size(), 4u);  // [identity][id][empty][batch]
    identity_ = (*probe)[0];
    const std::string id = (*probe)[1];
    BatchReader r((*probe)[3]);
    BatchReader::Entry e;
    ASSERT_TRUE(r.next(e));
    EXPECT_EQ(e.tag, id);
    EXPECT_EQ(static_cast<MessageType>(e.frame[0]), msg::kBatchProbe);
    if (yes) {
      std::string reply(1, static_cast<char>(msg::kBatch));
      append_batch_entry(reply, id, msg::kBatchProbe, kBatchProbeYes);
      router_.send({identity_, id, "", reply});
    } else {
      router_.send({identity_, id, "", make_error("unknown message type 14").to_frame()});
    }
  }

  // Reads what arrived on the channel until `done` holds or 5 s pass.
  template <typename F>
  bool pump(PeerChannel& c, F done) {
    const auto until = Clock::now() + 5s;
    while (!done()) {
      if (Clock::now() >= until) return false;
      zmq::pollitem_t item{c.socket_handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, 20ms);
      c.read(256);
    }
    return true;
  }

  // Waits until the channel has read the probe's answer.
  void settle(PeerChannel& c, bool yes) {
    answer_probe(yes);
    if (yes) {
      ASSERT_TRUE(pump(c, [&] { return c.batches(); }));
    } else {
      // Settled on plain messages: the probe's deadline is no longer awaited.
      ASSERT_TRUE(pump(c, [&] { return !c.next_deadline().has_value(); }));
      EXPECT_FALSE(c.batches());
    }
  }

  zmq::context_t ctx_{1};
  Router router_;
  Heard heard_;
  // Outlives every channel a test body opens: a channel's destructor fails
  // the calls still pending into it.
  Results results_;
  ChannelOptions options_;
  std::string identity_;
};

TEST_F(PeerChannelTest, BatchesAfterAYesAndMatchesRepliesInAnyOrder) {
  auto c = open();
  ASSERT_NE(c, nullptr);
  settle(*c, true);
  EXPECT_TRUE(c->call(Message{kEcho, "a"}, 5s, results_.add(0)));
  EXPECT_FALSE(c->call(Message{kEcho, "b"}, 5s, results_.add(1)));
  EXPECT_FALSE(c->call(Message{kEcho, "c"}, 5s, results_.add(2)));
  c->flush();
  auto batch = router_.receive();
  ASSERT_TRUE(batch.has_value());
  ASSERT_EQ(batch->size(), 3u);  // [identity][empty][batch]
  EXPECT_EQ((*batch)[1], "");
  std::vector<std::pair<std::string, std::string>> entries;  // tag, payload
  BatchReader r((*batch)[2]);
  for (BatchReader::Entry e; r.next(e);) {
    entries.emplace_back(std::string(e.tag), std::string(e.frame.substr(1)));
  }
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].second, "a");
  EXPECT_EQ(entries[2].second, "c");
  // Answer in reverse: one batch reply for the last two, a plain one for the first.
  std::string reply(1, static_cast<char>(msg::kBatch));
  append_batch_entry(reply, entries[2].first, kEcho, "C");
  append_batch_entry(reply, entries[1].first, kEcho, "B");
  router_.send({identity_, "", reply});
  router_.send({identity_, entries[0].first, "", Message{kEcho, "A"}.to_frame()});
  ASSERT_TRUE(pump(*c, [&] { return results_.got.size() == 3; }));
  EXPECT_EQ(results_.got.at(0)->payload, "A");
  EXPECT_EQ(results_.got.at(1)->payload, "B");
  EXPECT_EQ(results_.got.at(2)->payload, "C");
  EXPECT_EQ(heard_.sent_count, 3);
  EXPECT_EQ(heard_.answered_count, 3);
  EXPECT_EQ(c->pending(), 0u);
}

TEST_F(PeerChannelTest, ALoneRequestLeavesAsAPlainMessage) {
  auto c = open();
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(heard_.dialects.empty());
  settle(*c, true);
  EXPECT_EQ(heard_.dialects, std::vector<PeerDialect>{PeerDialect::kOurs});
  EXPECT_TRUE(c->call(Message{kEcho, "solo"}, 5s, results_.add(0)));
  c->flush();
  auto m = router_.receive();
  ASSERT_TRUE(m.has_value());
  ASSERT_EQ(m->size(), 4u);  // [identity][id][empty][frame]
  EXPECT_EQ((*m)[1].size(), kCorrelationIdBytes);
  EXPECT_EQ((*m)[3], (Message{kEcho, "solo"}.to_frame()));
  router_.send({identity_, (*m)[1], "", Message{kEcho, "back"}.to_frame()});
  ASSERT_TRUE(pump(*c, [&] { return results_.got.size() == 1; }));
  EXPECT_EQ(results_.got.at(0)->payload, "back");
}

TEST_F(PeerChannelTest, AnOriginalNodesErrMeansOneRequestPerMessage) {
  auto c = open();
  ASSERT_NE(c, nullptr);
  settle(*c, false);
  EXPECT_EQ(heard_.dialects, std::vector<PeerDialect>{PeerDialect::kOriginal});
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(c->call(Message{kEcho, std::to_string(i)}, 5s, results_.add(i)));
  }
  for (int i = 0; i < 3; ++i) {
    auto m = router_.receive();
    ASSERT_TRUE(m.has_value());
    ASSERT_EQ(m->size(), 4u) << "request " << i << " was not a plain message";
    EXPECT_EQ((*m)[3], (Message{kEcho, std::to_string(i)}.to_frame()));
  }
  EXPECT_FALSE(c->batches());
}

TEST_F(PeerChannelTest, AnUnansweredProbeSettlesOnPlainMessagesAtItsDeadline) {
  options_.probe_timeout = 50ms;
  auto c = open();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(router_.receive().has_value());  // the probe, never answered
  const auto due = c->next_deadline();
  ASSERT_TRUE(due.has_value());
  c->expire(*due);
  EXPECT_FALSE(c->next_deadline().has_value());  // nothing left to wait for
  EXPECT_TRUE(heard_.dialects.empty());          // no answer: still unknown
  EXPECT_FALSE(c->call(Message{kEcho, "x"}, 5s, results_.add(0)));
  auto m = router_.receive();
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->size(), 4u);
}

TEST_F(PeerChannelTest, DeadlinesExpireInOrderEvenWhenHandedOverLate) {
  auto c = open();
  ASSERT_NE(c, nullptr);
  settle(*c, true);
  const auto now = Clock::now();
  // Same timeout, but the second call's deadline is earlier (its caller was
  // preempted before the hand-over): it must not wait behind the first.
  c->call(Message{kEcho, "late"}, 100ms, now + 10s, results_.add(0));
  c->call(Message{kEcho, "early"}, 100ms, now + 50ms, results_.add(1));
  c->call(Message{kEcho, "other timeout"}, 20ms, now + 20ms, results_.add(2));
  c->flush();
  EXPECT_EQ(c->next_deadline(), now + 20ms);
  c->expire(now + 60ms);
  ASSERT_EQ(results_.got.size(), 2u);
  EXPECT_EQ(results_.got.at(1).status().code(), StatusCode::kTimeout);
  EXPECT_EQ(results_.got.at(1).status().message(),
            "no reply from " + router_.address() + " within 100 ms");
  EXPECT_EQ(results_.got.at(2).status().code(), StatusCode::kTimeout);
  EXPECT_EQ(c->next_deadline(), now + 10s);
  EXPECT_EQ(heard_.timeouts, 2);
  EXPECT_EQ(c->pending(), 1u);
}

TEST_F(PeerChannelTest, AnOriginalNodeGetsItsMinimumTimeoutOthersTheirOwn) {
  options_.original_timeout = 2s;
  // A node of ours: the caller's 50 ms hold.
  auto ours = open();
  ASSERT_NE(ours, nullptr);
  settle(*ours, true);
  ours->call(Message{kEcho, "a"}, 50ms, results_.add(0));
  ours->flush();
  ASSERT_TRUE(router_.receive().has_value());  // "a", left unanswered
  ours->expire(Clock::now() + 500ms);
  ASSERT_EQ(results_.got.size(), 1u);
  EXPECT_EQ(results_.got.at(0).status().code(), StatusCode::kTimeout);
  // An original (its probe answered with Err): at least 2 s.
  auto original = open();
  ASSERT_NE(original, nullptr);
  settle(*original, false);
  original->call(Message{kEcho, "b"}, 50ms, results_.add(1));
  original->expire(Clock::now() + 500ms);
  EXPECT_EQ(results_.got.count(1), 0u) << "timed out at the caller's 50 ms";
  original->expire(Clock::now() + 3s);
  ASSERT_EQ(results_.got.count(1), 1u);
  EXPECT_EQ(results_.got.at(1).status().code(), StatusCode::kTimeout);
  EXPECT_NE(results_.got.at(1).status().message().find("within 2000 ms"), std::string::npos)
      << results_.got.at(1).status().message();
}

TEST_F(PeerChannelTest, AReplyThatCameInTimeIsNoTimeout) {
  auto c = open();
  ASSERT_NE(c, nullptr);
  settle(*c, true);
  c->call(Message{kEcho, "q"}, 100ms, results_.add(0));
  c->flush();
  auto m = router_.receive();
  ASSERT_TRUE(m.has_value());
  router_.send({identity_, (*m)[1], "", Message{kEcho, "r"}.to_frame()});
  // Let the reply reach the socket unread, then expire past the deadline.
  zmq::pollitem_t item{c->socket_handle(), 0, ZMQ_POLLIN, 0};
  ASSERT_EQ(zmq::poll(&item, 1, 5s), 1);
  c->expire(Clock::now() + 1s);
  ASSERT_EQ(results_.got.size(), 1u);
  ASSERT_TRUE(results_.got.at(0).ok()) << results_.got.at(0).status().to_string();
  EXPECT_EQ(results_.got.at(0)->payload, "r");
}

TEST_F(PeerChannelTest, CloseFailsPendingAndLaterCallsAndSurvivesAThrowingCallback) {
  auto c = open();
  ASSERT_NE(c, nullptr);
  settle(*c, true);
  c->call(Message{kEcho, "1"}, 5s, results_.add(0));
  c->call(Message{kEcho, "2"}, 5s, [](Result<Message>) { throw std::runtime_error("boom"); });
  c->flush();
  c->close(Status::Unavailable("going away"));
  ASSERT_EQ(results_.got.size(), 1u);
  EXPECT_EQ(results_.got.at(0).status(), Status::Unavailable("going away"));
  ASSERT_EQ(heard_.thrown.size(), 1u);
  EXPECT_EQ(heard_.thrown[0], "boom");
  EXPECT_FALSE(c->call(Message{kEcho, "3"}, 5s, results_.add(1)));
  EXPECT_EQ(results_.got.at(1).status(), Status::Unavailable("going away"));
  EXPECT_EQ(c->pending(), 0u);
}

TEST_F(PeerChannelTest, StrayAndMalformedRepliesAreDropped) {
  auto c = open();
  ASSERT_NE(c, nullptr);
  settle(*c, true);
  c->call(Message{kEcho, "q"}, 5s, results_.add(0));
  c->flush();
  auto m = router_.receive();
  ASSERT_TRUE(m.has_value());
  router_.send({identity_, correlation_frame(999999), "", Message{kEcho, "stray"}.to_frame()});
  router_.send({identity_, "short", "", Message{kEcho, "bad id"}.to_frame()});
  router_.send({identity_, "", std::string(1, static_cast<char>(msg::kBatch)) + "\x07"});
  router_.send({identity_, (*m)[1], "", Message{kEcho, "mine"}.to_frame()});
  ASSERT_TRUE(pump(*c, [&] { return results_.got.size() == 1; }));
  EXPECT_EQ(results_.got.at(0)->payload, "mine");
  EXPECT_EQ(heard_.malformed, 2);  // the short id and the broken batch
}

// A CURVE node refuses a plaintext channel. ZeroMQ usually drops the
// channel's queue at once, and a send can then find it gone before anyone
// read the refusal's event: the send's error must still name the refusal (not
// "queue is full"), and the call already in flight fails with it too. Now and
// then ZeroMQ keeps the queue instead; then read_events() fails the call, and
// the test tries again with a new node (at most 20 times).
TEST(PeerChannelRefusal, ASendAfterARefusalNobodyReadSaysWhy) {
  zmq::context_t ctx(1);
  bool queue_dropped = false;
  for (int attempt = 0; attempt < 20 && !queue_dropped; ++attempt) {
    zmq::socket_t server(ctx, zmq::socket_type::router);
    char public_key[41], secret_key[41];
    ASSERT_EQ(zmq_curve_keypair(public_key, secret_key), 0);
    server.set(zmq::sockopt::linger, 0);
    server.set(zmq::sockopt::curve_server, 1);
    server.set(zmq::sockopt::curve_secretkey, std::string(secret_key));
    server.bind("tcp://127.0.0.1:0");
    const std::string address = server.get(zmq::sockopt::last_endpoint).substr(6);

    auto opened = PeerChannel::open(ctx, address, ChannelOptions{});
    ASSERT_TRUE(opened.ok()) << opened.status().to_string();
    PeerChannel& c = **opened;
    Results results;
    c.call(Message{kEcho, "first"}, 20s, results.add(0));
    // The refusal's event arrives; it stays unread.
    zmq::pollitem_t event{c.events_handle(), 0, ZMQ_POLLIN, 0};
    ASSERT_EQ(zmq::poll(&event, 1, 10s), 1) << "no handshake event";
    // ZMQ_EVENTS runs the socket's pending commands, the queue's removal too.
    bool writable = true;
    for (int i = 0; i < 100 && writable; ++i) {
      int events = 0;
      std::size_t size = sizeof events;
      ASSERT_EQ(zmq_getsockopt(c.socket_handle(), ZMQ_EVENTS, &events, &size), 0);
      writable = (events & ZMQ_POLLOUT) != 0;
      if (writable) std::this_thread::sleep_for(10ms);
    }
    if (writable) {
      c.read_events();
    } else {
      queue_dropped = true;
      c.call(Message{kEcho, "second"}, 20s, results.add(1));
      ASSERT_EQ(results.got.size(), 2u);
    }
    ASSERT_FALSE(results.got.empty());
    for (const auto& [i, r] : results.got) {
      ASSERT_FALSE(r.ok()) << i;
      EXPECT_NE(r.status().message().find("requires CURVE"), std::string::npos)
          << i << ": " << r.status().to_string();
    }
    ASSERT_TRUE(c.refused().has_value());
    EXPECT_EQ(c.pending(), 0u);
  }
  EXPECT_TRUE(queue_dropped) << "ZeroMQ kept the refused channel's queue 20 times";
}

TEST(PeerChannelOpen, RefusesMalformedAddresses) {
  zmq::context_t ctx(1);
  for (const char* bad : {"", "nohost", "h:0", "h:70000", "a b:1"}) {
    auto c = PeerChannel::open(ctx, bad, ChannelOptions{});
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace dendrite::wire
