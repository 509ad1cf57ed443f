// ZmqTransport: one I/O thread owns every socket (the ROUTER that serves and
// one DEALER per peer host) and polls them together with an eventfd that other
// threads use to hand it work (new calls, replies computed by workers).
//
// Server: [identity][envelope...][empty][payload] -> the handler (inline on the
// I/O thread or on the worker pool) -> [identity][envelope...][empty][reply].
// Client: [id(8)][empty][payload] on the peer's DEALER; the reply
// [id][empty][reply] is matched to the pending call by id.

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <zmq.hpp>

#include "dendrite/batch_frame.h"
#include "host/frame_codec.h"
#include "host/logging.h"
#include "host/transport.h"
#include "host/transport_stats.h"
#include "host/worker_pool.h"

// Defined in ThreadSanitizer builds (GCC and clang spell it differently).
#if defined(__SANITIZE_THREAD__)
#define DENDRITE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DENDRITE_TSAN 1
#endif
#endif

namespace dendrite::host {
namespace {

using Clock = std::chrono::steady_clock;

// Messages read from one socket per poll round, so no socket starves others.
constexpr int kBatch = 256;
// A DEALER with nothing pending and unused this long is closed.
constexpr auto kPeerIdle = std::chrono::seconds(60);
// The poll loop wakes at least this often (idle peers, stale deadlines).
constexpr auto kHousekeeping = std::chrono::milliseconds(1000);
// Messages queued to one peer before the ROUTER drops more replies (see
// open()) or a DEALER refuses more requests ("too many requests queued").
constexpr int kPeerQueue = 100000;

// The I/O thread of the transport running on this thread, if any.
thread_local const void* t_io_owner = nullptr;

// The frames that stand before the empty delimiter of a request; echoed in
// front of its reply. Inline storage: no allocation per request.
class Envelope {
 public:
  Envelope() = default;
  Envelope(Envelope&& o) noexcept { take(o); }
  Envelope& operator=(Envelope&& o) noexcept {
    if (this != &o) {
      clear();
      take(o);
    }
    return *this;
  }

  // At most kMaxEnvelopeFrames (RequestFramer hands out no more).
  void push(zmq::message_t&& m) { frames_[n_++] = std::move(m); }
  void clear() {
    for (std::size_t i = 0; i < n_; ++i) frames_[i].rebuild();
    n_ = 0;
    tag_.clear();
  }

  // The same frames, for another entry of the same batch.
  Envelope copy() const {
    Envelope e;
    for (std::size_t i = 0; i < n_; ++i) e.frames_[i].copy(const_cast<zmq::message_t&>(frames_[i]));
    e.n_ = n_;
    return e;
  }
  // Marks this as the envelope of a batch entry: its reply is an entry with
  // `tag` in the batch reply sent behind these frames.
  void set_batch_tag(std::string_view tag) { tag_.assign(tag); }
  bool batched() const { return !tag_.empty(); }
  const std::string& batch_tag() const { return tag_; }
  // True when both hold the same frames (the tags aside).
  bool same_frames(const Envelope& o) const {
    if (n_ != o.n_) return false;
    for (std::size_t i = 0; i < n_; ++i) {
      if (frames_[i].size() != o.frames_[i].size() ||
          std::memcmp(frames_[i].data(), o.frames_[i].data(), frames_[i].size()) != 0) {
        return false;
      }
    }
    return true;
  }

  // Sends [envelope...][empty][reply] on `socket` without blocking (a ROUTER
  // drops what it cannot route). Empties the envelope.
  void send(zmq::socket_t& socket, zmq::message_t&& reply) {
    constexpr auto more = zmq::send_flags::sndmore | zmq::send_flags::dontwait;
    for (std::size_t i = 0; i < n_; ++i) {
      if (!socket.send(frames_[i], more)) {
        clear();
        return;
      }
    }
    n_ = 0;
    zmq::message_t delimiter;
    socket.send(delimiter, more);
    socket.send(reply, zmq::send_flags::dontwait);
  }

 private:
  void take(Envelope& o) {
    for (std::size_t i = 0; i < o.n_; ++i) frames_[i] = std::move(o.frames_[i]);
    n_ = o.n_;
    o.n_ = 0;
    tag_ = std::move(o.tag_);
    o.tag_.clear();
  }

  std::array<zmq::message_t, kMaxEnvelopeFrames> frames_;
  std::size_t n_ = 0;
  std::string tag_;  // of a batch entry; empty otherwise
};

// A batch reply is sent once it holds this many bytes (else at the end of the
// poll round), so that one reply frame stays small next to max_frame_bytes.
constexpr std::size_t kBatchReplyBytes = 1u << 20;
// Room a batch reply starts with, so that it seldom grows (and copies itself).
constexpr std::size_t kBatchReplyReserve = 16u << 10;
// Requests to one peer sent as one batch frame at most (else at the end of the
// poll round), and how long a new peer may take to answer the batch probe.
constexpr std::size_t kPeerBatchEntries = 1024;
constexpr std::size_t kPeerBatchBytes = 256u << 10;
constexpr auto kProbeTimeout = std::chrono::seconds(5);

#ifdef DENDRITE_TSAN
constexpr bool kThreadSanitizer = true;
#else
constexpr bool kThreadSanitizer = false;
#endif

// Frames at least this big are handed to ZeroMQ without a copy; smaller ones
// are copied, which spares ZeroMQ's allocation for a borrowed buffer and its
// free on ZeroMQ's own I/O thread (measured no slower: docs/transport.md).
constexpr std::size_t kZeroCopyBytes = 64u << 10;

// A zmq::message_t holding the bytes of `frame`: a copy when the frame is
// small, or always under ThreadSanitizer (a buffer freed on libzmq's
// uninstrumented thread looks like a race to it, and each such report costs
// far more than the copy); else `frame`'s own buffer, taken over.
zmq::message_t message_of(std::string&& frame) {
  if (kThreadSanitizer || frame.size() < kZeroCopyBytes) {
    return zmq::message_t(frame.data(), frame.size());
  }
  auto* held = new std::string(std::move(frame));
  return zmq::message_t(
      held->data(), held->size(), [](void*, void* hint) { delete static_cast<std::string*>(hint); },
      held);
}

// The wire frame of `m` (type byte + payload), built with a single copy.
zmq::message_t frame_of(const Message& m) {
  zmq::message_t f(m.payload.size() + 1);
  auto* p = static_cast<char*>(f.data());
  p[0] = static_cast<char>(m.type);
  if (!m.payload.empty()) std::memcpy(p + 1, m.payload.data(), m.payload.size());
  return f;
}

std::string_view view(const zmq::message_t& m) {
  return {static_cast<const char*>(m.data()), m.size()};
}

// True when `host` looks like "name:port" with a port in 1..65535.
bool valid_peer_address(const std::string& host) {
  const auto colon = host.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == host.size()) return false;
  if (host.size() - colon - 1 > 5) return false;
  unsigned port = 0;
  for (std::size_t i = colon + 1; i < host.size(); ++i) {
    if (host[i] < '0' || host[i] > '9') return false;
    port = port * 10 + static_cast<unsigned>(host[i] - '0');
  }
  return port >= 1 && port <= 65535;
}

// ZMQ_MAXMSGSIZE: well above max_frame_bytes (so oversized frames still get an
// Err reply) but bounded, so a hostile peer cannot make us allocate at will.
std::int64_t max_message_size(std::size_t max_frame_bytes) {
  constexpr std::uint64_t kCap = std::numeric_limits<std::int64_t>::max() / 4;
  const std::uint64_t m = std::min<std::uint64_t>(max_frame_bytes, kCap);
  return static_cast<std::int64_t>(2 * m + (64u << 10));
}

void invoke(const ReplyCallback& done, Result<Message> r,
            const std::shared_ptr<spdlog::logger>& log) {
  if (!done) return;
  try {
    done(std::move(r));
  } catch (const std::exception& e) {
    log->error("reply callback threw: {}", e.what());
  } catch (...) {
    log->error("reply callback threw a non-standard exception");
  }
}

}  // namespace

struct ZmqTransport::Impl {
  enum class State { kNew, kStarting, kRunning, kStopping, kStopped };

  // A call handed from any thread to the I/O thread.
  struct Outgoing {
    std::string host;
    Message request;
    Clock::time_point deadline;
    Milliseconds timeout;
    ReplyCallback done;
  };

  // A reply computed by a worker, to be sent by the I/O thread.
  struct Outbound {
    Envelope envelope;
    zmq::message_t frame;
  };

  // The entries answering a batch's requests, gathered in one poll round for
  // one envelope (the batch's frames before the delimiter).
  struct BatchReply {
    Envelope envelope;
    std::string frame;  // msg::kBatch, then the entries
  };

  // One DEALER per peer host; owned by the I/O thread.
  struct Peer {
    std::string host;
    zmq::socket_t socket;
    std::size_t pending = 0;
    Clock::time_point last_used;
    // Whether the peer takes batch frames: asked once when the socket opens
    // (see send_probe()); until it answers, requests go one per message.
    enum class Batching { kUnknown, kYes, kNo };
    Batching batching = Batching::kUnknown;
    std::uint64_t probe_id = 0;
    Clock::time_point probe_deadline;
    // Requests started in this poll round, sent together at its end.
    std::string batch;
    std::vector<std::uint64_t> batch_ids;
  };

  struct Pending {
    ReplyCallback done;
    Clock::time_point deadline;
    Milliseconds timeout;
    Peer* peer;
    MessageType type;
    Clock::time_point sent;
  };

  // A request served on the worker pool.
  // It holds its share of the pending limits until it is answered or cancelled.
  class ServerTask final : public WorkerPool::Task {
   public:
    ServerTask(Impl* impl, Envelope&& env, Message&& request)
        : impl_(impl),
          env_(std::move(env)),
          request_(std::move(request)),
          bytes_(request_.payload.size()) {}
    void run() override { impl_->serve_async(std::move(env_), std::move(request_)); }
    void cancel() override { impl_->release(bytes_); }

   private:
    Impl* impl_;
    Envelope env_;
    Message request_;
    std::size_t bytes_;
  };

  // A call_async() to our own address, run on the worker pool.
  class LocalCallTask final : public WorkerPool::Task {
   public:
    LocalCallTask(Impl* impl, Message&& request, ReplyCallback&& done)
        : impl_(impl), request_(std::move(request)), done_(std::move(done)) {}
    void run() override {
      Impl* impl = impl_;
      impl_->handle_async_safely(std::move(request_),
                                 [impl, done = std::move(done_)](Message reply) {
                                   invoke(done, std::move(reply), impl->log);
                                 });
    }
    void cancel() override { invoke(done_, Status::Unavailable("transport stopped"), impl_->log); }

   private:
    Impl* impl_;
    Message request_;
    ReplyCallback done_;
  };

  Impl(TransportConfig c, RequestHandler& h)
      : config(std::move(c)),
        handler(h),
        log(get_logger("transport")),
        own_metrics(config.metrics ? nullptr : std::make_unique<MetricsRegistry>()),
        stats(config.metrics ? *config.metrics : *own_metrics),
        pool(config.workers) {
    MetricsRegistry& registry = config.metrics ? *config.metrics : *own_metrics;
    pool_gauges = registry.add_collector([this](MetricWriter& w) {
      w.gauge("dendrite_transport_workers", "Live threads of the transport's worker pool.", {},
              static_cast<double>(pool.worker_count()));
      w.gauge("dendrite_transport_workers_busy",
              "Worker threads running a request handler (or about to).", {},
              static_cast<double>(pool.busy_workers()));
      w.gauge("dendrite_transport_workers_queued", "Requests waiting for a worker thread.", {},
              static_cast<double>(pool.queued()));
      w.gauge("dendrite_transport_pending_requests",
              "Requests taken in and not yet answered (queued, running or answered later).", {},
              static_cast<double>(pending_count.load(std::memory_order_relaxed)));
      w.gauge("dendrite_transport_pending_bytes", "Payload bytes of the pending requests.", {},
              static_cast<double>(pending_bytes.load(std::memory_order_relaxed)));
    });
  }

  ~Impl() {
    stop();
    // Closed only now: a call racing stop() may still write to it.
    if (wake_fd >= 0) ::close(wake_fd);
  }

  // ---- any thread -------------------------------------------------------

  Message handle_safely(const Message& request) {
    try {
      return handler.handle(request);
    } catch (const std::exception& e) {
      log->error("handler threw on message type {}: {}", request.type, e.what());
      return make_error(std::string("internal error: ") + e.what());
    } catch (...) {
      log->error("handler threw a non-standard exception on message type {}", request.type);
      return make_error("internal error");
    }
  }

  // The answer of one request: `done` runs at most once, and if every copy of
  // the handler's Respond is dropped unanswered, it runs then with an Err (so
  // the caller is not left waiting and the request's pending share is freed).
  class Answer {
   public:
    explicit Answer(std::function<void(Message)> done) : done_(std::move(done)) {}
    ~Answer() {
      if (!answered_.exchange(true))
        done_(
            make_error("internal error: the handler dropped the "
                       "request without answering"));
    }
    Answer(const Answer&) = delete;
    Answer& operator=(const Answer&) = delete;
    void operator()(Message reply) {
      if (!answered_.exchange(true)) done_(std::move(reply));
    }

   private:
    std::atomic<bool> answered_{false};
    std::function<void(Message)> done_;
  };

  // handler.handle_async() with exceptions caught; `done` runs exactly once
  // (see Answer).
  void handle_async_safely(Message request, std::function<void(Message)> done) {
    auto answer = std::make_shared<Answer>(std::move(done));
    call_handler(std::move(request), [answer](Message reply) { (*answer)(std::move(reply)); });
  }

  // handler.handle_async(request, once); a throw is logged and answered with
  // an Err through `once` (which must tolerate a second call).
  void call_handler(Message request, const std::function<void(Message)>& once) {
    const MessageType type = request.type;
    try {
      handler.handle_async(std::move(request), once);
    } catch (const std::exception& e) {
      log->error("handler threw on message type {}: {}", type, e.what());
      once(make_error(std::string("internal error: ") + e.what()));
    } catch (...) {
      log->error("handler threw a non-standard exception on message type {}", type);
      once(make_error("internal error"));
    }
  }

  void wake() {
    const std::uint64_t one = 1;
    // EAGAIN only when the counter is saturated: the I/O thread is awake anyway.
    [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof one);
  }

  void post_reply(Outbound&& out) {
    if (t_io_owner == this) {  // an answer given on the I/O thread: send it now
      if (!io_done) deliver(std::move(out.envelope), std::move(out.frame));
      return;
    }
    bool need_wake;
    {
      std::lock_guard lock(mu);
      if (state != State::kRunning || io_done) return;  // stopping: the reply is dropped
      replies.push_back(std::move(out));
      need_wake = !signaled;
      signaled = true;
    }
    if (need_wake) wake();
  }

  Status start() {
    {
      std::lock_guard lock(mu);
      if (state == State::kRunning || state == State::kStarting) {
        return Status::FailedPrecondition("transport already started");
      }
      if (state != State::kNew) return Status::FailedPrecondition("transport stopped");
      state = State::kStarting;
    }
    Status s = open();
    std::lock_guard lock(mu);
    if (state != State::kStarting) {  // stop() came first
      router.close();
      return Status::FailedPrecondition("transport stopped");
    }
    if (!s.ok()) {
      state = State::kNew;
      return s;
    }
    state = State::kRunning;
    pool.start();
    io = std::thread([this] { run(); });
    return Status::Ok();
  }

  // Creates the eventfd and binds the ROUTER. Called by start() only.
  Status open() {
    const std::string endpoint = "tcp://" + config.listen;
    try {
      zmq::socket_t r(ctx, zmq::socket_type::router);
      r.set(zmq::sockopt::linger, 0);
      r.set(zmq::sockopt::maxmsgsize, max_message_size(config.max_frame_bytes));
      // A ROUTER drops a reply its peer's queue has no room for. libzmq sees
      // a reader's progress only every half queue, so a client with a few
      // hundred requests in flight can hit the default 1,000 while it reads
      // steadily; the room for replies is bounded by max_pending instead.
      r.set(zmq::sockopt::sndhwm, kPeerQueue);
      try {
        r.bind(endpoint);
      } catch (const zmq::error_t& e) {
        return Status::Unavailable("cannot bind " + endpoint + ": " + e.what());
      }
      std::string bound = r.get(zmq::sockopt::last_endpoint);
      if (bound.rfind("tcp://", 0) == 0) bound.erase(0, 6);
      address = config.advertise.empty() ? bound : config.advertise;
      wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (wake_fd < 0) {
        return Status::Internal(std::string("eventfd: ") + std::strerror(errno));
      }
      router = std::move(r);
    } catch (const zmq::error_t& e) {
      return Status::Unavailable("cannot bind " + endpoint + ": " + e.what());
    }
    return Status::Ok();
  }

  void stop() {
    {
      std::lock_guard lock(mu);
      if (state == State::kNew || state == State::kStarting) {
        state = State::kStopped;  // never started (a racing start() then fails)
        return;
      }
      if (state == State::kRunning) {
        state = State::kStopping;
        wake();
      }
    }
    // From a done callback: the I/O thread leaves its loop after it; the
    // destructor (or another stop()) joins it.
    if (t_io_owner == this) return;
    std::lock_guard joining(stop_mu);
    if (io.joinable()) io.join();  // fails pending calls, closes every socket
    pool.stop();                   // cancels queued local calls, joins workers
    ctx.close();
    std::lock_guard lock(mu);
    state = State::kStopped;
  }

  // True when this transport serves `host` itself.
  bool is_self(const std::string& host) const { return !address.empty() && host == address; }

  void call_async(const std::string& host, Message request, Milliseconds timeout,
                  ReplyCallback done) {
    if (is_self(host)) {
      pool.submit(std::make_unique<LocalCallTask>(this, std::move(request), std::move(done)));
      return;
    }
    // Bounded so the deadline cannot overflow; a day is "forever" for a request.
    const auto bounded = std::clamp<Milliseconds>(timeout, Milliseconds(0), std::chrono::hours(24));
    Outgoing out{host, std::move(request), Clock::now() + bounded, timeout, std::move(done)};
    if (t_io_owner == this) {  // from a handler or callback on the I/O thread: send now
      if (io_done) return invoke(out.done, Status::Unavailable("transport stopped"), log);
      start_call(out);
      return;
    }
    bool need_wake;
    {
      std::unique_lock lock(mu);
      if (state != State::kRunning || io_done) {
        const bool fresh = state == State::kNew || state == State::kStarting;
        lock.unlock();
        invoke(out.done, Status::Unavailable(fresh ? "transport not started" : "transport stopped"),
               log);
        return;
      }
      calls.push_back(std::move(out));
      need_wake = !signaled;
      signaled = true;
    }
    if (need_wake) wake();
  }

  Result<Message> call(const std::string& host, const Message& request, Milliseconds timeout) {
    if (is_self(host)) {
      {
        std::lock_guard lock(mu);
        if (state != State::kRunning) return Status::Unavailable("transport stopped");
      }
      return handle_safely(request);
    }
    if (t_io_owner == this) {
      return Status::FailedPrecondition("call() from the transport's I/O thread would deadlock");
    }
    struct Sync {
      std::mutex mu;
      std::condition_variable cv;
      std::optional<Result<Message>> result;
    } sync;
    call_async(host, request, timeout, [&sync](Result<Message> r) {
      std::lock_guard lock(sync.mu);
      sync.result.emplace(std::move(r));
      sync.cv.notify_one();
    });
    std::unique_lock lock(sync.mu);
    sync.cv.wait(lock, [&sync] { return sync.result.has_value(); });
    return std::move(*sync.result);
  }

  // ---- I/O thread -------------------------------------------------------

  void run() {
    t_io_owner = this;
    pthread_setname_np(pthread_self(), "dendrite-io");
    try {
      loop();
    } catch (const std::exception& e) {
      log->error("transport I/O loop failed: {}", e.what());
    }
    shutdown();
    t_io_owner = nullptr;
  }

  void loop() {
    auto next_housekeeping = Clock::now() + kHousekeeping;
    for (;;) {
      if (items_dirty) rebuild_items();
      auto now = Clock::now();
      auto wake_at = next_housekeeping;
      if (!deadlines.empty()) wake_at = std::min(wake_at, deadlines.front().first);
      long timeout_ms = 0;
      if (wake_at > now) {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(wake_at - now);
        timeout_ms = static_cast<long>(left.count());
      }
      const int rc = zmq_poll(items.data(), static_cast<int>(items.size()), timeout_ms);
      if (rc < 0) {
        if (zmq_errno() == EINTR) continue;
        log->error("zmq_poll failed: {}", zmq_strerror(zmq_errno()));
        return;
      }
      try {
        if (items[1].revents & ZMQ_POLLIN) {
          if (!drain_inbox()) return;
        }
        if (items[0].revents & ZMQ_POLLIN) serve_router();
        for (std::size_t i = 2; i < items.size(); ++i) {
          if (items[i].revents & ZMQ_POLLIN) read_peer(*item_peers[i - 2]);
        }
      } catch (const zmq::error_t& e) {
        log->error("transport I/O error: {}", e.what());
      }
      now = Clock::now();
      expire(now);
      flush_batch_replies();
      flush_peer_batches();
      if (now >= next_housekeeping) {
        close_idle_peers(now);
        compact_deadlines();
        next_housekeeping = now + kHousekeeping;
      }
    }
  }

  void rebuild_items() {
    items.clear();
    item_peers.clear();
    items.push_back({router.handle(), 0, ZMQ_POLLIN, 0});
    items.push_back({nullptr, wake_fd, ZMQ_POLLIN, 0});
    for (auto& [host, peer] : peers) {
      items.push_back({peer->socket.handle(), 0, ZMQ_POLLIN, 0});
      item_peers.push_back(peer.get());
    }
    items_dirty = false;
  }

  // Takes what other threads queued. False when the transport is stopping.
  bool drain_inbox() {
    std::uint64_t count;
    [[maybe_unused]] auto n = ::read(wake_fd, &count, sizeof count);
    {
      std::lock_guard lock(mu);
      if (state != State::kRunning) return false;
      io_calls.swap(calls);
      io_replies.swap(replies);
      signaled = false;
    }
    for (auto& out : io_replies) deliver(std::move(out.envelope), std::move(out.frame));
    io_replies.clear();
    for (auto& call : io_calls) start_call(call);
    io_calls.clear();
    return true;
  }

  // ---- server side ----

  void serve_router() {
    for (int i = 0; i < kBatch; ++i) {
      zmq::message_t frame;
      if (!router.recv(frame, zmq::recv_flags::dontwait)) return;
      serve_one(std::move(frame));
    }
  }

  // Reads the rest of the multipart message starting with `first` and answers it.
  void serve_one(zmq::message_t&& first) {
    Envelope env;
    RequestFramer framer;
    zmq::message_t payload;
    auto take = [&](zmq::message_t&& f) {
      switch (framer.take(f.size())) {
        case RequestFramer::Role::kEnvelope:
          env.push(std::move(f));
          break;
        case RequestFramer::Role::kPayload:
          payload = std::move(f);
          break;
        case RequestFramer::Role::kDelimiter:
        case RequestFramer::Role::kIgnored:
          break;
      }
    };
    bool more = first.more();
    take(std::move(first));
    while (more) {
      zmq::message_t f;
      if (!router.recv(f, zmq::recv_flags::dontwait)) break;  // parts arrive together
      more = f.more();
      take(std::move(f));
    }

    const RequestFramer::Outcome outcome = framer.finish(payload.size(), config.max_frame_bytes);
    if (outcome.verdict == RequestFramer::Verdict::kDrop) return reject_silently(outcome.why);
    if (outcome.verdict == RequestFramer::Verdict::kReject) return reject(env, outcome.why);
    const auto type = static_cast<MessageType>(static_cast<const char*>(payload.data())[0]);
    if (type == msg::kBatch) {
      serve_batch(std::move(env), view(payload));
      // Its answers leave now: the client reads them while the next batch is served.
      return flush_batch_replies();
    }
    dispatch(std::move(env), Message{type, std::string(view(payload).substr(1))});
  }

  // Serves each entry of a batch frame as a request of its own whose reply
  // joins the batch reply behind `env`. A malformed batch is refused whole.
  void serve_batch(Envelope&& env, std::string_view frame) {
    std::size_t entries = 0;
    BatchReader check(frame);
    for (BatchReader::Entry e; check.next(e);) ++entries;
    if (!check.error().empty()) return reject(env, check.error());
    stats.batches().inc();
    stats.batched_requests().inc(entries);
    BatchReader reader(frame);
    for (BatchReader::Entry e; reader.next(e);) {
      Envelope entry = env.copy();
      entry.set_batch_tag(e.tag);
      const auto type = static_cast<MessageType>(e.frame[0]);
      if (type == msg::kBatch) {
        stats.malformed().inc();
        deliver(std::move(entry),
                frame_of(make_error("malformed request: a batch inside a batch")));
        continue;
      }
      dispatch(std::move(entry), Message{type, std::string(e.frame.substr(1))});
    }
  }

  // Hands one request to its handler: inline, on this thread asynchronously,
  // or on the worker pool (admitted within the pending limits first).
  void dispatch(Envelope&& env, Message&& request) {
    const MessageType type = request.type;
    const TransportStats::PerType& counted = stats.of(type);
    counted.received->inc();
    if (type == msg::kBatchProbe) {  // answered here: this transport serves batches
      return deliver(std::move(env), frame_of(Message{type, std::string(kBatchProbeYes)}));
    }
    if (handler.is_inline(type)) {
      Message reply = handle_safely(request);
      if (reply.type == msg::kErr) counted.errors->inc();
      deliver(std::move(env), frame_of(reply));
    } else if (std::string why = admit(request.payload.size()); !why.empty()) {
      stats.busy().inc();
      counted.errors->inc();
      deliver(std::move(env), frame_of(make_error(why)));
    } else if (handler.is_inline_async(type)) {
      serve_async(std::move(env), std::move(request));
    } else {
      pool.submit(std::make_unique<ServerTask>(this, std::move(env), std::move(request)));
    }
  }

  // Runs the handler's handle_async() for `request` (admitted) on this thread
  // (the I/O thread, or a worker); the answer is sent when it comes, at once
  // when it comes on the I/O thread, else through the reply queue. The
  // request's room is held until then. Any thread.
  void serve_async(Envelope&& env, Message&& request) {
    // One allocation per request: the envelope, what the answer needs and the
    // at-most-once guard (which answers Err if the handler drops it).
    class Served {
     public:
      Served(Impl* impl, Envelope&& env, MessageType type, std::size_t bytes)
          : impl_(impl), env_(std::move(env)), type_(type), bytes_(bytes) {}
      ~Served() {
        answer(make_error("internal error: the handler dropped the request without answering"));
      }
      Served(const Served&) = delete;
      Served& operator=(const Served&) = delete;
      void answer(Message reply) {
        if (answered_.exchange(true)) return;
        impl_->release(bytes_);
        if (reply.type == msg::kErr) impl_->stats.of(type_).errors->inc();
        impl_->post_reply(Outbound{std::move(env_), frame_of(reply)});
      }

     private:
      Impl* impl_;
      Envelope env_;
      MessageType type_;
      std::size_t bytes_;
      std::atomic<bool> answered_{false};
    };
    auto served =
        std::make_shared<Served>(this, std::move(env), request.type, request.payload.size());
    call_handler(std::move(request), [served](Message reply) { served->answer(std::move(reply)); });
  }

  // Takes room for a request of `bytes` within the pending limits; "" when
  // there was room, else the "busy" text of the Err reply. I/O thread only
  // (the only thread that takes room; any thread releases it).
  std::string admit(std::size_t bytes) {
    const std::size_t count = pending_count.load(std::memory_order_relaxed);
    const std::size_t held = pending_bytes.load(std::memory_order_relaxed);
    if (count >= config.max_pending) {
      return "busy: " + std::to_string(count) + " requests pending (limit " +
             std::to_string(config.max_pending) + "); retry later";
    }
    if (held + bytes > config.max_pending_bytes && count > 0) {
      return "busy: " + std::to_string(held) + " bytes of requests pending (limit " +
             std::to_string(config.max_pending_bytes) + "); retry later";
    }
    pending_count.fetch_add(1, std::memory_order_relaxed);
    pending_bytes.fetch_add(bytes, std::memory_order_relaxed);
    return "";
  }

  // Gives back what admit() took for a request of `bytes`. Any thread.
  void release(std::size_t bytes) {
    pending_bytes.fetch_sub(bytes, std::memory_order_relaxed);
    pending_count.fetch_sub(1, std::memory_order_relaxed);
  }

  void reject(Envelope& env, const std::string& why) {
    stats.malformed().inc();
    log->debug("malformed request: {}", why);
    env.send(router, frame_of(make_error("malformed request: " + why)));
  }

  void reject_silently(const std::string& why) {
    stats.malformed().inc();
    log->debug("dropped request: {}", why);
  }

  // Sends `reply` behind `env`, or adds it to this round's batch reply when
  // `env` is a batch entry's. I/O thread only.
  void deliver(Envelope&& env, zmq::message_t&& reply) {
    if (!env.batched()) return env.send(router, std::move(reply));
    BatchReply* into = nullptr;
    for (BatchReply& b : batch_replies) {
      if (b.envelope.same_frames(env)) {
        into = &b;
        break;
      }
    }
    if (into == nullptr) {
      into = &batch_replies.emplace_back();
      into->envelope = env.copy();  // the frames, without the entry's tag
      into->frame.reserve(kBatchReplyReserve);
      into->frame.push_back(static_cast<char>(msg::kBatch));
    }
    const std::string_view bytes = view(reply);
    append_batch_entry(into->frame, env.batch_tag(), static_cast<MessageType>(bytes[0]),
                       bytes.substr(1));
    if (into->frame.size() >= kBatchReplyBytes) {
      send_batch_reply(*into);
      batch_replies.erase(batch_replies.begin() + (into - batch_replies.data()));
    }
  }

  void send_batch_reply(BatchReply& b) { b.envelope.send(router, message_of(std::move(b.frame))); }

  // Sends the batch replies gathered in this poll round. I/O thread only.
  void flush_batch_replies() {
    for (BatchReply& b : batch_replies) send_batch_reply(b);
    batch_replies.clear();
  }

  // ---- client side ----

  // The DEALER for `host`, connecting it on first use; nullptr and `error` set
  // when the address is unusable.
  Peer* peer_for(const std::string& host, std::string& error) {
    if (auto it = peers.find(host); it != peers.end()) return it->second.get();
    if (!valid_peer_address(host)) {
      error = "cannot connect to '" + host + "': not an ip:port address";
      return nullptr;
    }
    try {
      zmq::socket_t s(ctx, zmq::socket_type::dealer);
      s.set(zmq::sockopt::linger, 0);
      s.set(zmq::sockopt::maxmsgsize, max_message_size(config.max_frame_bytes));
      s.set(zmq::sockopt::sndhwm, kPeerQueue);
      if (host.front() == '[') s.set(zmq::sockopt::ipv6, 1);
      s.connect("tcp://" + host);
      auto peer = std::make_unique<Peer>();
      peer->host = host;
      peer->socket = std::move(s);
      peer->last_used = Clock::now();
      Peer* p = peer.get();
      peers.emplace(host, std::move(peer));
      items_dirty = true;
      send_probe(*p);
      return p;
    } catch (const zmq::error_t& e) {
      error = "cannot connect to tcp://" + host + ": " + e.what();
      return nullptr;
    }
  }

  void start_call(Outgoing& call) {
    std::string error;
    Peer* peer = peer_for(call.host, error);
    if (peer == nullptr) return invoke(call.done, Status::Unavailable(std::move(error)), log);
    const std::uint64_t id = next_id++;
    if (peer->batching == Peer::Batching::kYes) {
      // Sent with the other requests to this peer at the end of the round.
      char tag[kCorrelationIdBytes];
      put_correlation_id(id, reinterpret_cast<unsigned char*>(tag));
      if (peer->batch.empty()) {
        peer->batch.reserve(kBatchReplyReserve);
        peer->batch.push_back(static_cast<char>(msg::kBatch));
        batching_peers.push_back(peer);
      }
      append_batch_entry(peer->batch, std::string_view(tag, sizeof tag), call.request.type,
                         call.request.payload);
      peer->batch_ids.push_back(id);
    } else {
      zmq::message_t id_frame(kCorrelationIdBytes);
      put_correlation_id(id, static_cast<unsigned char*>(id_frame.data()));
      zmq::message_t delimiter;
      zmq::message_t payload = frame_of(call.request);
      constexpr auto more = zmq::send_flags::sndmore | zmq::send_flags::dontwait;
      if (!peer->socket.send(id_frame, more)) {
        return invoke(call.done, Status::Unavailable("too many requests queued to " + call.host),
                      log);
      }
      peer->socket.send(delimiter, more);
      peer->socket.send(payload, zmq::send_flags::dontwait);
    }
    ++peer->pending;
    const Clock::time_point now = Clock::now();
    peer->last_used = now;
    stats.of(call.request.type).sent->inc();
    pending.emplace(id, Pending{std::move(call.done), call.deadline, call.timeout, peer,
                                call.request.type, now});
    deadlines.emplace_back(call.deadline, id);
    std::push_heap(deadlines.begin(), deadlines.end(), later);
    if (peer->batch_ids.size() >= kPeerBatchEntries || peer->batch.size() >= kPeerBatchBytes) {
      flush_peer_batch(*peer);
    }
  }

  // Asks a new peer whether it takes batch frames: a batch holding one
  // kBatchProbe, behind its own id. A node of ours answers with a batch whose
  // entry is a kBatchProbe saying kBatchProbeYes; an original node with an
  // Err, or not at all.
  void send_probe(Peer& peer) {
    peer.probe_id = next_id++;
    zmq::message_t id_frame(kCorrelationIdBytes);
    auto* id = static_cast<unsigned char*>(id_frame.data());
    put_correlation_id(peer.probe_id, id);
    std::string frame(1, static_cast<char>(msg::kBatch));
    append_batch_entry(frame,
                       std::string_view(reinterpret_cast<const char*>(id), kCorrelationIdBytes),
                       msg::kBatchProbe, {});
    constexpr auto more = zmq::send_flags::sndmore | zmq::send_flags::dontwait;
    zmq::message_t delimiter;
    if (!peer.socket.send(id_frame, more)) {
      peer.batching = Peer::Batching::kNo;
      return;
    }
    peer.socket.send(delimiter, more);
    peer.socket.send(message_of(std::move(frame)), zmq::send_flags::dontwait);
    peer.probe_deadline = Clock::now() + kProbeTimeout;
  }

  // Settles `peer`'s batching from the reply to its probe.
  void take_probe_reply(Peer& peer, std::string_view reply) {
    char id[kCorrelationIdBytes];
    put_correlation_id(peer.probe_id, reinterpret_cast<unsigned char*>(id));
    const bool yes = answers_batch_probe(reply, std::string_view(id, sizeof id));
    peer.batching = yes ? Peer::Batching::kYes : Peer::Batching::kNo;
    log->debug("{} {} batch frames", peer.host, yes ? "takes" : "does not take");
  }

  // Sends the requests waiting in `peer`'s batch as one message.
  void flush_peer_batch(Peer& peer) {
    if (peer.batch_ids.empty()) return;
    std::vector<std::uint64_t> ids = std::move(peer.batch_ids);
    peer.batch_ids.clear();
    zmq::message_t frame = message_of(std::move(peer.batch));
    peer.batch.clear();
    constexpr auto more = zmq::send_flags::sndmore | zmq::send_flags::dontwait;
    zmq::message_t delimiter;
    if (peer.socket.send(delimiter, more)) {
      peer.socket.send(frame, zmq::send_flags::dontwait);
      return;
    }
    // The peer's queue is full: every request of the batch fails now.
    for (std::uint64_t id : ids) {
      auto it = pending.find(id);
      if (it == pending.end()) continue;
      ReplyCallback done = std::move(it->second.done);
      pending.erase(it);
      --peer.pending;
      invoke(done, Status::Unavailable("too many requests queued to " + peer.host), log);
    }
  }

  // Sends the batches of requests started in this poll round. I/O thread only.
  void flush_peer_batches() {
    // A callback run by a failed batch may start calls: take the list first.
    std::vector<Peer*> flushing;
    flushing.swap(batching_peers);
    for (Peer* p : flushing) flush_peer_batch(*p);
  }

  static bool later(const std::pair<Clock::time_point, std::uint64_t>& a,
                    const std::pair<Clock::time_point, std::uint64_t>& b) {
    return a.first > b.first;
  }

  // Reads up to kBatch replies from `peer`; returns how many it read (kBatch:
  // more may be waiting).
  int read_peer(Peer& peer) {
    for (int i = 0; i < kBatch; ++i) {
      zmq::message_t frames[3];
      std::size_t n = 0;
      bool more = true;
      while (more) {
        zmq::message_t f;
        if (!peer.socket.recv(f, zmq::recv_flags::dontwait)) {
          if (n == 0) return i;
          break;
        }
        more = f.more();
        if (n < 3) frames[n] = std::move(f);
        ++n;
      }
      if (n == 2 && frames[0].size() == 0) {  // [empty][batch reply]
        const std::string_view frame = view(frames[1]);
        BatchReader reader(frame);
        for (BatchReader::Entry e; reader.next(e);) {
          if (e.tag.size() != kCorrelationIdBytes) continue;
          std::uint64_t id = 0;
          for (char c : e.tag) id = (id << 8) | static_cast<unsigned char>(c);
          complete_call(peer, id, Message::from_frame(e.frame));
        }
        if (!reader.error().empty()) {
          log->debug("malformed batch reply from {}: {}", peer.host, reader.error());
        }
        continue;
      }
      std::optional<ReceivedReply> reply =
          decode_reply(n, view(frames[0]), view(frames[1]), view(frames[2]), peer.host);
      if (!reply) {
        log->debug("dropped malformed reply from {} ({} frames)", peer.host, n);
        continue;
      }
      if (reply->id == peer.probe_id && peer.batching == Peer::Batching::kUnknown) {
        take_probe_reply(peer, view(frames[2]));
        continue;
      }
      complete_call(peer, reply->id, std::move(reply->message));
    }
    return kBatch;
  }

  // Completes the call `id` to `peer` with `reply`; a reply to an unknown
  // call (timed out already) is dropped.
  void complete_call(Peer& peer, std::uint64_t id, Result<Message> reply) {
    auto it = pending.find(id);
    if (it == pending.end()) {
      log->debug("dropped reply from {} to unknown request {}", peer.host, id);
      return;
    }
    ReplyCallback done = std::move(it->second.done);
    const Clock::time_point now = Clock::now();
    stats.of(it->second.type).latency->observe(now - it->second.sent);
    pending.erase(it);
    --peer.pending;
    peer.last_used = now;
    invoke(done, std::move(reply), log);
  }

  // Reads every reply waiting on every peer socket.
  void read_all_peers() {
    std::vector<Peer*> all;
    all.reserve(peers.size());
    for (auto& [host, peer] : peers) all.push_back(peer.get());
    for (Peer* p : all) {
      while (read_peer(*p) == kBatch) {
      }
    }
  }

  void expire(Clock::time_point now) {
    bool drained = false;
    while (!deadlines.empty() && deadlines.front().first <= now) {
      const std::uint64_t id = deadlines.front().second;
      auto it = pending.find(id);
      if (it != pending.end() && !drained) {
        // A busy loop may have left replies unread (kBatch per peer and
        // round): those that arrived in time are not timeouts. Reading them
        // runs callbacks that may change `pending` and `deadlines`: look again.
        drained = true;
        read_all_peers();
        continue;
      }
      std::pop_heap(deadlines.begin(), deadlines.end(), later);
      deadlines.pop_back();
      if (it == pending.end()) continue;  // answered already
      Pending p = std::move(it->second);
      pending.erase(it);
      --p.peer->pending;
      stats.of(p.type).timeouts->inc();
      invoke(p.done,
             Status::Timeout("request to " + p.peer->host + " timed out after " +
                             std::to_string(p.timeout.count()) + " ms"),
             log);
    }
  }

  // Deadlines of answered calls stay in the heap until due; rebuild it when
  // they outnumber the live ones.
  void compact_deadlines() {
    if (deadlines.size() <= 2 * pending.size() + 1024) return;
    deadlines.clear();
    for (const auto& [id, p] : pending) deadlines.emplace_back(p.deadline, id);
    std::make_heap(deadlines.begin(), deadlines.end(), later);
  }

  void close_idle_peers(Clock::time_point now) {
    for (auto& [host, peer] : peers) {
      if (peer->batching == Peer::Batching::kUnknown && now >= peer->probe_deadline) {
        peer->batching = Peer::Batching::kNo;  // no answer: one request per message
      }
    }
    for (auto it = peers.begin(); it != peers.end();) {
      if (it->second->pending == 0 && now - it->second->last_used >= kPeerIdle) {
        log->debug("closing idle connection to {}", it->first);
        it = peers.erase(it);
        items_dirty = true;
      } else {
        ++it;
      }
    }
  }

  // Fails every call in flight or queued, and closes every socket.
  void shutdown() {
    {
      std::lock_guard lock(mu);
      // Nothing is queued after this: state is kStopping, or the loop failed.
      io_done = true;
      for (auto& c : calls) io_calls.push_back(std::move(c));
      calls.clear();
      replies.clear();
    }
    io_replies.clear();
    const Status stopped = Status::Unavailable("transport stopped");
    for (auto& c : io_calls) invoke(c.done, stopped, log);
    io_calls.clear();
    auto in_flight = std::move(pending);
    pending.clear();
    deadlines.clear();
    for (auto& [id, p] : in_flight) invoke(p.done, stopped, log);
    in_flight.clear();
    items.clear();
    item_peers.clear();
    batching_peers.clear();
    peers.clear();
    router.close();
  }

  // Configuration and collaborators.
  const TransportConfig config;
  RequestHandler& handler;
  const std::shared_ptr<spdlog::logger> log;
  const std::unique_ptr<MetricsRegistry> own_metrics;  // when the config names none
  TransportStats stats;
  std::string address;  // written by start() before the I/O thread exists
  zmq::context_t ctx;
  WorkerPool pool;
  // Requests admitted and not yet answered, and their payload bytes.
  std::atomic<std::size_t> pending_count{0};
  std::atomic<std::size_t> pending_bytes{0};
  std::mutex stop_mu;  // serialises the joining part of stop()
  std::thread io;
  int wake_fd = -1;

  // Shared with other threads; guarded by mu.
  std::mutex mu;
  State state = State::kNew;
  std::vector<Outgoing> calls;
  std::vector<Outbound> replies;
  bool signaled = false;  // wake_fd written since the I/O thread last drained
  bool io_done = false;   // the I/O thread has stopped taking work (written by it
                          // only, so it reads it without the lock)

  // Owned by the I/O thread (and by start() before it runs).
  zmq::socket_t router;
  std::vector<Outgoing> io_calls;
  std::vector<Outbound> io_replies;
  std::unordered_map<std::string, std::unique_ptr<Peer>> peers;
  std::unordered_map<std::uint64_t, Pending> pending;
  std::vector<std::pair<Clock::time_point, std::uint64_t>> deadlines;  // min-heap
  std::uint64_t next_id = 1;
  std::vector<zmq_pollitem_t> items;
  std::vector<Peer*> item_peers;  // item_peers[i] polls at items[i + 2]
  bool items_dirty = true;
  // Batch replies being filled in this poll round, one per envelope.
  std::vector<BatchReply> batch_replies;
  // Peers whose batch holds requests started in this poll round.
  std::vector<Peer*> batching_peers;

  // Last: unregistered first, while the pool it reads still exists.
  CollectorHandle pool_gauges;
};

#ifdef DENDRITE_TSAN
// libzmq (not built with TSan) hands messages and commands between the
// application's threads and its own I/O threads through lock-free queues that
// TSan cannot see, so it reports races on every message buffer. Suppress those
// whose stacks run through libzmq; races in our own code are still reported.
// Weak, so a program that brings its own suppressions keeps them.
extern "C" __attribute__((weak)) const char* __tsan_default_suppressions() {
  return "race:libzmq.so\n";
}
#endif

ZmqTransport::ZmqTransport(TransportConfig config, RequestHandler& handler)
    : impl_(std::make_unique<Impl>(std::move(config), handler)) {}

ZmqTransport::~ZmqTransport() {
  impl_->stop();
}

Status ZmqTransport::start() {
  return impl_->start();
}

void ZmqTransport::stop() {
  impl_->stop();
}

const std::string& ZmqTransport::address() const {
  return impl_->address;
}

void ZmqTransport::call_async(const std::string& host, Message request, Milliseconds timeout,
                              ReplyCallback done) {
  impl_->call_async(host, std::move(request), timeout, std::move(done));
}

Result<Message> ZmqTransport::call(const std::string& host, const Message& request,
                                   Milliseconds timeout) {
  return impl_->call(host, request, timeout);
}

std::size_t ZmqTransport::worker_count() const {
  return impl_->pool.worker_count();
}

std::size_t ZmqTransport::busy_workers() const {
  return impl_->pool.busy_workers();
}

TransportStats& ZmqTransport::stats() {
  return impl_->stats;
}

}  // namespace dendrite::host
