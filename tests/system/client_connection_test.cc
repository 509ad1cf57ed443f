// dendrite::client::Connection against a scripted ROUTER on 127.0.0.1: framing,
// many requests in flight from many threads, replies out of order, timeouts,
// Err replies, closing with requests pending; connections sharing one
// ConnectionLoop.
#include "dendrite/client/connection.h"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <zmq.hpp>

#include "dendrite/address.h"

namespace dendrite::client {
namespace {

using namespace std::chrono_literals;

constexpr MessageType kEcho = 0x40;    // reply with the same type and payload
constexpr MessageType kSilent = 0x41;  // never answered
constexpr MessageType kFail = 0x42;    // answered with an Err message

// A ROUTER that answers in batches, the last request of a batch first, and
// counts requests that break the [id(8)][empty][frame] framing.
class FakeNode {
 public:
  FakeNode() : socket_(context_, zmq::socket_type::router) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind("tcp://127.0.0.1:*");
    const std::string endpoint = socket_.get(zmq::sockopt::last_endpoint);
    address_ = endpoint.substr(endpoint.find("//") + 2);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeNode() {
    stop_ = true;
    thread_.join();
  }
  const std::string& address() const { return address_; }
  int malformed() const { return malformed_; }

 private:
  void serve() {
    while (!stop_) {
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, 20ms);
      std::vector<std::vector<zmq::message_t>> batch;
      for (;;) {
        std::vector<zmq::message_t> frames;
        zmq::message_t part;
        if (!socket_.recv(part, zmq::recv_flags::dontwait)) break;
        frames.push_back(std::move(part));
        while (frames.back().more()) {
          zmq::message_t next;
          (void)socket_.recv(next);
          frames.push_back(std::move(next));
        }
        batch.push_back(std::move(frames));
      }
      for (auto it = batch.rbegin(); it != batch.rend(); ++it) answer(*it);
    }
  }

  void answer(std::vector<zmq::message_t>& f) {
    // [routing id][correlation id][empty][type + payload]
    if (f.size() != 4 || f[1].size() != 8 || f[2].size() != 0 || f[3].size() == 0) {
      ++malformed_;
      return;
    }
    auto request = Message::from_frame(f[3].to_string_view());
    Message reply;
    if (request->type == kSilent) return;
    if (request->type == kFail) {
      reply = make_error("boom: " + request->payload);
    } else {
      reply = *request;
    }
    socket_.send(f[0], zmq::send_flags::sndmore);
    socket_.send(f[1], zmq::send_flags::sndmore);
    socket_.send(zmq::message_t(), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(reply.to_frame()), zmq::send_flags::none);
  }

  zmq::context_t context_{1};
  zmq::socket_t socket_;
  std::string address_;
  std::atomic<bool> stop_{false};
  std::atomic<int> malformed_{0};
  std::thread thread_;
};

TEST(ConnectionTest, RejectsMalformedAddresses) {
  for (const char* bad : {"", "localhost", ":5000", "h:", "h:0", "h:70000", "h:12x", "a b:1"}) {
    auto c = Connection::open(bad);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(check_peer_address("127.0.0.1:5000").ok());
}

TEST(ConnectionTest, ManyThreadsManyRequestsInFlight) {
  FakeNode node;
  auto conn = Connection::open(node.address());
  ASSERT_TRUE(conn.ok());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Half asynchronous (all in flight at once), half blocking.
      std::vector<std::future<Result<Message>>> futures;
      for (int i = 0; i < kPerThread / 2; ++i) {
        auto p = std::make_shared<std::promise<Result<Message>>>();
        futures.push_back(p->get_future());
        (*conn)->request_async(Message{kEcho, std::to_string(t * 1000 + i)}, 20s,
                               [p](Result<Message> r) { p->set_value(std::move(r)); });
      }
      for (int i = kPerThread / 2; i < kPerThread; ++i) {
        auto r = (*conn)->request(Message{kEcho, std::to_string(t * 1000 + i)}, 20s);
        if (r.ok() && r->type == kEcho && r->payload == std::to_string(t * 1000 + i)) ++good;
      }
      for (int i = 0; i < kPerThread / 2; ++i) {
        auto r = futures[i].get();
        if (r.ok() && r->type == kEcho && r->payload == std::to_string(t * 1000 + i)) ++good;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good, kThreads * kPerThread);
  EXPECT_EQ(node.malformed(), 0);
}

TEST(ConnectionTest, TimeoutThenTheConnectionStillWorks) {
  FakeNode node;
  auto conn = Connection::open(node.address());
  ASSERT_TRUE(conn.ok());
  auto r = (*conn)->request(Message{kSilent, "x"}, 200ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout);
  auto echo = (*conn)->request(Message{kEcho, "after"}, 20s);
  ASSERT_TRUE(echo.ok()) << echo.status().to_string();
  EXPECT_EQ(echo->payload, "after");
}

TEST(ConnectionTest, ErrRepliesAreMessages) {
  FakeNode node;
  auto conn = Connection::open(node.address());
  ASSERT_TRUE(conn.ok());
  auto r = (*conn)->request(Message{kFail, "why"}, 20s);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->type, msg::kErr);
  EXPECT_EQ(error_of(*r), Status::RemoteError("boom: why"));
}

TEST(ConnectionTest, UnreachableNodeTimesOut) {
  // Bind and close to get a port nobody listens on.
  std::string address;
  {
    zmq::context_t ctx;
    zmq::socket_t s(ctx, zmq::socket_type::router);
    s.set(zmq::sockopt::linger, 0);
    s.bind("tcp://127.0.0.1:*");
    const std::string endpoint = s.get(zmq::sockopt::last_endpoint);
    address = endpoint.substr(endpoint.find("//") + 2);
  }
  auto conn = Connection::open(address);
  ASSERT_TRUE(conn.ok());
  auto r = (*conn)->request(Message{kEcho, "x"}, 200ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout);
}

TEST(ConnectionTest, ClosingFailsPendingRequests) {
  FakeNode node;
  auto conn = Connection::open(node.address());
  ASSERT_TRUE(conn.ok());
  std::promise<Status> done;
  (*conn)->request_async(Message{kSilent, "x"}, 60s,
                         [&done](Result<Message> r) { done.set_value(r.status()); });
  conn->reset();
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(0s), std::future_status::ready);  // completed before close returned
  EXPECT_EQ(f.get().code(), StatusCode::kUnavailable);
}

// Requests hop between two nodes: each reply's callback sends the next
// request on the other connection of the loop, many chains at once, while
// another thread also sends on both.
TEST(ConnectionLoopTest, CallbacksSendOnTheOtherConnectionOfTheLoop) {
  FakeNode a;
  FakeNode b;
  auto loop = ConnectionLoop::start();
  ASSERT_TRUE(loop.ok()) << loop.status().to_string();
  auto ca = Connection::open(a.address(), *loop);
  auto cb = Connection::open(b.address(), *loop);
  ASSERT_TRUE(ca.ok());
  ASSERT_TRUE(cb.ok());
  Connection* conns[2] = {ca->get(), cb->get()};

  constexpr int kChains = 20;
  constexpr int kHops = 200;
  std::mutex mu;
  std::condition_variable cv;
  int finished = 0;
  int wrong = 0;
  std::set<std::thread::id> callback_threads;  // guarded by mu
  // Sends hop `hop` of chain `chain` on conns[hop % 2]; its reply sends the next.
  std::function<void(int, int)> hop = [&](int chain, int hop_no) {
    const std::string payload = std::to_string(chain) + "/" + std::to_string(hop_no);
    conns[hop_no % 2]->request_async(Message{kEcho, payload}, 20s,
                                     [&, chain, hop_no, payload](Result<Message> r) {
                                       {
                                         std::lock_guard lock(mu);
                                         callback_threads.insert(std::this_thread::get_id());
                                       }
                                       const bool good = r.ok() && r->payload == payload;
                                       if (good && hop_no + 1 < kHops) {
                                         hop(chain, hop_no + 1);
                                         return;
                                       }
                                       std::lock_guard lock(mu);
                                       if (!good) ++wrong;
                                       ++finished;
                                       cv.notify_all();
                                     });
  };
  for (int c = 0; c < kChains; ++c) hop(c, 0);
  std::thread other([&] {
    for (int i = 0; i < 100; ++i) {
      auto r = conns[i % 2]->request(Message{kEcho, "t" + std::to_string(i)}, 20s);
      if (!r.ok() || r->payload != "t" + std::to_string(i)) {
        std::lock_guard lock(mu);
        ++wrong;
      }
    }
  });
  other.join();
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, 60s, [&] { return finished == kChains; })) << finished;
  EXPECT_EQ(wrong, 0);
  // Both connections' callbacks ran on the loop's one thread.
  EXPECT_EQ(callback_threads.size(), 1u);
  EXPECT_EQ(a.malformed() + b.malformed(), 0);
}

// Closing one connection of a shared loop fails its own pending requests
// only; the other goes on, also after the loop's handle is gone.
TEST(ConnectionLoopTest, ClosingOneConnectionLeavesTheOthers) {
  FakeNode a;
  FakeNode b;
  auto loop = ConnectionLoop::start();
  ASSERT_TRUE(loop.ok());
  auto ca = Connection::open(a.address(), *loop);
  auto cb = Connection::open(b.address(), *loop);
  ASSERT_TRUE(ca.ok());
  ASSERT_TRUE(cb.ok());
  loop->reset();  // the connections keep the thread running

  std::promise<Status> closed;
  std::promise<Status> other;
  (*ca)->request_async(Message{kSilent, "x"}, 60s,
                       [&](Result<Message> r) { closed.set_value(r.status()); });
  (*cb)->request_async(Message{kSilent, "y"}, 300ms,
                       [&](Result<Message> r) { other.set_value(r.status()); });
  ca->reset();
  auto f = closed.get_future();
  ASSERT_EQ(f.wait_for(0s), std::future_status::ready);
  EXPECT_EQ(f.get().code(), StatusCode::kUnavailable);
  EXPECT_EQ(other.get_future().get().code(), StatusCode::kTimeout);

  auto echo = (*cb)->request(Message{kEcho, "still"}, 20s);
  ASSERT_TRUE(echo.ok()) << echo.status().to_string();
  EXPECT_EQ(echo->payload, "still");
}

}  // namespace
}  // namespace dendrite::client
