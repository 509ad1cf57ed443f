// ZmqTransport over real ZeroMQ on 127.0.0.1: round trips, multiplexing,
// short-circuit to self, timeouts, stop(), wire compatibility with the
// original's REQ clients and REP servers, and the adaptive worker pool.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "chord.pb.h"
#include "dendrite/message.h"
#include "host/worker_pool.h"
#include "host/zmq_transport.h"
#include "support/eventually.h"
#include "support/refusing_port.h"

namespace dendrite::host {
namespace {

using namespace std::chrono_literals;
using test::eventually;

constexpr MessageType kEcho = 0x40;     // echoed by a worker
constexpr MessageType kBlock = 0x41;    // waits for the gate, then echoed by a worker
constexpr MessageType kBarrier = 0x42;  // waits until `barrier_target` arrived, then echoed
constexpr MessageType kThrow = 0x43;    // the handler throws (a bug the transport contains)
constexpr auto kWait = 20s;             // bound of every wait for a condition

// Waits (bounded) until `cond` holds; returns its final value.
// Ping is answered inline; kEcho/kBlock/kBarrier on workers; anything else Err.
class TestHandler final : public RequestHandler {
 public:
  bool runs_inline(MessageType type) const override { return type == msg::kPing; }

  Message handle(const Message& request) override {
    ++handled;
    {
      std::lock_guard lock(mu_);
      threads_.insert(std::this_thread::get_id());
    }
    switch (request.type) {
      case msg::kPing: {
        PBProtoPing ping;
        ping.set_version(1);
        return pack(msg::kPing, ping);
      }
      case kEcho:
        return request;
      case kBlock: {
        std::unique_lock lock(mu_);
        ++blocked_;
        cv_.notify_all();
        cv_.wait_for(lock, kWait, [this] { return open_; });
        --blocked_;
        return request;
      }
      case kBarrier: {
        std::unique_lock lock(mu_);
        ++arrived_;
        cv_.notify_all();
        cv_.wait_for(lock, kWait, [this] { return arrived_ >= barrier_target; });
        return request;
      }
      case kThrow:
        throw std::runtime_error("boom");
      default:
        return make_error("unknown message type " + std::to_string(request.type));
    }
  }

  void open_gate() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  int blocked() {
    std::lock_guard lock(mu_);
    return blocked_;
  }
  bool saw_thread(std::thread::id id) {
    std::lock_guard lock(mu_);
    return threads_.count(id) > 0;
  }

  std::atomic<int> handled{0};
  int barrier_target = 0;  // set before requests arrive

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int blocked_ = 0;
  int arrived_ = 0;
  std::set<std::thread::id> threads_;
};

TransportConfig test_config(int min_workers = 2, int max_workers = 16) {
  TransportConfig c;
  c.listen = "127.0.0.1:0";
  c.workers.min = min_workers;
  c.workers.max = max_workers;
  c.workers.idle = 200ms;
  return c;
}

int port_of(const std::string& address) {
  return std::stoi(address.substr(address.rfind(':') + 1));
}

// Established TCP connections accepted on local port `port` (/proc/net/tcp).
int established_on(int port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // header
  int n = 0;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    const auto colon = local.find(':');
    if (colon == std::string::npos) continue;
    if (std::stoi(local.substr(colon + 1), nullptr, 16) == port && state == "01") ++n;
  }
  return n;
}

Message echo_request(const std::string& text, MessageType type = kEcho) {
  return Message{type, text};
}

// Collects async replies.
struct Replies {
  std::mutex mu;
  std::vector<Result<Message>> got;
  std::map<int, Result<Message>> by_index;

  ReplyCallback add(int index) {
    return [this, index](Result<Message> r) {
      std::lock_guard lock(mu);
      by_index.emplace(index, r);
      got.push_back(std::move(r));
    };
  }
  std::size_t count() {
    std::lock_guard lock(mu);
    return got.size();
  }
};

// A raw ZeroMQ socket serving on its own thread until stopped (bounded loops).
class RawServer {
 public:
  // `answer`: REP echoes each request back with its type byte kept; ROUTER
  // reads and never answers.
  RawServer(zmq::socket_type type) : ctx_(1), socket_(ctx_, type) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind("tcp://127.0.0.1:0");
    std::string ep = socket_.get(zmq::sockopt::last_endpoint);
    address_ = ep.substr(6);
    thread_ = std::thread([this, type] { serve(type == zmq::socket_type::rep); });
  }
  ~RawServer() {
    stop_ = true;
    thread_.join();
  }
  const std::string& address() const { return address_; }
  // Requests received, not counting batch probes (a transport asks each new
  // peer once whether it serves batch frames: docs/transport.md).
  int received() const { return received_.load(); }
  int probes() const { return probes_.load(); }

 private:
  void serve(bool answer) {
    while (!stop_) {
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, 20ms);
      if (!(item.revents & ZMQ_POLLIN)) continue;
      std::vector<zmq::message_t> frames;
      (void)zmq::recv_multipart(socket_, std::back_inserter(frames));
      const bool probe = !frames.empty() && frames.back().size() > 0 &&
                         frames.back().data<char>()[0] == static_cast<char>(msg::kBatch);
      ++(probe ? probes_ : received_);
      if (!answer) continue;
      // REP: the envelope is stripped and re-added by the socket; reply with the
      // same type and the payload reversed, so a mismatch would show.
      std::string in = frames.back().to_string();
      std::string out = in.substr(0, 1) + std::string(in.rbegin(), in.rend() - 1);
      socket_.send(zmq::buffer(out));
    }
  }

  zmq::context_t ctx_;
  zmq::socket_t socket_;
  std::string address_;
  std::atomic<bool> stop_{false};
  std::atomic<int> received_{0};
  std::atomic<int> probes_{0};
  std::thread thread_;
};

TEST(Transport, RoundTripBetweenTwoTransports) {
  TestHandler ha, hb;
  ZmqTransport a(test_config(), ha), b(test_config(), hb);
  ASSERT_TRUE(a.start().ok());
  ASSERT_TRUE(b.start().ok());
  EXPECT_EQ(a.address().rfind("127.0.0.1:", 0), 0u) << a.address();
  EXPECT_NE(port_of(a.address()), 0);
  EXPECT_EQ(a.dialect(b.address()), PeerDialect::kUnknown);  // nothing sent there yet
  EXPECT_EQ(a.dialect(a.address()), PeerDialect::kOurs);

  auto r = a.call(b.address(), echo_request("hello"), 10s);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->type, kEcho);
  EXPECT_EQ(r->payload, "hello");
  // The probe's answer came before the reply: b is a node of ours.
  EXPECT_EQ(a.dialect(b.address()), PeerDialect::kOurs);

  // Inline (I/O thread) path.
  PBProtoPing ping;
  ping.set_version(7);
  auto p = a.call(b.address(), pack(msg::kPing, ping), 10s);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  auto decoded = unpack<PBProtoPing>(*p, msg::kPing);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->version(), 1);

  // Unknown type: the handler's Err reply comes back as a message.
  auto e = a.call(b.address(), Message{0x7E, ""}, 10s);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(error_of(*e).code(), StatusCode::kRemoteError);

  // And the other way round, asynchronously.
  Replies replies;
  b.call_async(a.address(), echo_request("back"), 10s, replies.add(0));
  ASSERT_TRUE(eventually([&] { return replies.count() == 1; }));
  ASSERT_TRUE(replies.got[0].ok());
  EXPECT_EQ(replies.got[0]->payload, "back");
  EXPECT_EQ(hb.handled.load(), 3);
  EXPECT_EQ(ha.handled.load(), 1);
}

TEST(Transport, SixtyFourConcurrentRequestsOnOneConnection) {
  constexpr int kN = 64;
  TestHandler ha, hb;
  hb.barrier_target = kN;  // no request is answered before all 64 arrived
  ZmqTransport a(test_config(), ha), b(test_config(1, 2 * kN), hb);
  ASSERT_TRUE(a.start().ok());
  ASSERT_TRUE(b.start().ok());

  Replies replies;
  for (int i = 0; i < kN; ++i) {
    a.call_async(b.address(), echo_request("req-" + std::to_string(i), kBarrier), 20s,
                 replies.add(i));
  }
  ASSERT_TRUE(eventually([&] { return replies.count() == kN; }));
  for (int i = 0; i < kN; ++i) {
    auto& r = replies.by_index.at(i);
    ASSERT_TRUE(r.ok()) << i << ": " << r.status().to_string();
    EXPECT_EQ(r->type, kBarrier);
    EXPECT_EQ(r->payload, "req-" + std::to_string(i));
  }
  // All 64 were in flight together on a single connection to b.
  EXPECT_GE(b.worker_count(), static_cast<std::size_t>(kN));
  EXPECT_EQ(established_on(port_of(b.address())), 1);
}

TEST(Transport, CallToSelfShortCircuits) {
  TestHandler h;
  ZmqTransport a(test_config(), h);
  ASSERT_TRUE(a.start().ok());

  auto r = a.call(a.address(), echo_request("me"), 10s);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->payload, "me");
  EXPECT_EQ(h.handled.load(), 1);
  EXPECT_TRUE(h.saw_thread(std::this_thread::get_id()));  // call(): on the caller

  Replies replies;
  a.call_async(a.address(), echo_request("me-async"), 10s, replies.add(0));
  ASSERT_TRUE(eventually([&] { return replies.count() == 1; }));
  ASSERT_TRUE(replies.got[0].ok());
  EXPECT_EQ(replies.got[0]->payload, "me-async");
  EXPECT_EQ(h.handled.load(), 2);
  EXPECT_EQ(established_on(port_of(a.address())), 0);  // no socket was needed
}

TEST(Transport, TimesOutAgainstSilentRouter) {
  RawServer silent(zmq::socket_type::router);
  TestHandler h;
  ZmqTransport a(test_config(), h);
  ASSERT_TRUE(a.start().ok());

  auto r = a.call(silent.address(), echo_request("anyone?"), 200ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout) << r.status().to_string();
  EXPECT_NE(r.status().message().find("no reply from " + silent.address() + " within 200 ms"),
            std::string::npos)
      << r.status().message();
  EXPECT_TRUE(eventually([&] { return silent.received() >= 1; }));

  // Several with different deadlines; the short one does not wait for the long.
  Replies replies;
  a.call_async(silent.address(), echo_request("long"), 1500ms, replies.add(0));
  a.call_async(silent.address(), echo_request("short"), 50ms, replies.add(1));
  ASSERT_TRUE(eventually([&] { return replies.count() == 2; }));
  EXPECT_EQ(replies.by_index.at(0).status().code(), StatusCode::kTimeout);
  EXPECT_EQ(replies.by_index.at(1).status().code(), StatusCode::kTimeout);
  EXPECT_NE(replies.by_index.at(1).status().message().find("within 50 ms"), std::string::npos);
}

TEST(Transport, NobodyListeningOrBadAddress) {
  // A port bound but not listening: connecting is refused, and the port stays
  // ours (a port that was merely free could be handed to the transport below).
  const test::RefusingPort refusing;
  ASSERT_NE(refusing.address(), "");
  const std::string dead = refusing.address();
  TestHandler h;
  ZmqTransport a(test_config(), h);
  ASSERT_TRUE(a.start().ok());

  auto r = a.call(dead, echo_request("x"), 300ms);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().code() == StatusCode::kTimeout ||
              r.status().code() == StatusCode::kUnavailable)
      << r.status().to_string();

  for (const std::string bad :
       {"", "nonsense", "127.0.0.1:", "127.0.0.1:99999", ":80", "127.0.0.1:12ab"}) {
    auto b = a.call(bad, echo_request("x"), 300ms);
    ASSERT_FALSE(b.ok()) << bad;
    EXPECT_EQ(b.status().code(), StatusCode::kUnavailable) << bad << ": " << b.status().to_string();
  }
}

TEST(Transport, StopCompletesPendingCallsWithUnavailable) {
  RawServer silent(zmq::socket_type::router);
  TestHandler h;
  ZmqTransport a(test_config(), h);
  ASSERT_TRUE(a.start().ok());

  constexpr int kN = 5;
  Replies replies;
  for (int i = 0; i < kN; ++i) {
    a.call_async(silent.address(), echo_request("pending"), 60s, replies.add(i));
  }
  ASSERT_TRUE(eventually([&] { return silent.received() == kN; }));
  // A blocking caller on another thread is released too.
  std::atomic<bool> blocked_done{false};
  Status blocked_status;
  std::thread caller([&] {
    blocked_status = a.call(silent.address(), echo_request("blocking"), 60s).status();
    blocked_done = true;
  });
  ASSERT_TRUE(eventually([&] { return silent.received() == kN + 1; }));

  a.stop();
  caller.join();
  EXPECT_TRUE(blocked_done.load());
  EXPECT_EQ(blocked_status.code(), StatusCode::kUnavailable);
  EXPECT_EQ(blocked_status.message(), "transport stopped");
  ASSERT_EQ(replies.count(), static_cast<std::size_t>(kN));  // all completed by stop()
  for (auto& r : replies.got) {
    EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
    EXPECT_EQ(r.status().message(), "transport stopped");
  }

  a.stop();  // idempotent
  Replies after;
  a.call_async(silent.address(), echo_request("late"), 1s, after.add(0));
  ASSERT_EQ(after.count(), 1u);
  EXPECT_EQ(after.got[0].status().code(), StatusCode::kUnavailable);
  EXPECT_FALSE(a.start().ok());  // no restart
}

TEST(Transport, StartTwiceAndBindFailure) {
  TestHandler h;
  ZmqTransport a(test_config(), h);
  ASSERT_TRUE(a.start().ok());
  Status again = a.start();
  EXPECT_EQ(again.code(), StatusCode::kFailedPrecondition) << again.to_string();

  TransportConfig taken = test_config();
  taken.listen = a.address();
  ZmqTransport b(taken, h);
  Status s = b.start();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_EQ(s.message().rfind("cannot bind tcp://" + a.address() + ": ", 0), 0u) << s.message();

  TransportConfig adv = test_config();
  adv.advertise = "10.1.2.3:4567";
  ZmqTransport c(adv, h);
  ASSERT_TRUE(c.start().ok());
  EXPECT_EQ(c.address(), "10.1.2.3:4567");
}

TEST(Transport, OriginalReqClientGetsReplies) {
  TestHandler h;
  ZmqTransport b(test_config(), h);
  ASSERT_TRUE(b.start().ok());

  zmq::context_t ctx;
  for (int i = 0; i < 3; ++i) {  // the original opens a REQ socket per request
    zmq::socket_t req(ctx, zmq::socket_type::req);
    req.set(zmq::sockopt::linger, 0);
    req.set(zmq::sockopt::rcvtimeo, 20000);
    req.connect("tcp://" + b.address());
    const std::string frame = echo_request("from go " + std::to_string(i)).to_frame();
    ASSERT_TRUE(req.send(zmq::buffer(frame)));
    zmq::message_t reply;
    ASSERT_TRUE(req.recv(reply));
    EXPECT_FALSE(reply.more());
    EXPECT_EQ(reply.to_string(), frame);
  }
  // Inline type as well.
  zmq::socket_t req(ctx, zmq::socket_type::req);
  req.set(zmq::sockopt::linger, 0);
  req.set(zmq::sockopt::rcvtimeo, 20000);
  req.connect("tcp://" + b.address());
  PBProtoPing ping;
  ping.set_version(1);
  ASSERT_TRUE(req.send(zmq::buffer(pack(msg::kPing, ping).to_frame())));
  zmq::message_t reply;
  ASSERT_TRUE(req.recv(reply));
  auto m = Message::from_frame(reply.to_string_view());
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(unpack<PBProtoPing>(*m, msg::kPing).ok());
}

TEST(Transport, ClientTalksToOriginalRepServer) {
  RawServer rep(zmq::socket_type::rep);
  TestHandler h;
  ZmqTransport a(test_config(), h);
  ASSERT_TRUE(a.start().ok());

  auto r = a.call(rep.address(), echo_request("abc"), 10s);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->type, kEcho);
  EXPECT_EQ(r->payload, "cba");
  // It did not answer the probe with a yes: an original.
  EXPECT_EQ(a.dialect(rep.address()), PeerDialect::kOriginal);

  // Several in flight: the REP answers one at a time; each reply is matched.
  constexpr int kN = 16;
  Replies replies;
  for (int i = 0; i < kN; ++i) {
    a.call_async(rep.address(), echo_request("n" + std::to_string(i * 7)), 20s, replies.add(i));
  }
  ASSERT_TRUE(eventually([&] { return replies.count() == kN; }));
  for (int i = 0; i < kN; ++i) {
    auto& got = replies.by_index.at(i);
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    std::string want = "n" + std::to_string(i * 7);
    EXPECT_EQ(got->payload, std::string(want.rbegin(), want.rend()));
  }
  // It was asked once whether it serves batches, did not say so, and got
  // every request in a message of its own.
  EXPECT_EQ(rep.probes(), 1);
  EXPECT_EQ(rep.received(), kN + 1);
}

TEST(Transport, WorkerPoolGrowsUnderLoadAndShrinksWhenIdle) {
  constexpr int kMin = 2, kLoad = 8;
  TestHandler ha, hb;
  ZmqTransport a(test_config(), ha), b(test_config(kMin, 16), hb);
  ASSERT_TRUE(a.start().ok());
  ASSERT_TRUE(b.start().ok());
  EXPECT_TRUE(eventually([&] { return b.worker_count() == kMin; }));

  Replies replies;
  for (int i = 0; i < kLoad; ++i) {
    a.call_async(b.address(), echo_request("slow", kBlock), 20s, replies.add(i));
  }
  ASSERT_TRUE(eventually([&] { return hb.blocked() == kLoad; }));
  EXPECT_GE(b.worker_count(), static_cast<std::size_t>(kLoad));
  EXPECT_GE(b.busy_workers(), static_cast<std::size_t>(kLoad));

  hb.open_gate();
  ASSERT_TRUE(eventually([&] { return replies.count() == kLoad; }));
  for (auto& r : replies.got) EXPECT_TRUE(r.ok()) << r.status().to_string();
  // Idle workers above min exit after ~200 ms.
  EXPECT_TRUE(eventually([&] { return b.worker_count() == kMin; })) << b.worker_count();
  EXPECT_EQ(b.busy_workers(), 0u);
}

TEST(Transport, ManyCallersManyPeers) {
  // Three transports calling each other from several threads at once.
  TestHandler h[3];
  std::vector<std::unique_ptr<ZmqTransport>> t;
  for (auto& handler : h) {
    t.push_back(std::make_unique<ZmqTransport>(test_config(), handler));
    ASSERT_TRUE(t.back()->start().ok());
  }
  std::atomic<int> ok{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&, c] {
      for (int i = 0; i < 50; ++i) {
        auto& from = *t[(c + i) % 3];
        auto& to = *t[(c + i + 1 + i % 2) % 3];
        const std::string text = std::to_string(c) + "/" + std::to_string(i);
        auto r = from.call(to.address(), echo_request(text, i % 2 ? kEcho : msg::kPing), 20s);
        if (r.ok() && (i % 2 == 0 || r->payload == text)) ++ok;
      }
    });
  }
  for (auto& c : callers) c.join();
  EXPECT_EQ(ok.load(), 200);
}

TEST(Transport, HandlerExceptionBecomesErrReply) {
  TestHandler ha, hb;
  ZmqTransport a(test_config(), ha), b(test_config(), hb);
  ASSERT_TRUE(a.start().ok());
  ASSERT_TRUE(b.start().ok());
  auto r = a.call(b.address(), Message{kThrow, ""}, 10s);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_NE(error_of(*r).message().find("boom"), std::string::npos);
  auto local = a.call(a.address(), Message{kThrow, ""}, 10s);
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(error_of(*local).code(), StatusCode::kRemoteError);
  EXPECT_TRUE(a.call(b.address(), echo_request("still here"), 10s).ok());
}

TEST(Transport, RefusesWithBusyBeyondThePendingLimits) {
  TestHandler ha, hb;
  TransportConfig small = test_config(1, 16);
  small.max_pending = 4;
  small.max_pending_bytes = 64 * 1024;
  ZmqTransport a(test_config(), ha), b(small, hb);
  ASSERT_TRUE(a.start().ok());
  ASSERT_TRUE(b.start().ok());

  // Four requests held by their handlers fill the count.
  Replies held;
  for (int i = 0; i < 4; ++i) {
    a.call_async(b.address(), echo_request("held", kBlock), 20s, held.add(i));
  }
  ASSERT_TRUE(eventually([&] { return hb.blocked() == 4; }));
  auto refused = a.call(b.address(), echo_request("one more"), 10s);
  ASSERT_TRUE(refused.ok()) << refused.status().to_string();
  const Status busy = error_of(*refused);
  EXPECT_EQ(busy.message(), "busy: 4 requests pending (limit 4); retry later");
  // Inline requests need no room.
  PBProtoPing ping;
  ping.set_version(1);
  auto pong = a.call(b.address(), pack(msg::kPing, ping), 10s);
  ASSERT_TRUE(pong.ok());
  EXPECT_EQ(pong->type, msg::kPing);

  // Once answered, the room is back.
  hb.open_gate();
  ASSERT_TRUE(eventually([&] { return held.count() == 4; }));
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(held.by_index.at(i).ok());
  auto again = a.call(b.address(), echo_request("again"), 10s);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->payload, "again");
}

TEST(Transport, RefusesWithBusyBeyondThePendingBytes) {
  TestHandler ha, hb;
  TransportConfig small = test_config(1, 16);
  small.max_pending_bytes = 64 * 1024;
  ZmqTransport a(test_config(), ha), b(small, hb);
  ASSERT_TRUE(a.start().ok());
  ASSERT_TRUE(b.start().ok());
  Replies held;
  a.call_async(b.address(), echo_request(std::string(40 * 1024, 'x'), kBlock), 20s, held.add(0));
  ASSERT_TRUE(eventually([&] { return hb.blocked() == 1; }));
  auto refused = a.call(b.address(), echo_request(std::string(40 * 1024, 'y')), 10s);
  ASSERT_TRUE(refused.ok());
  EXPECT_NE(error_of(*refused).message().find("bytes of requests pending (limit 65536)"),
            std::string::npos)
      << error_of(*refused).message();
  // A small one still fits beside the held 40 KiB.
  auto small_one = a.call(b.address(), echo_request("small"), 10s);
  ASSERT_TRUE(small_one.ok());
  EXPECT_EQ(small_one->payload, "small");
  hb.open_gate();
  ASSERT_TRUE(eventually([&] { return held.count() == 1; }));
  // Alone, a request larger than the byte limit is still taken (the frame limit
  // bounds it), so no size of request is refused forever.
  auto large = a.call(b.address(), echo_request(std::string(100 * 1024, 'z')), 10s);
  ASSERT_TRUE(large.ok());
  EXPECT_EQ(large->payload.size(), 100u * 1024);
}

// Drops every request's answer callback unanswered (a handler bug).
class DroppingHandler final : public RequestHandler {
 public:
  bool runs_inline(MessageType) const override { return false; }
  Message handle(const Message& request) override { return request; }
  void handle_async(Message, std::function<void(Message)>) override {}
};

TEST(Transport, AnswerDroppedByTheHandlerBecomesErrAndFreesItsRoom) {
  TestHandler ha;
  DroppingHandler hb;
  TransportConfig small = test_config(1, 4);
  small.max_pending = 2;
  ZmqTransport a(test_config(), ha), b(small, hb);
  ASSERT_TRUE(a.start().ok());
  ASSERT_TRUE(b.start().ok());
  for (int i = 0; i < 5; ++i) {  // more than the limit: each one's room came back
    auto r = a.call(b.address(), echo_request("lost"), 10s);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(error_of(*r).message(),
              "internal error: the handler dropped the request without answering");
  }
}

TEST(Transport, CallbacksMayNotBlockButMayStop) {
  TestHandler ha, hb;
  ZmqTransport b(test_config(), hb);
  ASSERT_TRUE(b.start().ok());
  auto a = std::make_unique<ZmqTransport>(test_config(), ha);
  ASSERT_TRUE(a->start().ok());

  // call() from a done callback (the I/O thread) would deadlock: refused.
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Status> nested;
  a->call_async(b.address(), echo_request("x"), 10s, [&](Result<Message>) {
    Status s = a->call(b.address(), echo_request("nested"), 10s).status();
    std::lock_guard lock(mu);
    nested = s;
    cv.notify_all();
  });
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, kWait, [&] { return nested.has_value(); }));
  }
  EXPECT_EQ(nested->code(), StatusCode::kFailedPrecondition);

  // stop() from a done callback returns; the destructor finishes the job.
  std::atomic<bool> stopped{false};
  a->call_async(b.address(), echo_request("y"), 10s, [&](Result<Message>) {
    a->stop();
    stopped = true;
  });
  ASSERT_TRUE(eventually([&] { return stopped.load(); }));
  EXPECT_EQ(a->call(b.address(), echo_request("z"), 1s).status().code(), StatusCode::kUnavailable);
  a.reset();
}

TEST(WorkerPool, StopCancelsQueuedTasksAndJoins) {
  WorkerPool pool(WorkerPoolConfig{1, 1, 1000ms});
  pool.start();
  std::mutex mu;
  std::condition_variable cv;
  bool release = false, started = false;
  std::atomic<int> ran{0}, cancelled{0};
  pool.submit(
      [&] {
        std::unique_lock lock(mu);
        started = true;
        cv.notify_all();
        cv.wait_for(lock, kWait, [&] { return release; });
        ++ran;
      },
      [&] { ++cancelled; });
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, kWait, [&] { return started; }));
  }
  for (int i = 0; i < 3; ++i) pool.submit([&] { ++ran; }, [&] { ++cancelled; });
  EXPECT_EQ(pool.queued(), 3u);  // max 1 worker: queued, not grown
  EXPECT_EQ(pool.worker_count(), 1u);
  std::thread stopper([&] { pool.stop(); });
  ASSERT_TRUE(eventually([&] { return cancelled.load() == 3; }));
  {
    std::lock_guard lock(mu);
    release = true;
    cv.notify_all();
  }
  stopper.join();
  EXPECT_EQ(ran.load(), 1);
  EXPECT_EQ(pool.worker_count(), 0u);
  EXPECT_FALSE(pool.submit([&] { ++ran; }, [&] { ++cancelled; }));
  EXPECT_EQ(cancelled.load(), 4);
}

}  // namespace
}  // namespace dendrite::host
