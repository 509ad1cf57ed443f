#include "dendrite/client/connection.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include <zmq.hpp>

#include "dendrite/batch_frame.h"

namespace dendrite::client {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kIdBytes = 8;
// Longest the I/O thread sleeps in poll when nothing is due (it also wakes on
// every new request and every reply).
constexpr Milliseconds kMaxPoll{1000};
// Requests queued in ZeroMQ for a node that is not connected (yet).
constexpr int kSendQueue = 100000;
// A batch frame is closed at this many entries or bytes (the node refuses
// more than kMaxBatchEntries).
constexpr std::size_t kBatchEntries = 1024;
constexpr std::size_t kBatchBytes = 256u << 10;
// While replies are being read, requests their callbacks queue leave early
// once this many wait (so the node need not wait for the last reply read),
// else together after the last reply (fewer, bigger batches).
constexpr std::size_t kEarlyFlush = 32;
// How long the node may take to answer the batch probe before the connection
// settles on one request per message.
constexpr Milliseconds kProbeTimeout{5000};

std::string encode_id(std::uint64_t id) {
  std::string out(kIdBytes, '\0');
  for (std::size_t i = 0; i < kIdBytes; ++i) {
    out[kIdBytes - 1 - i] = static_cast<char>((id >> (8 * i)) & 0xff);
  }
  return out;
}

std::uint64_t decode_id(std::string_view frame) {
  std::uint64_t id = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(frame.data());
  for (std::size_t i = 0; i < kIdBytes; ++i) id = (id << 8) | p[i];
  return id;
}

}  // namespace

Status check_node_address(const std::string& node) {
  const auto colon = node.rfind(':');
  const auto bad = [&] {
    return Status::InvalidArgument("'" + node + "' is not host:port with a port from 1 to 65535");
  };
  if (colon == std::string::npos || colon == 0 || colon + 1 == node.size()) return bad();
  for (std::size_t i = 0; i < colon; ++i) {
    if (node[i] == ' ' || node[i] == '\t' || node[i] == '/') return bad();
  }
  int port = 0;
  const char* first = node.data() + colon + 1;
  const char* last = node.data() + node.size();
  auto [end, ec] = std::from_chars(first, last, port);
  if (ec != std::errc() || end != last || port < 1 || port > 65535) return bad();
  return Status::Ok();
}

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
  int wake_fd = -1;  // eventfd: requests queued from other threads, a connection closing, stop
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
  void wake();
  void drain_wake();
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
  struct Pending {
    ReplyCallback done;
    Milliseconds timeout;
  };
  // Requests in the order they were sent, with their deadlines. Requests with
  // one timeout expire in the order they were sent, so each timeout has a FIFO
  // queue; answered requests leave it lazily (at its front, or when due).
  using DeadlineQueue = std::deque<std::pair<Clock::time_point, std::uint64_t>>;

  std::string node;
  std::shared_ptr<ConnectionLoop::Impl> loop;
  zmq::socket_t socket;  // used by the loop's thread only (once it joined)

  // Guarded by loop->mu.
  std::deque<Outgoing> outbox;
  bool stopping = false;
  bool in_ready = false;  // listed in loop->ready
  bool retired = false;   // closed by the loop's thread: the destructor may go on

  // Whether the node takes batch frames: unknown until it answered the probe
  // sent when the connection joined its loop; until then requests go one per
  // message.
  enum class Batching { kUnknown, kYes, kNo };

  // The loop's thread only.
  Batching batching = Batching::kUnknown;
  std::uint64_t probe_id = 0;
  Clock::time_point probe_deadline;
  std::uint64_t next_id = 1;
  std::unordered_map<std::uint64_t, Pending> pending;
  std::map<Milliseconds, DeadlineQueue> deadlines;  // by timeout
  bool readable = true;                             // poll said so (or not polled yet)

  // Registers `out` as pending under `id` with its deadline.
  void track(std::uint64_t id, Outgoing& out) {
    deadlines[out.timeout].emplace_back(Clock::now() + out.timeout, id);
    pending.emplace(id, Pending{std::move(out.done), out.timeout});
  }

  // Sends the probe that tells whether the node takes batch frames: a batch
  // of one kBatchProbe, behind its own id. Our nodes answer with a batch frame
  // whose entry is a kBatchProbe saying kBatchProbeYes; an original node with
  // an Err (or not at all), and a node that echoes what it gets with an
  // empty probe.
  void send_probe() {
    probe_id = next_id++;
    std::string frame(1, static_cast<char>(msg::kBatch));
    const std::string id_frame = encode_id(probe_id);
    append_batch_entry(frame, id_frame, msg::kBatchProbe, {});
    try {
      if (socket.send(zmq::buffer(id_frame),
                      zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
        socket.send(zmq::message_t(), zmq::send_flags::sndmore);
        socket.send(zmq::buffer(frame), zmq::send_flags::none);
        probe_deadline = Clock::now() + kProbeTimeout;
        return;
      }
    } catch (const zmq::error_t&) {
    }
    batching = Batching::kNo;
  }

  // Sends `outs` in batch frames of up to kBatchEntries entries / kBatchBytes.
  void send_batched(std::deque<Outgoing>& outs) {
    std::size_t i = 0;
    while (i < outs.size()) {
      const std::size_t first = i;
      std::string frame;
      frame.reserve(kBatchBytes / 16);
      frame.push_back(static_cast<char>(msg::kBatch));
      std::vector<std::uint64_t> ids;
      while (i < outs.size() && ids.size() < kBatchEntries && frame.size() < kBatchBytes) {
        const std::uint64_t id = next_id++;
        const Message& m = outs[i].request;
        append_batch_entry(frame, encode_id(id), m.type, m.payload);
        ids.push_back(id);
        ++i;
      }
      bool sent = false;
      std::string error;
      try {
        sent = socket.send(zmq::message_t(), zmq::send_flags::sndmore | zmq::send_flags::dontwait)
                   .has_value();
        if (sent) socket.send(zmq::buffer(frame), zmq::send_flags::none);
        if (!sent) error = "send queue to " + node + " is full";
      } catch (const zmq::error_t& e) {
        error = "cannot send to " + node + ": " + e.what();
      }
      for (std::size_t k = 0; k < ids.size(); ++k) {
        Outgoing& out = outs[first + k];
        if (sent) {
          track(ids[k], out);
        } else {
          out.done(Status::Unavailable(error));
        }
      }
    }
  }

  void send(Outgoing out) {
    const std::uint64_t id = next_id++;
    const std::string id_frame = encode_id(id);
    const std::string frame = out.request.to_frame();
    bool sent = false;
    try {
      sent =
          socket.send(zmq::buffer(id_frame), zmq::send_flags::sndmore | zmq::send_flags::dontwait)
              .has_value();
      if (sent) {
        // Once the first part is queued, the rest of the message is queued too.
        socket.send(zmq::message_t(), zmq::send_flags::sndmore);
        socket.send(zmq::buffer(frame), zmq::send_flags::none);
      }
    } catch (const zmq::error_t& e) {
      out.done(Status::Unavailable("cannot send to " + node + ": " + e.what()));
      return;
    }
    if (!sent) {
      out.done(Status::Unavailable("send queue to " + node + " is full"));
      return;
    }
    track(id, out);
  }

  // Sends the requests in `batch` (taken from the outbox).
  void transmit(std::deque<Outgoing>& batch) {
    if (batching == Batching::kYes && batch.size() > 1) {
      send_batched(batch);
    } else {
      for (auto& out : batch) send(std::move(out));
    }
  }

  // Completes the pending request `id` with the reply frame `frame`.
  void complete(std::uint64_t id, std::string_view frame) {
    auto it = pending.find(id);
    if (it == pending.end()) return;  // timed out already
    ReplyCallback done = std::move(it->second.done);
    pending.erase(it);
    auto reply = Message::from_frame(frame);
    if (!reply.ok()) {
      done(Status::Internal("empty reply from " + node));
    } else {
      done(std::move(reply).value());
    }
  }

  // Completes the requests answered by the entries of a batch frame; entries
  // with a tag that is not one of our ids are dropped.
  void complete_batch(std::string_view frame) {
    BatchReader reader(frame);
    for (BatchReader::Entry e; reader.next(e);) {
      if (e.tag.size() != kIdBytes) continue;
      complete(decode_id(e.tag), e.frame);
    }
  }

  // Reads every reply that is ready and completes its request. Requests that
  // callbacks queue meanwhile (on any connection of the loop) leave once
  // kEarlyFlush wait, so the nodes work on them while the rest of the replies
  // are read.
  void receive() {
    for (bool first = true;; first = false) {
      if (!first && loop->holds(kEarlyFlush)) loop->flush_ready();
      std::vector<zmq::message_t> frames;
      try {
        zmq::message_t part;
        if (!socket.recv(part, zmq::recv_flags::dontwait)) return;
        frames.push_back(std::move(part));
        while (frames.back().more()) {
          zmq::message_t next;
          if (!socket.recv(next, zmq::recv_flags::none)) break;
          frames.push_back(std::move(next));
        }
      } catch (const zmq::error_t&) {
        return;
      }
      // Expected [id][empty][reply], or [empty][batch reply]; anything else
      // is dropped.
      if (frames.size() == 2 && frames[0].size() == 0) {
        const std::string_view frame = frames[1].to_string_view();
        if (!frame.empty() && static_cast<MessageType>(frame[0]) == msg::kBatch) {
          complete_batch(frame);
        }
        continue;
      }
      if (frames.size() != 3 || frames[0].size() != kIdBytes || frames[1].size() != 0) continue;
      const std::uint64_t id = decode_id(frames[0].to_string_view());
      if (batching == Batching::kUnknown && id == probe_id) {
        batching = answers_batch_probe(frames[2].to_string_view(), encode_id(probe_id))
                       ? Batching::kYes
                       : Batching::kNo;
        continue;
      }
      complete(id, frames[2].to_string_view());
    }
  }

  // Fails the requests whose deadline passed and drops answered ones from
  // the fronts of the deadline queues; settles on one request per message
  // when the probe went unanswered. Returns the earliest deadline left.
  std::optional<Clock::time_point> expire(Clock::time_point now) {
    std::optional<Clock::time_point> next;
    for (auto q = deadlines.begin(); q != deadlines.end();) {
      DeadlineQueue& queue = q->second;
      while (!queue.empty()) {
        const auto [deadline, id] = queue.front();
        auto it = pending.find(id);
        if (it == pending.end()) {  // answered
          queue.pop_front();
          continue;
        }
        if (deadline > now) break;
        queue.pop_front();
        ReplyCallback done = std::move(it->second.done);
        const Milliseconds timeout = it->second.timeout;
        pending.erase(it);
        done(Status::Timeout("no reply from " + node + " within " +
                             std::to_string(timeout.count()) + " ms"));
      }
      if (queue.empty()) {
        q = deadlines.erase(q);
        continue;
      }
      if (!next || queue.front().first < *next) next = queue.front().first;
      ++q;
    }
    if (batching == Batching::kUnknown) {
      if (now >= probe_deadline) {
        batching = Batching::kNo;  // no answer: one request per message
      } else if (!next || probe_deadline < *next) {
        next = probe_deadline;
      }
    }
    return next;
  }

  // Fails what is queued and pending and closes the socket. The loop's
  // thread; `queued` were in the outbox.
  void close(std::deque<Outgoing>& queued) {
    for (auto& out : queued) out.done(Status::Unavailable("connection closed"));
    deadlines.clear();
    auto left = std::move(pending);
    pending.clear();
    for (auto& [id, p] : left) p.done(Status::Unavailable("connection closed"));
    socket.close();
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
  if (wake_fd >= 0) ::close(wake_fd);
}

void ConnectionLoop::Impl::wake() {
  const std::uint64_t one = 1;
  // Fails only when the counter would overflow, and then the thread is awake anyway.
  [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof one);
}

void ConnectionLoop::Impl::drain_wake() {
  std::uint64_t count;
  [[maybe_unused]] auto n = ::read(wake_fd, &count, sizeof count);
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
    for (Connection::Impl* conn : joined) {
      members.push_back(conn);
      conn->send_probe();
    }
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
      const auto due = conn->expire(now);
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
      items.push_back({conn->socket.handle(), 0, ZMQ_POLLIN, 0});
    }
    items.push_back({nullptr, wake_fd, ZMQ_POLLIN, 0});
    try {
      zmq::poll(items.data(), items.size(), wait);
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) break;
    }
    for (std::size_t i = 0; i < members.size(); ++i) {
      members[i]->readable = (items[i].revents & ZMQ_POLLIN) != 0;
    }
    if (items.back().revents & ZMQ_POLLIN) drain_wake();
  }
}

Result<std::shared_ptr<ConnectionLoop>> ConnectionLoop::start() {
  auto impl = std::make_shared<Impl>();
  impl->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl->wake_fd < 0) {
    return Status::Internal(std::string("eventfd: ") + std::strerror(errno));
  }
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->run(); });
  return std::shared_ptr<ConnectionLoop>(new ConnectionLoop(std::move(impl)));
}

ConnectionLoop::ConnectionLoop(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

ConnectionLoop::~ConnectionLoop() = default;

// ---- Connection --------------------------------------------------------------

Result<std::unique_ptr<Connection>> Connection::open(const std::string& node) {
  if (Status s = check_node_address(node); !s.ok()) return s;
  auto loop = ConnectionLoop::start();
  if (!loop.ok()) return loop.status();
  return open(node, *loop);
}

Result<std::unique_ptr<Connection>> Connection::open(const std::string& node,
                                                     const std::shared_ptr<ConnectionLoop>& loop) {
  if (Status s = check_node_address(node); !s.ok()) return s;
  auto impl = std::make_unique<Impl>();
  impl->node = node;
  impl->loop = loop->impl_;
  try {
    impl->socket = zmq::socket_t(impl->loop->context, zmq::socket_type::dealer);
    impl->socket.set(zmq::sockopt::linger, 0);
    impl->socket.set(zmq::sockopt::sndhwm, kSendQueue);
    impl->socket.connect("tcp://" + node);
  } catch (const zmq::error_t& e) {
    return Status::Internal("cannot connect to " + node + ": " + e.what());
  }
  ConnectionLoop::Impl& l = *impl->loop;
  {
    // The socket moves to the loop's thread here (the lock is the memory
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
