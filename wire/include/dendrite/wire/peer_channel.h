// A request channel to one node: a ZeroMQ DEALER on which many requests are in
// flight at once, each sent as [8-byte id][empty][type + payload] and matched
// to its reply by that id (docs/wire.md "Framing"), each with a deadline. The
// one implementation of the request side of the protocol: the node's transport
// keeps one per peer host, the client library one per connection.
//
// When the channel opens it asks the node whether it takes batch frames (a
// batch holding one kBatchProbe). Until a yes comes, every request is its own
// message; after it, requests started between two flush() calls leave as one
// batch frame (a lone request still leaves as a plain message). A node that
// answers with an Err, or not within the probe timeout, gets plain messages
// for good: the original's nodes understand nothing else.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <zmq.hpp>

#include "dendrite/host.h"
#include "dendrite/message.h"
#include "dendrite/status.h"
#include "dendrite/wire/curve_keys.h"

namespace dendrite::wire {

using Clock = std::chrono::steady_clock;

// What a channel tells its owner about its calls, for metrics and logs. Every
// method runs on the channel's thread; the defaults do nothing.
class CallObserver {
 public:
  virtual ~CallObserver() = default;
  // A request of `type` left (or was staged for the next batch).
  virtual void sent(MessageType /*type*/) {}
  // Its reply came `latency` after it was started.
  virtual void answered(MessageType /*type*/, Clock::duration /*latency*/) {}
  // Its deadline passed without a reply.
  virtual void timed_out(MessageType /*type*/) {}
  // A reply that fits no shape of the protocol was dropped.
  virtual void malformed_reply(const std::string& /*peer*/, std::string_view /*why*/) {}
  // Receiving from the peer's socket failed (a ZeroMQ error, e.g. the context
  // is terminating); what had arrived so far was read.
  virtual void receive_failed(const std::string& /*peer*/, std::string_view /*what*/) {}
  // The node refused the connection's handshake; `why` is what the calls in
  // flight failed with.
  virtual void refused(const std::string& /*peer*/, const Status& /*why*/) {}
  // The node answered the batch probe: kOurs when with a yes, kOriginal when
  // with anything else (an Err). Not called when the probe goes unanswered.
  virtual void dialect_known(const std::string& /*peer*/, PeerDialect /*dialect*/) {}
  // A reply callback threw; the channel caught it and went on.
  virtual void callback_threw(std::string_view /*what*/) {}
};

// The keys of a channel that speaks CURVE: its own pair (Z85) and the server
// keys the node may have, tried in order (the next after a handshake fails
// without detail, as a wrong server key does; two during a key roll).
struct CurveClientKeys {
  std::string public_key;
  std::string secret_key;
  std::vector<std::string> server_keys;  // at least one
};

// The keys a channel to `address` speaks with under `identity`.
// InvalidArgument naming the address when no server key is listed for it.
Result<CurveClientKeys> channel_keys(const CurveIdentity& identity, const std::string& address);

struct ChannelOptions {
  // ZMQ_MAXMSGSIZE of the socket (see max_message_size()); -1 = no limit.
  std::int64_t max_message_bytes = -1;
  // Messages ZeroMQ queues for the node (while it is not connected, or slow)
  // before a request fails with Unavailable "send queue ... is full".
  int send_queue = 100000;
  // How long the node may take to answer the batch probe.
  Milliseconds probe_timeout{5000};
  // A batch frame leaves once it holds this many requests or bytes (the
  // node refuses batches of more than kMaxBatchEntries).
  std::size_t batch_entries = 1024;
  std::size_t batch_bytes = 256u << 10;
  // Told about calls; nullptr = nobody. Must outlive the channel.
  CallObserver* observer = nullptr;
  // Once the node answered the probe as an original does (not with a yes),
  // a request waits at least this long, whatever its caller asked: an
  // original's handlers block for seconds. 0 = no minimum.
  Milliseconds original_timeout{0};
  // Speak CURVE with these keys; nullopt = plaintext (ZeroMQ's NULL mechanism).
  std::optional<CurveClientKeys> curve;
};

// Not thread-safe: after open(), one thread (the owner's I/O thread) makes
// every call and runs every callback; the channel may move to another thread
// once, with a memory barrier (a mutex hand-over), as its socket may. A reply
// callback may call() this or any other channel of the thread, but must not
// destroy a channel.
class PeerChannel {
 public:
  // Connects a DEALER in `ctx` to `address` ("host:port", checked with
  // check_peer_address) and sends the batch probe. Connecting is lazy: an
  // unreachable node is not an error here; its requests time out. A node that
  // refuses the connection's handshake (our key unknown to it, CURVE on one
  // side only, a wrong server key) fails the calls in flight at once with
  // Unavailable saying why (see read_events()); the next call connects anew.
  // Errors: InvalidArgument for a malformed address or key, Unavailable when
  // ZeroMQ refuses the socket.
  static Result<std::unique_ptr<PeerChannel>> open(zmq::context_t& ctx, const std::string& address,
                                                   const ChannelOptions& options);

  // Fails what is still pending with Unavailable "connection to <address>
  // closed" (callbacks run here), then closes the socket.
  ~PeerChannel();
  PeerChannel(const PeerChannel&) = delete;
  PeerChannel& operator=(const PeerChannel&) = delete;

  const std::string& address() const { return address_; }
  // The socket, to poll for ZMQ_POLLIN; reading it is read()'s job.
  void* socket_handle() { return socket_.handle(); }
  // The socket's handshake events, to poll for ZMQ_POLLIN; reading them is
  // read_events()'s job.
  void* events_handle() { return events_.handle(); }

  // Reads the handshake events that have arrived, without blocking. A refused
  // handshake fails every call in flight or staged with Unavailable naming the
  // node and the reason, and disconnects (dropping what ZeroMQ still queues);
  // the next call() connects again (with the next server key after a
  // handshake that failed without detail).
  void read_events();
  // Why the last handshake was refused, until one succeeds (tests, logs).
  const std::optional<Status>& refused() const { return refused_; }

  // Starts a request: `done` runs exactly once, with the reply (an Err reply
  // is a message), Timeout "no reply from <address> within <timeout> ms" once
  // `deadline` passed (checked by expire()), or Unavailable when it cannot be
  // sent or the channel closes. Sent at once, or staged for the next flush()
  // when the node takes batches. Returns true when this call staged the
  // channel's first request since the last flush(): the owner must flush()
  // it before it sleeps.
  bool call(Message request, Milliseconds timeout, Clock::time_point deadline, ReplyCallback done);
  // The same with the deadline `timeout` from now (at most a day).
  bool call(Message request, Milliseconds timeout, ReplyCallback done);

  // Sends the staged requests: one as a plain message, more as batch frames.
  void flush();

  // Reads up to `max` messages that have arrived, without blocking, and
  // completes the calls they answer. Returns how many it read (`max`: more
  // may be waiting).
  std::size_t read(std::size_t max);

  // Fails the calls whose deadline is at or before `now`, after reading the
  // replies that already arrived (a reply that came in time is no timeout).
  // Settles on plain messages when the probe went unanswered.
  void expire(Clock::time_point now);

  // The earliest moment expire() has work: a call's deadline or the probe's.
  std::optional<Clock::time_point> next_deadline();

  // Fails every call in flight with `why` and closes the socket; later calls
  // fail at once with `why`. Idempotent.
  void close(const Status& why);

  // Calls started and not yet completed.
  std::size_t pending() const { return pending_.size(); }
  // When a call last started or completed.
  Clock::time_point last_used() const { return last_used_; }
  // Whether the node answered the probe with a yes (for tests and logs).
  bool batches() const { return batching_ == Batching::kYes; }

 private:
  enum class Batching { kUnknown, kYes, kNo };
  struct Pending {
    ReplyCallback done;
    Milliseconds timeout;
    MessageType type;
    Clock::time_point started;
  };
  // Calls by timeout, each queue in order of deadline: calls with one timeout
  // come due in the order they start, so inserting is O(1) (at the back) and
  // a queue per timeout stands in for a heap. Answered calls leave lazily (at
  // the front, when due, or when they outnumber the calls in flight).
  using DeadlineQueue = std::deque<std::pair<Clock::time_point, std::uint64_t>>;

  PeerChannel(std::string address, zmq::socket_t socket, zmq::socket_t events,
              const ChannelOptions& options);

  // Connects the socket (with the current server key under CURVE).
  void connect();
  // What a failed handshake event says, as the error of the calls it fails.
  Status refusal(std::uint16_t event, std::uint32_t value) const;
  // The error of a request the socket would not queue: the last refusal of
  // the handshake when there is one (nothing is connected), else "the send
  // queue is full". Reads the handshake events first: a refusal that came
  // in since the last read_events() is kept for fail_refused().
  Status queue_full();
  // Reads the handshake events that have arrived; a refusal disconnects and
  // is remembered in refused_. Returns the last refusal read, for the owner
  // to fail the calls with; runs no callback.
  std::optional<Status> take_events();
  // Fails every call with the refusal queue_full() read, if any (callbacks
  // run here): the tail of a call() or flush() whose send found no queue.
  void fail_refused();
  void send_probe();
  void settle_probe(std::string_view reply);
  // Sends one request as [id][empty][frame]. Unavailable when it cannot.
  Status send_plain(std::uint64_t id, const Message& request);
  void stage(std::uint64_t id, Message&& request);
  void track(std::uint64_t id, MessageType type, Milliseconds timeout, Clock::time_point deadline,
             ReplyCallback&& done);
  void take_reply(std::size_t frame_count, zmq::message_t* frames);
  void complete(std::uint64_t id, Result<Message> reply);
  // Fails every call in flight or staged with `why`.
  void fail_all(const Status& why);
  void fail(std::uint64_t id, const Status& why);
  void run(ReplyCallback& done, Result<Message> result);

  const std::string address_;
  const std::string endpoint_;  // "tcp://" + address_
  zmq::socket_t socket_;
  zmq::socket_t events_;  // the monitor of socket_'s handshakes
  const ChannelOptions options_;
  bool connected_ = false;
  std::size_t server_key_ = 0;  // index into options_.curve->server_keys
  std::optional<Status> refused_;
  std::optional<Status> unfailed_refusal_;  // read by queue_full(), not yet failed
  Batching batching_ = Batching::kUnknown;
  bool original_ = false;  // the probe was answered, not with a yes
  std::uint64_t probe_id_ = 0;
  Clock::time_point probe_deadline_;
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::uint64_t, Pending> pending_;
  std::map<Milliseconds, DeadlineQueue> deadlines_;
  // Staged for flush(): the first request alone, then (from the second on)
  // all of them in a batch frame.
  std::optional<std::pair<std::uint64_t, Message>> staged_one_;
  std::string batch_;
  std::vector<std::uint64_t> batch_ids_;
  Clock::time_point last_used_;
  std::optional<Status> closed_;
};

}  // namespace dendrite::wire
