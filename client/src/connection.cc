#include "dendrite/client/connection.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "credentials_impl.h"
#include "dendrite/address.h"
#include "dendrite/wire/peer_channel.h"
#include "dendrite/wire/wakeup.h"

namespace dendrite::client {
namespace {

using Clock = std::chrono::steady_clock;

// Longest the I/O thread sleeps in poll when nothing is due (it also wakes on
// every new request and every reply).
constexpr Milliseconds kMaxPoll{1000};
// While replies are being read, requests their callbacks queue leave early
// once this many wait (so the node need not wait for the last reply read),
// else together after the last reply (fewer, bigger batches).
constexpr std::size_t kEarlyFlush = 32;

}  // namespace

namespace {

// A request queued on a connection, not sent yet.
struct Outgoing {
  Message request;
  Milliseconds timeout;
  ReplyCallback done;
};

}  // namespace

// State shared by a loop and the connections it serves.
struct ConnectionLoop::Impl {
  zmq::context_t context{1};
  wire::Wakeup wakeup;  // requests queued from other threads, a connection closing, stop
  std::thread thread;

  std::mutex mu;
  std::thread::id thread_id;               // the loop's thread, once it runs; guarded by mu
  std::vector<Connection::Impl*> joining;  // opened, not yet served; guarded by mu
  std::vector<Connection::Impl*> ready;    // with requests queued or closing; guarded by mu
  std::size_t queued = 0;                  // requests in the outboxes of `ready`; guarded by mu
  bool wake_pending = false;               // a wake-up is on its way; guarded by mu
  bool stopping = false;                   // guarded by mu

  std::condition_variable retired_cv;  // a connection was retired

  // A connection that is closing, with the requests it still had queued.
  struct Closing {
    Connection::Impl* conn;
    std::deque<Outgoing> queued;
  };
  // The loop's thread only.
  std::vector<Connection::Impl*> members;
  std::vector<Closing> closing;  // retired at the top of the next round

  ~Impl();
  void wake() { wakeup.notify(); }
  // Sends what the ready connections queued; those closing go to `closing`.
  void flush_ready();
  // Retires the connections in `closing`: their requests fail, their sockets
  // close, their destructors return.
  void retire_closing();
  // True when at least `n` requests are queued.
  bool holds(std::size_t n);
  void run();
};

struct Connection::Impl {
  std::string node;
  std::shared_ptr<ConnectionLoop::Impl> loop;
  // Used by the loop's thread only, once the connection joined it.
  std::unique_ptr<wire::PeerChannel> channel;

  // Guarded by loop->mu.
  std::deque<Outgoing> outbox;
  bool stopping = false;
  bool in_ready = false;  // listed in loop->ready
  bool retired = false;   // closed by the loop's thread: the destructor may go on

  // The loop's thread only.
  bool readable = true;  // poll said so (or not polled yet)

  // Sends the requests in `batch` (taken from the outbox): one message, or
  // batch frames when the node takes them.
  void transmit(std::deque<Outgoing>& batch) {
    for (auto& out : batch) channel->call(std::move(out.request), out.timeout, std::move(out.done));
    channel->flush();
  }

  // Reads every reply that is ready and completes its request. Requests that
  // callbacks queue meanwhile (on any connection of the loop) leave once
  // kEarlyFlush wait, so the nodes work on them while the rest of the replies
  // are read.
  void receive() {
    for (bool first = true;; first = false) {
      if (!first && loop->holds(kEarlyFlush)) loop->flush_ready();
      if (channel->read(1) == 0) return;
    }
  }

  // Fails what is queued and pending and closes the socket. The loop's
  // thread; `queued` were in the outbox.
  void close(std::deque<Outgoing>& queued) {
    channel->close(Status::Unavailable("connection closed"));
    // A closed channel fails a call at once, as it fails the pending ones.
    for (auto& out : queued)
      channel->call(std::move(out.request), out.timeout, std::move(out.done));
  }
};

// ---- ConnectionLoop ----------------------------------------------------------

ConnectionLoop::Impl::~Impl() {
  if (thread.joinable()) {
    {
      std::lock_guard lock(mu);
      stopping = true;
    }
    wake();
    thread.join();
  }
}

bool ConnectionLoop::Impl::holds(std::size_t n) {
  std::lock_guard lock(mu);
  return queued >= n;
}

void ConnectionLoop::Impl::flush_ready() {
  struct Work {
    Connection::Impl* conn;
    std::deque<Outgoing> batch;
    bool stopping;
  };
  std::vector<Work> work;
  {
    std::lock_guard lock(mu);
    work.reserve(ready.size());
    for (Connection::Impl* conn : ready) {
      conn->in_ready = false;
      work.push_back({conn, std::move(conn->outbox), conn->stopping});
      conn->outbox.clear();
    }
    ready.clear();
    queued = 0;
  }
  for (Work& w : work) {
    if (w.stopping) {
      closing.push_back({w.conn, std::move(w.batch)});
    } else {
      w.conn->transmit(w.batch);
    }
  }
}

void ConnectionLoop::Impl::retire_closing() {
  if (closing.empty()) return;
  std::vector<Closing> now;
  now.swap(closing);
  for (Closing& c : now) {
    std::erase(members, c.conn);
    c.conn->close(c.queued);
  }
  {
    std::lock_guard lock(mu);
    for (Closing& c : now) c.conn->retired = true;  // the connections may be freed from here on
  }
  retired_cv.notify_all();
}

void ConnectionLoop::Impl::run() {
  {
    std::lock_guard lock(mu);
    thread_id = std::this_thread::get_id();
  }
  std::vector<zmq::pollitem_t> items;
  std::vector<Connection::Impl*> joined;
  for (;;) {
    {
      std::lock_guard lock(mu);
      if (stopping) break;
      joined.swap(joining);
      wake_pending = false;
    }
    for (Connection::Impl* conn : joined) members.push_back(conn);
    joined.clear();
    flush_ready();
    retire_closing();
    // Callbacks open no connection and close none here (a closing one waits
    // for the next round), so `members` is stable while replies are read.
    for (Connection::Impl* conn : members) {
      if (conn->readable) conn->receive();
    }
    const auto now = Clock::now();
    std::optional<Clock::time_point> next;
    for (Connection::Impl* conn : members) {
      conn->channel->expire(now);
      const auto due = conn->channel->next_deadline();
      if (due && (!next || *due < *next)) next = due;
    }

    Milliseconds wait = kMaxPoll;
    if (next) {
      auto until = std::chrono::ceil<Milliseconds>(*next - now);
      wait = std::clamp(until, Milliseconds(0), kMaxPoll);
    }
    {
      // Callbacks queued requests without a wake-up: send them first.
      std::lock_guard lock(mu);
      if (!ready.empty() || !joining.empty() || stopping || !closing.empty()) {
        wait = Milliseconds(0);
      }
    }
    items.clear();
    for (Connection::Impl* conn : members) {
      items.push_back({conn->channel->socket_handle(), 0, ZMQ_POLLIN, 0});
      items.push_back({conn->channel->events_handle(), 0, ZMQ_POLLIN, 0});
    }
    items.push_back({nullptr, wakeup.fd(), ZMQ_POLLIN, 0});
    try {
      zmq::poll(items.data(), items.size(), wait);
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) break;
    }
    for (std::size_t i = 0; i < members.size(); ++i) {
      members[i]->readable = (items[2 * i].revents & ZMQ_POLLIN) != 0;
      // A refused handshake fails the connection's requests here.
      if (items[2 * i + 1].revents & ZMQ_POLLIN) members[i]->channel->read_events();
    }
    if (items.back().revents & ZMQ_POLLIN) wakeup.drain();
  }
}

Result<std::shared_ptr<ConnectionLoop>> ConnectionLoop::start() {
  auto impl = std::make_shared<Impl>();
  if (Status s = impl->wakeup.open(); !s.ok()) return s;
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->run(); });
  return std::shared_ptr<ConnectionLoop>(new ConnectionLoop(std::move(impl)));
}

ConnectionLoop::ConnectionLoop(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

ConnectionLoop::~ConnectionLoop() = default;

// ---- Connection --------------------------------------------------------------

Result<std::unique_ptr<Connection>> Connection::open(const std::string& node) {
  if (Status s = check_peer_address(node); !s.ok()) return s;
  auto loop = ConnectionLoop::start();
  if (!loop.ok()) return loop.status();
  return open(node, *loop);
}

Result<std::unique_ptr<Connection>> Connection::open(const std::string& node,
                                                     const std::shared_ptr<ConnectionLoop>& loop) {
  return open(node, loop, nullptr);
}

Result<std::unique_ptr<Connection>> Connection::open(
    const std::string& node, std::shared_ptr<const Credentials> credentials) {
  if (Status s = check_peer_address(node); !s.ok()) return s;
  auto loop = ConnectionLoop::start();
  if (!loop.ok()) return loop.status();
  return open(node, *loop, std::move(credentials));
}

Result<std::unique_ptr<Connection>> Connection::open(
    const std::string& node, const std::shared_ptr<ConnectionLoop>& loop,
    std::shared_ptr<const Credentials> credentials) {
  auto impl = std::make_unique<Impl>();
  impl->node = node;
  impl->loop = loop->impl_;
  wire::ChannelOptions options;
  if (credentials) {
    auto keys = wire::channel_keys(credentials->impl().identity, node);
    if (!keys.ok()) return keys.status();
    options.curve = std::move(keys).value();
  }
  auto channel = wire::PeerChannel::open(impl->loop->context, node, options);
  if (!channel.ok()) {
    if (channel.status().code() == StatusCode::kInvalidArgument) return channel.status();
    return Status::Internal(channel.status().message());
  }
  impl->channel = std::move(channel).value();
  ConnectionLoop::Impl& l = *impl->loop;
  {
    // The channel moves to the loop's thread here (the lock is the memory
    // barrier ZeroMQ asks for).
    std::lock_guard lock(l.mu);
    l.joining.push_back(impl.get());
  }
  l.wake();
  return std::unique_ptr<Connection>(new Connection(std::move(impl)));
}

Connection::Connection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Connection::~Connection() {
  ConnectionLoop::Impl& l = *impl_->loop;
  {
    std::lock_guard lock(l.mu);
    impl_->stopping = true;
    if (!impl_->in_ready) {
      impl_->in_ready = true;
      l.ready.push_back(impl_.get());
    }
  }
  l.wake();
  std::unique_lock lock(l.mu);
  l.retired_cv.wait(lock, [&] { return impl_->retired; });
}

const std::string& Connection::node() const {
  return impl_->node;
}

void Connection::request_async(Message request, Milliseconds timeout, ReplyCallback done) {
  ConnectionLoop::Impl& l = *impl_->loop;
  bool need_wake = false;
  {
    std::lock_guard lock(l.mu);
    if (!impl_->stopping) {
      impl_->outbox.push_back({std::move(request), timeout, std::move(done)});
      done = nullptr;
      ++l.queued;
      if (!impl_->in_ready) {
        impl_->in_ready = true;
        l.ready.push_back(impl_.get());
      }
      // The loop looks at `ready` before it sleeps, so its own thread needs
      // no wake-up, nor does anyone while one is on its way.
      if (!l.wake_pending && std::this_thread::get_id() != l.thread_id) {
        l.wake_pending = true;
        need_wake = true;
      }
    }
  }
  if (done) {
    done(Status::Unavailable("connection closed"));
    return;
  }
  if (need_wake) l.wake();
}

Result<Message> Connection::request(const Message& request, Milliseconds timeout) {
  auto promise = std::make_shared<std::promise<Result<Message>>>();
  auto future = promise->get_future();
  request_async(request, timeout,
                [promise](Result<Message> reply) { promise->set_value(std::move(reply)); });
  return future.get();
}

}  // namespace dendrite::client
