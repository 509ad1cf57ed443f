// ZmqTransport's inline asynchronous path (RequestHandler::runs_inline_async,
// behind TransportHook::runs_inline): handlers run on the I/O thread, may
// answer later from any thread, may send requests from there, and hold their
// room in the pending limits until answered. Plus the queue limits: replies to
// a client that reads late are not dropped.

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <zmq.hpp>

#include "dendrite/message.h"
#include "host/zmq_transport.h"
#include "support/eventually.h"

namespace dendrite::host {
namespace {

using namespace std::chrono_literals;
using dendrite::test::eventually;

constexpr MessageType kNow = 0x50;       // answered at once
constexpr MessageType kLater = 0x51;     // answered when the test says so
constexpr MessageType kForward = 0x52;   // asks `peer` (kEcho) and answers with its reply
constexpr MessageType kBlocking = 0x53;  // tries a blocking call() to `peer`
constexpr MessageType kEcho = 0x54;      // echoed, on a worker (not inline)

std::string thread_name() {
  char name[32] = {};
  pthread_getname_np(pthread_self(), name, sizeof name);
  return name;
}

class InlineHandler final : public RequestHandler {
 public:
  bool runs_inline(MessageType) const override { return false; }
  bool runs_inline_async(MessageType type) const override { return type != kEcho; }
  Message handle(const Message& request) override { return request; }

  void handle_async(Message request, std::function<void(Message)> done) override {
    {
      std::lock_guard lock(mu);
      handler_threads.push_back(thread_name());
    }
    switch (request.type) {
      case kLater: {
        std::lock_guard lock(mu);
        held.push_back(std::move(done));
        return;
      }
      case kForward:
        return transport->call_async(peer, Message{kEcho, request.payload}, 10s,
                                     [this, done](Result<Message> r) {
                                       {
                                         std::lock_guard lock(mu);
                                         callback_threads.push_back(thread_name());
                                       }
                                       done(r.ok() ? *r : make_error(r.status().to_string()));
                                     });
      case kBlocking:
        return done(
            make_error(transport->call(peer, Message{kEcho, "x"}, 1s).status().to_string()));
      default:
        return done(std::move(request));
    }
  }

  // Answers every held request with its index.
  void answer_held() {
    std::vector<std::function<void(Message)>> answering;
    {
      std::lock_guard lock(mu);
      answering.swap(held);
    }
    for (std::size_t i = 0; i < answering.size(); ++i) answering[i](Message{kLater, "late"});
  }
  std::size_t held_count() {
    std::lock_guard lock(mu);
    return held.size();
  }

  ZmqTransport* transport = nullptr;  // set before requests arrive
  std::string peer;                   // set before requests arrive
  std::mutex mu;
  std::vector<std::string> handler_threads;        // GUARDED_BY(mu)
  std::vector<std::string> callback_threads;       // GUARDED_BY(mu)
  std::vector<std::function<void(Message)>> held;  // GUARDED_BY(mu)
};

TransportConfig local_config() {
  TransportConfig c;
  c.listen = "127.0.0.1:0";
  c.workers.min = 1;
  c.workers.max = 4;
  return c;
}

// Two transports: `client` calls `server`, whose handler is an InlineHandler.
struct Pair {
  InlineHandler client_handler, server_handler;
  ZmqTransport client{local_config(), client_handler};
  std::unique_ptr<ZmqTransport> server;

  explicit Pair(TransportConfig server_config = local_config()) {
    server = std::make_unique<ZmqTransport>(server_config, server_handler);
    server_handler.transport = server.get();
    EXPECT_TRUE(client.start().ok());
    server_handler.peer = client.address();  // before the server's threads read it
    EXPECT_TRUE(server->start().ok());
  }
};

TEST(TransportInline, RunsOnTheIoThreadAndMayAnswerLaterFromAnyThread) {
  Pair p;
  auto now = p.client.call(p.server->address(), Message{kNow, "hi"}, 10s);
  ASSERT_TRUE(now.ok()) << now.status().to_string();
  EXPECT_EQ(now->payload, "hi");

  std::mutex mu;
  std::vector<Result<Message>> replies;
  for (int i = 0; i < 3; ++i) {
    p.client.call_async(p.server->address(), Message{kLater, ""}, 20s, [&](Result<Message> r) {
      std::lock_guard lock(mu);
      replies.push_back(std::move(r));
    });
  }
  ASSERT_TRUE(eventually([&] { return p.server_handler.held_count() == 3; }));
  {
    std::lock_guard lock(mu);
    EXPECT_TRUE(replies.empty());
  }
  p.server_handler.answer_held();  // from this (test) thread
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return replies.size() == 3;
  }));
  for (const auto& r : replies) {
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(r->payload, "late");
  }
  std::lock_guard lock(p.server_handler.mu);
  ASSERT_EQ(p.server_handler.handler_threads.size(), 4u);
  for (const auto& name : p.server_handler.handler_threads) EXPECT_EQ(name, "dendrite-io");
}

TEST(TransportInline, SendsRequestsFromTheIoThreadAndAnswersFromTheirCallbacks) {
  Pair p;
  for (int i = 0; i < 50; ++i) {
    const std::string text = "forwarded " + std::to_string(i);
    auto r = p.client.call(p.server->address(), Message{kForward, text}, 10s);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(r->type, kEcho);
    EXPECT_EQ(r->payload, text);  // echoed by the client transport's worker
  }
  std::lock_guard lock(p.server_handler.mu);
  ASSERT_EQ(p.server_handler.callback_threads.size(), 50u);
  for (const auto& name : p.server_handler.callback_threads) EXPECT_EQ(name, "dendrite-io");
}

TEST(TransportInline, ABlockingCallThereFailsAtOnceInsteadOfDeadlocking) {
  Pair p;
  auto r = p.client.call(p.server->address(), Message{kBlocking, ""}, 10s);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_NE(error_of(*r).message().find("would deadlock"), std::string::npos)
      << error_of(*r).message();
}

TEST(TransportInline, HeldRequestsKeepTheirRoomUntilAnswered) {
  TransportConfig small = local_config();
  small.max_pending = 2;
  Pair p(small);
  std::atomic<int> answered{0};
  for (int i = 0; i < 2; ++i) {
    p.client.call_async(p.server->address(), Message{kLater, ""}, 20s,
                        [&](Result<Message> r) { answered += r.ok() ? 1 : 0; });
  }
  ASSERT_TRUE(eventually([&] { return p.server_handler.held_count() == 2; }));
  auto refused = p.client.call(p.server->address(), Message{kNow, "more"}, 10s);
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(error_of(*refused).message(), "busy: 2 requests pending (limit 2); retry later");
  p.server_handler.answer_held();
  ASSERT_TRUE(eventually([&] { return answered.load() == 2; }));
  auto again = p.client.call(p.server->address(), Message{kNow, "again"}, 10s);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->payload, "again");
}

// A client that sends thousands of requests before it reads any reply: each
// one is answered (a ROUTER drops replies beyond its queue limit, which the
// transport sets far above libzmq's default of 1,000).
TEST(TransportInline, RepliesToAClientThatReadsLateAreNotDropped) {
  constexpr int kRequests = 10000;
  Pair p;
  zmq::context_t ctx(1);
  zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.set(zmq::sockopt::sndhwm, 0);
  // Little room on this side, so the replies wait in the server's queue.
  dealer.set(zmq::sockopt::rcvhwm, 1);
  dealer.set(zmq::sockopt::rcvbuf, 4096);
  dealer.connect("tcp://" + p.server->address());
  const std::string payload = std::string(1, static_cast<char>(kNow)) + std::string(1024, 'p');
  for (int i = 0; i < kRequests; ++i) {
    dealer.send(zmq::message_t(), zmq::send_flags::sndmore);
    dealer.send(zmq::buffer(payload), zmq::send_flags::none);
  }
  // Every request answered before the first reply is read.
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(p.server_handler.mu);
    return p.server_handler.handler_threads.size() == static_cast<std::size_t>(kRequests);
  }));
  std::this_thread::sleep_for(200ms);
  int got = 0;
  const auto end = std::chrono::steady_clock::now() + 20s;
  while (got < kRequests && std::chrono::steady_clock::now() < end) {
    zmq::pollitem_t item{dealer.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, 100ms);
    if (!(item.revents & ZMQ_POLLIN)) continue;
    zmq::message_t delimiter, reply;
    ASSERT_TRUE(dealer.recv(delimiter));
    ASSERT_TRUE(delimiter.more());
    ASSERT_TRUE(dealer.recv(reply));
    EXPECT_EQ(reply.size(), payload.size());
    ++got;
  }
  EXPECT_EQ(got, kRequests);
}

}  // namespace
}  // namespace dendrite::host
