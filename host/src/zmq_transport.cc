// ZmqTransport: one I/O thread owns every socket (the ROUTER that serves and
// one DEALER per peer host) and polls them together with an eventfd that other
// threads use to hand it work (new calls, replies computed by workers).
//
// Server: [identity][envelope...][empty][payload] -> the handler (inline on the
// I/O thread or on the worker pool) -> [identity][envelope...][empty][reply].
// Client: one wire::PeerChannel per peer host (the request side of the
// protocol, shared with the client library), polled by the same thread.

#include <pthread.h>

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
#include <unordered_set>
#include <utility>
#include <vector>

#include <zmq.hpp>

#include "dendrite/address.h"
#include "dendrite/batch_frame.h"
#include "dendrite/wire/frame_codec.h"
#include "dendrite/wire/peer_channel.h"
#include "dendrite/wire/socket_events.h"
#include "dendrite/wire/wakeup.h"
#include "dendrite/wire/zmq_frames.h"
#include "host/logging.h"
#include "host/refusals.h"
#include "host/transport_stats.h"
#include "host/worker_pool.h"
#include "host/zap_handler.h"
#include "host/zmq_transport.h"

namespace dendrite::host {
namespace {

using Clock = std::chrono::steady_clock;
using wire::frame_of;
using wire::kCorrelationIdBytes;
using wire::kMaxEnvelopeFrames;
using wire::message_of;
using wire::PeerChannel;
using wire::RequestFramer;
using wire::view;

// Messages read from one socket per poll round, so no socket starves others.
constexpr int kBatch = 256;
// A DEALER with nothing pending and unused this long is closed.
constexpr auto kPeerIdle = std::chrono::seconds(60);
// The poll loop wakes at least this often (idle peers, stale deadlines).
constexpr auto kHousekeeping = std::chrono::milliseconds(1000);
// Messages queued to one peer before the ROUTER drops more replies (see
// open()) or a peer's channel refuses more requests ("send queue ... is full").
constexpr int kPeerQueue = 100000;
// Poll items before the peers': the ROUTER, the wake-up, the ROUTER's events.
constexpr std::size_t kPeerItems = 3;

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

  // Who sent a request, as far as the checks of dispatch() care.
  struct Sender {
    PeerRole role = PeerRole::kNode;
    bool outsider = false;  // protected mode: neither loopback nor a ring host
    std::string ip;         // the peer's address, when a check needed it
  };

  // The entries answering a batch's requests, gathered in one poll round for
  // one envelope (the batch's frames before the delimiter).
  struct BatchReply {
    Envelope envelope;
    std::string frame;  // msg::kBatch, then the entries
  };

  // What each peer answered the batch probe with: written on the I/O thread,
  // read by any (ZmqTransport::dialect). A peer keeps its entry while the
  // process lives (a restart at the same address is asked again when its
  // channel is reopened).
  class Dialects {
   public:
    void set(const std::string& host, PeerDialect dialect) {
      std::lock_guard lock(mu_);
      known_[host] = dialect;
    }
    PeerDialect get(const std::string& host) const {
      std::lock_guard lock(mu_);
      auto it = known_.find(host);
      return it == known_.end() ? PeerDialect::kUnknown : it->second;
    }

   private:
    mutable std::mutex mu_;
    std::unordered_map<std::string, PeerDialect> known_;  // GUARDED_BY(mu_)
  };

  // Tells the transport's statistics about the calls of every peer channel.
  class CallStats final : public wire::CallObserver {
   public:
    CallStats(TransportStats& stats, std::shared_ptr<spdlog::logger> log, Refusals& refusals,
              Dialects& dialects)
        : stats_(stats), log_(std::move(log)), refusals_(refusals), dialects_(dialects) {}
    void sent(MessageType type) override { stats_.of(type).sent->inc(); }
    void answered(MessageType type, Clock::duration latency) override {
      stats_.of(type).latency->observe(latency);
    }
    void timed_out(MessageType type) override { stats_.of(type).timeouts->inc(); }
    void malformed_reply(const std::string& peer, std::string_view why) override {
      log_->debug("dropped malformed reply from {}: {}", peer, why);
    }
    void receive_failed(const std::string& peer, std::string_view what) override {
      log_->warn("receiving from {} failed: {}", peer, what);
    }
    void callback_threw(std::string_view what) override {
      log_->error("reply callback threw: {}", what);
    }
    void refused(const std::string& peer, const Status& why) override {
      refusals_.refused_by(peer, why.message());
    }
    void dialect_known(const std::string& peer, PeerDialect dialect) override {
      if (dialect == PeerDialect::kOriginal && dialects_.get(peer) != PeerDialect::kOriginal) {
        log_->info("{} is an original node: it gets only the original's messages", peer);
      }
      dialects_.set(peer, dialect);
    }

   private:
    TransportStats& stats_;
    std::shared_ptr<spdlog::logger> log_;
    Refusals& refusals_;
    Dialects& dialects_;
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
        refusals(config.metrics ? *config.metrics : *own_metrics),
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

  // The wake-up descriptor closes after this, with the members: a call racing
  // stop() may still notify it.
  ~Impl() { stop(); }

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

  void wake() { wakeup.notify(); }

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
      close_router();
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
      r.set(zmq::sockopt::maxmsgsize, wire::max_message_size(config.max_frame_bytes));
      // A ROUTER drops a reply its peer's queue has no room for. libzmq sees
      // a reader's progress only every half queue, so a client with a few
      // hundred requests in flight can hit the default 1,000 while it reads
      // steadily; the room for replies is bounded by max_pending instead.
      r.set(zmq::sockopt::sndhwm, kPeerQueue);
      if (config.access) {
        zap = std::make_unique<ZapHandler>(ctx, *config.access, refusals);
        if (Status s = zap->start(); !s.ok()) return s;
        r.set(zmq::sockopt::curve_server, 1);
        r.set(zmq::sockopt::curve_secretkey, config.access->own_keys().secret_key);
        r.set(zmq::sockopt::zap_domain, std::string(kZapDomain));
      }
      // Handshakes that fail before the ZAP handler is asked (a peer with
      // the other mechanism, one holding a wrong server key for us).
      zmq::socket_t events = wire::watch_socket(
          ctx, r, ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL);
      try {
        r.bind(endpoint);
      } catch (const zmq::error_t& e) {
        return Status::Unavailable("cannot bind " + endpoint + ": " + e.what());
      }
      std::string bound = r.get(zmq::sockopt::last_endpoint);
      if (bound.rfind("tcp://", 0) == 0) bound.erase(0, 6);
      address = config.advertise.empty() ? bound : config.advertise;
      if (Status s = wakeup.open(); !s.ok()) return s;
      router = std::move(r);
      router_events = std::move(events);
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
    if (zap) zap->stop();
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
    refresh_trusted_ips();
    auto next_housekeeping = Clock::now() + kHousekeeping;
    for (;;) {
      if (items_dirty) rebuild_items();
      auto now = Clock::now();
      auto wake_at = next_housekeeping;
      const std::optional<Clock::time_point> due = next_deadline();
      if (due) wake_at = std::min(wake_at, *due);
      // Requests a failed send's callback started again: they leave now.
      if (!batching_peers.empty()) wake_at = now;
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
        if (items[2].revents & ZMQ_POLLIN) read_router_events();
        for (std::size_t i = kPeerItems; i < items.size(); ++i) {
          if ((items[i].revents & ZMQ_POLLIN) == 0) continue;
          PeerChannel* peer = item_peers[(i - kPeerItems) / 2];
          if ((i - kPeerItems) % 2 == 0) {
            peer->read(kBatch);
          } else {
            peer->read_events();
          }
        }
      } catch (const zmq::error_t& e) {
        log->error("transport I/O error: {}", e.what());
      }
      now = Clock::now();
      if (due && now >= *due) expire(now);
      flush_batch_replies();
      flush_peer_batches();
      if (now >= next_housekeeping) {
        close_idle_peers(now);
        refresh_trusted_ips();
        next_housekeeping = now + kHousekeeping;
      }
    }
  }

  void rebuild_items() {
    items.clear();
    item_peers.clear();
    items.push_back({router.handle(), 0, ZMQ_POLLIN, 0});
    items.push_back({nullptr, wakeup.fd(), ZMQ_POLLIN, 0});
    items.push_back({router_events.handle(), 0, ZMQ_POLLIN, 0});
    for (auto& [host, peer] : peers) {
      items.push_back({peer->socket_handle(), 0, ZMQ_POLLIN, 0});
      items.push_back({peer->events_handle(), 0, ZMQ_POLLIN, 0});
      item_peers.push_back(peer.get());
    }
    items_dirty = false;
  }

  // Takes what other threads queued. False when the transport is stopping.
  bool drain_inbox() {
    wakeup.drain();
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
    // The ROUTER's identity frame carries no connection metadata; the
    // frames read from the connection do.
    const Sender sender = sender_of(payload);
    const auto type = static_cast<MessageType>(static_cast<const char*>(payload.data())[0]);
    if (type == msg::kBatch) {
      serve_batch(std::move(env), view(payload), sender);
      // Its answers leave now: the client reads them while the next batch is served.
      return flush_batch_replies();
    }
    dispatch(std::move(env), Message{type, std::string(view(payload).substr(1))}, sender);
  }

  // Who sent `frame`: the role the ZAP handler gave its connection (every
  // peer is a node on a plaintext ring), and in protected mode whether it is
  // an outsider. The peer's address only when a check may need it.
  Sender sender_of(zmq::message_t& frame) const {
    Sender s;
    if (config.access) {
      const char* user = zmq_msg_gets(frame.handle(), "User-Id");
      s.role = user == nullptr ? PeerRole::kNone : role_of_user_id(user);
    }
    if (s.role == PeerRole::kNode && !config.protected_mode) return s;
    const char* ip = zmq_msg_gets(frame.handle(), "Peer-Address");
    s.ip = ip == nullptr ? std::string("a peer") : std::string(ip);
    s.outsider = config.protected_mode && ip != nullptr && !is_loopback_host(s.ip) &&
                 !trusted_ips.contains(s.ip);
    return s;
  }

  // Protected mode: the hosts of the ring's members and seeds, whose
  // requests are the ring's own. I/O thread only.
  void refresh_trusted_ips() {
    if (!config.protected_mode || !config.ring_hosts) return;
    std::unordered_set<std::string> ips;
    std::vector<std::string> hosts = config.ring_hosts();
    hosts.push_back(address);  // this node's own machine, by its advertised address
    for (const std::string& host : hosts) {
      if (auto hp = parse_host_port(host); hp.ok()) ips.insert(hp->host);
    }
    trusted_ips.swap(ips);
  }

  // Reads the ROUTER's failed handshakes: logged and counted. libzmq names
  // only our endpoint for them, not the peer's.
  void read_router_events() {
    while (const std::optional<wire::SocketEvent> e = wire::next_socket_event(router_events)) {
      const std::uint16_t event = e->event;
      const std::uint32_t value = e->value;
      const std::string peer = "a peer of " + address;
      if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
        // The peer closed the connection in the handshake: a peer that found
        // the other mechanism first and hung up (it may reset the connection
        // before this side read its greeting), or one that went away.
        refusals.refuse(RefusalReason::kBadHandshake, peer,
                        config.access ? "it broke off the handshake (it speaks plaintext, holds a "
                                        "wrong server key for this node, or went away)"
                                      : "it broke off the handshake (it may speak CURVE, which "
                                        "this node does not, or it went away)");
        continue;
      }
      if (event != ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) continue;
      if (value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
        refusals.refuse(RefusalReason::kBadHandshake, peer,
                        config.access ? "it speaks plaintext and this node requires CURVE"
                                      : "it speaks CURVE and this node is plaintext");
      } else if (value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC) {
        refusals.refuse(RefusalReason::kBadHandshake, peer,
                        "its CURVE handshake does not decrypt: it holds a wrong server key for "
                        "this node");
      } else {
        refusals.refuse(RefusalReason::kBadHandshake, peer,
                        "the handshake failed with ZeroMQ protocol error " + wire::hex_text(value));
      }
    }
  }

  void serve_batch(Envelope&& env, std::string_view frame, const Sender& sender) {
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
      dispatch(std::move(entry), Message{type, std::string(e.frame.substr(1))}, sender);
    }
  }

  // Hands one request to its handler: inline, on this thread asynchronously,
  // or on the worker pool (admitted within the pending limits first).
  void dispatch(Envelope&& env, Message&& request, const Sender& sender) {
    const MessageType type = request.type;
    const TransportStats::PerType& counted = stats.of(type);
    counted.received->inc();
    if (type == msg::kBatchProbe) {  // answered here: this transport serves batches
      return deliver(std::move(env), frame_of(Message{type, std::string(kBatchProbeYes)}));
    }
    if (sender.role != PeerRole::kNode && !handler.client_may_send(type)) {
      const std::string why = "message type " + message_type_hex(type) +
                              " may be sent by nodes only, and this connection's key is " +
                              (sender.role == PeerRole::kClient ? "a client's" : "no node's");
      refusals.refuse(RefusalReason::kClientMessage, sender.ip, why);
      counted.errors->inc();
      return deliver(std::move(env), frame_of(make_error("permission denied: " + why)));
    }
    if (sender.outsider && (type > msg::kLastHostType || type == msg::kForgetHost)) {
      const std::string why =
          "this node listens on " + config.listen +
          ", beyond loopback, without security: it takes requests of type " +
          message_type_hex(type) +
          " only from loopback and the ring's hosts (configure security.curve, or set "
          "security.insecure: docs/security.md)";
      refusals.refuse(RefusalReason::kOpenRingWrite, sender.ip, why);
      counted.errors->inc();
      return deliver(std::move(env), frame_of(make_error("refused: " + why)));
    }
    if (handler.runs_inline(type)) {
      Message reply = handle_safely(request);
      if (reply.type == msg::kErr) counted.errors->inc();
      deliver(std::move(env), frame_of(reply));
    } else if (std::string why = admit(request.payload.size()); !why.empty()) {
      stats.busy().inc();
      counted.errors->inc();
      deliver(std::move(env), frame_of(make_error(why)));
    } else if (handler.runs_inline_async(type)) {
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

  // The channel to `host`, opened on first use; nullptr and `error` set when
  // the address is unusable.
  PeerChannel* peer_for(const std::string& host, std::string& error) {
    if (auto it = peers.find(host); it != peers.end()) return it->second.get();
    wire::ChannelOptions options;
    options.max_message_bytes = wire::max_message_size(config.max_frame_bytes);
    options.send_queue = kPeerQueue;
    options.observer = &call_stats;
    options.original_timeout = config.original_timeout;
    if (config.access) {
      auto keys = wire::channel_keys(config.access->identity(), host);
      if (!keys.ok()) {
        error = keys.status().message();
        return nullptr;
      }
      options.curve = std::move(keys).value();
    }
    auto opened = PeerChannel::open(ctx, host, options);
    if (!opened.ok()) {
      error = opened.status().message();
      return nullptr;
    }
    PeerChannel* p = opened->get();
    peers.emplace(host, std::move(opened).value());
    items_dirty = true;
    return p;
  }

  void start_call(Outgoing& call) {
    std::string error;
    PeerChannel* peer = peer_for(call.host, error);
    if (peer == nullptr) return invoke(call.done, Status::Unavailable(std::move(error)), log);
    // Staged requests leave together at the end of the poll round.
    if (peer->call(std::move(call.request), call.timeout, call.deadline, std::move(call.done))) {
      batching_peers.push_back(peer);
    }
  }

  // Sends the batches of requests started in this poll round. I/O thread only.
  void flush_peer_batches() {
    // A callback run by a failed batch may start calls: take the list first.
    std::vector<PeerChannel*> flushing;
    flushing.swap(batching_peers);
    for (PeerChannel* p : flushing) p->flush();
  }

  // Fails the calls that are due on every peer.
  void expire(Clock::time_point now) {
    for (PeerChannel* p : item_peers) p->expire(now);
  }

  // The earliest deadline of any peer's calls.
  std::optional<Clock::time_point> next_deadline() {
    std::optional<Clock::time_point> next;
    for (PeerChannel* p : item_peers) {
      const auto due = p->next_deadline();
      if (due && (!next || *due < *next)) next = due;
    }
    return next;
  }

  void close_idle_peers(Clock::time_point now) {
    for (auto it = peers.begin(); it != peers.end();) {
      if (it->second->pending() == 0 && now - it->second->last_used() >= kPeerIdle) {
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
    batching_peers.clear();
    for (auto& [host, peer] : peers) peer->close(stopped);
    items.clear();
    item_peers.clear();
    batching_peers.clear();
    peers.clear();
    close_router();
  }

  // Stops the ROUTER's monitor (while its reader is open: stopping sends a
  // last event), then closes both.
  void close_router() {
    wire::unwatch_socket(router, router_events);
    router.close();
  }

  // Configuration and collaborators.
  const TransportConfig config;
  RequestHandler& handler;
  const std::shared_ptr<spdlog::logger> log;
  const std::unique_ptr<MetricsRegistry> own_metrics;  // when the config names none
  TransportStats stats;
  Refusals refusals;
  std::string address;  // written by start() before the I/O thread exists
  zmq::context_t ctx;
  WorkerPool pool;
  // Requests admitted and not yet answered, and their payload bytes.
  std::atomic<std::size_t> pending_count{0};
  std::atomic<std::size_t> pending_bytes{0};
  std::mutex stop_mu;  // serialises the joining part of stop()
  std::thread io;
  wire::Wakeup wakeup;
  std::unique_ptr<ZapHandler> zap;  // with config.access; stopped before ctx closes

  // Shared with other threads; guarded by mu.
  std::mutex mu;
  State state = State::kNew;
  std::vector<Outgoing> calls;
  std::vector<Outbound> replies;
  bool signaled = false;  // wakeup notified since the I/O thread last drained
  bool io_done = false;   // the I/O thread has stopped taking work (written by it
                          // only, so it reads it without the lock)

  // Owned by the I/O thread (and by start() before it runs).
  zmq::socket_t router;
  zmq::socket_t router_events;  // the ROUTER's failed handshakes
  std::vector<Outgoing> io_calls;
  std::vector<Outbound> io_replies;
  Dialects dialects;
  CallStats call_stats{stats, log, refusals, dialects};
  std::unordered_map<std::string, std::unique_ptr<PeerChannel>> peers;
  std::vector<zmq_pollitem_t> items;
  std::unordered_set<std::string> trusted_ips;  // protected mode: refresh_trusted_ips()
  // item_peers[i] polls at items[kPeerItems + 2i] (replies) and
  // items[kPeerItems + 2i + 1] (handshake events).
  std::vector<PeerChannel*> item_peers;
  bool items_dirty = true;
  // Batch replies being filled in this poll round, one per envelope.
  std::vector<BatchReply> batch_replies;
  // Peers holding requests started in this poll round, not sent yet.
  std::vector<PeerChannel*> batching_peers;

  // Last: unregistered first, while the pool it reads still exists.
  CollectorHandle pool_gauges;
};

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

PeerDialect ZmqTransport::dialect(const std::string& host) const {
  if (host == impl_->address) return PeerDialect::kOurs;
  return impl_->dialects.get(host);
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

Refusals& ZmqTransport::refusals() {
  return impl_->refusals;
}

}  // namespace dendrite::host
