// Batch frames (msg::kBatch, dendrite/batch_frame.h) on ZmqTransport's server
// side, from a raw DEALER: every entry is served as a request of its own
// (inline, inline-asynchronous or on a worker), within the pending limits, and
// its reply comes back as an entry with the same tag in a batch reply; replies
// ready in the same poll round share one frame. Malformed batches are refused
// whole. And the client library's Connection batches against a real node.

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <zmq.hpp>

#include "dendrite/batch_frame.h"
#include "dendrite/client/connection.h"
#include "dendrite/message.h"
#include "host/zmq_transport.h"
#include "support/eventually.h"
#include "support/metric_sums.h"

namespace dendrite::host {
namespace {

using namespace std::chrono_literals;
using dendrite::test::eventually;
using dendrite::test::sum_of;

constexpr MessageType kSync = 0x50;    // handle() on the I/O thread
constexpr MessageType kNow = 0x51;     // handle_async(), answered at once
constexpr MessageType kLater = 0x52;   // handle_async(), answered when the test says so
constexpr MessageType kWorker = 0x53;  // on the worker pool

class Handler final : public RequestHandler {
 public:
  bool runs_inline(MessageType type) const override { return type == kSync; }
  bool runs_inline_async(MessageType type) const override { return type == kNow || type == kLater; }
  Message handle(const Message& request) override {
    return Message{request.type, "sync:" + request.payload};
  }
  void handle_async(Message request, std::function<void(Message)> done) override {
    if (request.type == kLater) {
      std::lock_guard lock(mu);
      held.push_back(std::move(done));
      return;
    }
    done(Message{request.type, "async:" + request.payload});
  }

  std::size_t held_count() {
    std::lock_guard lock(mu);
    return held.size();
  }
  void answer_held() {
    std::vector<std::function<void(Message)>> answering;
    {
      std::lock_guard lock(mu);
      answering.swap(held);
    }
    for (auto& done : answering) done(Message{kLater, "late"});
  }

  std::mutex mu;
  std::vector<std::function<void(Message)>> held;  // GUARDED_BY(mu)
};

struct Server {
  explicit Server(std::size_t max_pending = 1000) {
    TransportConfig c;
    c.listen = "127.0.0.1:0";
    c.workers.min = 1;
    c.workers.max = 4;
    c.max_pending = max_pending;
    c.metrics = &metrics;
    transport = std::make_unique<ZmqTransport>(c, handler);
    EXPECT_TRUE(transport->start().ok());
  }
  double counter(const std::string& name) { return sum_of(metrics.snapshot(), name); }

  MetricsRegistry metrics;
  Handler handler;
  std::unique_ptr<ZmqTransport> transport;
};

// A raw DEALER that sends batch frames and reads replies.
class Dealer {
 public:
  explicit Dealer(const std::string& address) : socket_(ctx_, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.connect("tcp://" + address);
  }

  // Sends [empty][frame].
  void send(const std::string& frame) {
    socket_.send(zmq::message_t(), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(frame), zmq::send_flags::none);
  }

  // The next message's frames after the empty delimiter; empty on timeout.
  std::string receive(std::chrono::milliseconds wait = 10s) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, wait);
    if (!(item.revents & ZMQ_POLLIN)) return "";
    zmq::message_t delimiter, frame;
    EXPECT_TRUE(socket_.recv(delimiter));
    EXPECT_EQ(delimiter.size(), 0u);
    EXPECT_TRUE(delimiter.more());
    EXPECT_TRUE(socket_.recv(frame));
    EXPECT_FALSE(frame.more());
    return frame.to_string();
  }

 private:
  zmq::context_t ctx_{1};
  zmq::socket_t socket_;
};

// tag -> reply frame of every entry of batch reply `frame`.
std::map<std::string, std::string> entries_of(const std::string& frame) {
  std::map<std::string, std::string> out;
  BatchReader reader(frame);
  for (BatchReader::Entry e; reader.next(e);) out.emplace(e.tag, e.frame);
  EXPECT_EQ(reader.error(), "");
  return out;
}

std::string frame_of(MessageType type, const std::string& payload) {
  return std::string(1, static_cast<char>(type)) + payload;
}

std::string batch_of(const std::vector<std::pair<std::string, Message>>& entries) {
  std::string frame(1, static_cast<char>(msg::kBatch));
  for (const auto& [tag, m] : entries) append_batch_entry(frame, tag, m.type, m.payload);
  return frame;
}

TEST(TransportBatch, EveryEntryIsServedAndAnsweredUnderItsTag) {
  Server server;
  Dealer dealer(server.transport->address());
  std::vector<std::pair<std::string, Message>> entries;
  for (int i = 0; i < 20; ++i) {
    entries.push_back({"now" + std::to_string(i), Message{kNow, std::to_string(i)}});
  }
  entries.push_back({"sync", Message{kSync, "s"}});
  entries.push_back({"worker", Message{kWorker, "w"}});
  dealer.send(batch_of(entries));

  // The inline answers come in the first reply frame; the worker's may come
  // in that one or in a later one.
  std::map<std::string, std::string> got = entries_of(dealer.receive());
  ASSERT_GE(got.size(), 21u);
  while (got.size() < entries.size()) {
    const std::string more = dealer.receive();
    ASSERT_FALSE(more.empty()) << "missing replies: got " << got.size();
    got.merge(entries_of(more));
  }
  ASSERT_EQ(got.size(), entries.size());
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(got["now" + std::to_string(i)], frame_of(kNow, "async:" + std::to_string(i)));
  }
  EXPECT_EQ(got["sync"], frame_of(kSync, "sync:s"));
  EXPECT_EQ(got["worker"], frame_of(kWorker, "async:w"));
  EXPECT_EQ(server.counter("dendrite_transport_batches_total"), 1);
  EXPECT_EQ(server.counter("dendrite_transport_batched_requests_total"), 22);
}

TEST(TransportBatch, EntriesAnsweredLaterLeaveInALaterBatchReply) {
  Server server;
  Dealer dealer(server.transport->address());
  dealer.send(batch_of(
      {{"a", Message{kLater, ""}}, {"b", Message{kNow, "first"}}, {"c", Message{kLater, ""}}}));
  std::map<std::string, std::string> first = entries_of(dealer.receive());
  EXPECT_EQ(first, (std::map<std::string, std::string>{{"b", frame_of(kNow, "async:first")}}));
  ASSERT_TRUE(eventually([&] { return server.handler.held_count() == 2; }));
  server.handler.answer_held();  // from this thread: through the reply queue
  std::map<std::string, std::string> later = entries_of(dealer.receive());
  while (later.size() < 2) {
    const std::string more = dealer.receive();
    ASSERT_FALSE(more.empty());
    later.merge(entries_of(more));
  }
  EXPECT_EQ(later, (std::map<std::string, std::string>{{"a", frame_of(kLater, "late")},
                                                       {"c", frame_of(kLater, "late")}}));
}

TEST(TransportBatch, EntriesBeyondThePendingLimitAreAnsweredBusy) {
  Server server(/*max_pending=*/2);
  Dealer dealer(server.transport->address());
  dealer.send(batch_of(
      {{"1", Message{kLater, ""}}, {"2", Message{kLater, ""}}, {"3", Message{kLater, ""}}}));
  std::map<std::string, std::string> got = entries_of(dealer.receive());
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got.count("3"), 1u);
  auto reply = Message::from_frame(got["3"]);
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(error_of(*reply).message(), "busy: 2 requests pending (limit 2); retry later");
  server.handler.answer_held();
  std::map<std::string, std::string> later = entries_of(dealer.receive());
  while (later.size() < 2) {
    const std::string more = dealer.receive();
    ASSERT_FALSE(more.empty());
    later.merge(entries_of(more));
  }
  EXPECT_EQ(later.size(), 2u);
}

TEST(TransportBatch, AMalformedBatchIsRefusedWholeAndANestedOneByItsEntry) {
  Server server;
  Dealer dealer(server.transport->address());
  std::string truncated = batch_of({{"ok", Message{kNow, "x"}}});
  truncated += std::string("\x03tag\x00\x00\x00\x09\x51", 9);  // claims 9 bytes, holds 1
  dealer.send(truncated);
  auto refused = Message::from_frame(dealer.receive());
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(error_of(*refused).message(), "malformed request: truncated batch entry");

  dealer.send(batch_of({{"inner", Message{msg::kBatch, ""}}, {"fine", Message{kNow, "y"}}}));
  std::map<std::string, std::string> got = entries_of(dealer.receive());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got["fine"], frame_of(kNow, "async:y"));
  auto nested = Message::from_frame(got["inner"]);
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ(error_of(*nested).message(), "malformed request: a batch inside a batch");
  EXPECT_EQ(server.counter("dendrite_transport_malformed_frames_total"), 2);
  EXPECT_EQ(server.counter("dendrite_transport_batches_total"), 1);  // the refused one is not
}

// A node's calls to another node go out in batch frames once the peer said it
// serves them: calls started in one poll round share a message.
TEST(TransportBatch, CallsBetweenNodesAreBatched) {
  Server a, b;
  // The first call opens the connection and sends the probe.
  auto first = a.transport->call(b.transport->address(), Message{kNow, "first"}, 10s);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_EQ(first->payload, "async:first");
  ASSERT_TRUE(eventually([&] { return b.counter("dendrite_transport_batches_total") >= 1; }));

  constexpr int kCalls = 2000;
  std::atomic<int> good{0}, answered{0};
  for (int i = 0; i < kCalls; ++i) {
    const std::string payload = std::to_string(i);
    a.transport->call_async(b.transport->address(), Message{kNow, payload}, 20s,
                            [&, payload](Result<Message> r) {
                              if (r.ok() && r->payload == "async:" + payload) ++good;
                              ++answered;
                            });
  }
  ASSERT_TRUE(eventually([&] { return answered.load() == kCalls; }, 30s));
  EXPECT_EQ(good.load(), kCalls);
  // Fewer frames than calls: started together, they left together (a call
  // alone in its poll round leaves as a plain message).
  const double batches = b.counter("dendrite_transport_batches_total");
  const double batched = b.counter("dendrite_transport_batched_requests_total");
  EXPECT_GE(batched, kCalls / 2) << batched << " calls in batches";
  EXPECT_LT(batches, kCalls / 2) << batches << " batches";
}

// The client library finds out that the node takes batches and sends requests
// that queue up together as batches; every reply reaches its request.
TEST(TransportBatch, TheClientConnectionBatchesAgainstANode) {
  Server server;
  auto conn = client::Connection::open(server.transport->address());
  ASSERT_TRUE(conn.ok()) << conn.status().to_string();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  std::atomic<int> good{0};
  for (int round = 0; round < 20 && server.counter("dendrite_transport_batches_total") < 2;
       ++round) {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::atomic<int> left{kPerThread};
        for (int i = 0; i < kPerThread; ++i) {
          const std::string payload = std::to_string(t * 100000 + i);
          (*conn)->request_async(Message{kNow, payload}, 20s, [&, payload](Result<Message> r) {
            if (r.ok() && r->payload == "async:" + payload) ++good;
            --left;
          });
        }
        ASSERT_TRUE(eventually([&] { return left.load() == 0; }, 30s));
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(good.load(), (round + 1) * kThreads * kPerThread);
  }
  // The probe is one batch; requests sent together made at least one more.
  EXPECT_GE(server.counter("dendrite_transport_batches_total"), 2);
  EXPECT_GT(server.counter("dendrite_transport_batched_requests_total"), 1);
}

}  // namespace
}  // namespace dendrite::host
