#include "dendrite/wire/peer_channel.h"

#include <algorithm>
#include <exception>
#include <iterator>
#include <limits>
#include <utility>

#include "dendrite/address.h"
#include "dendrite/batch_frame.h"
#include "dendrite/wire/curve_keys.h"
#include "dendrite/wire/frame_codec.h"
#include "dendrite/wire/socket_events.h"
#include "dendrite/wire/zmq_frames.h"

namespace dendrite::wire {
namespace {

constexpr auto kMore = zmq::send_flags::sndmore | zmq::send_flags::dontwait;
// Room a batch frame starts with, so that it seldom grows (and copies itself).
constexpr std::size_t kBatchReserve = 16u << 10;
// The socket events a channel's monitor reports: how each handshake ended.
constexpr int kHandshakeEvents =
    ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
    ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;

}  // namespace

Result<CurveClientKeys> channel_keys(const CurveIdentity& identity, const std::string& address) {
  std::vector<std::string> server_keys = identity.server_keys_for(address);
  if (server_keys.empty()) {
    return Status::InvalidArgument("no CURVE server key is listed for " + address +
                                   " (add a line '<its public key> " + address +
                                   "' to the nodes list)");
  }
  return CurveClientKeys{identity.own.public_key, identity.own.secret_key, std::move(server_keys)};
}

Result<std::unique_ptr<PeerChannel>> PeerChannel::open(zmq::context_t& ctx,
                                                       const std::string& address,
                                                       const ChannelOptions& options) {
  if (Status s = check_peer_address(address); !s.ok()) return s;
  if (options.curve) {
    const CurveClientKeys& keys = *options.curve;
    if (keys.server_keys.empty()) {
      return Status::InvalidArgument("no CURVE server key given for " + address);
    }
    for (const std::string* key : {&keys.public_key, &keys.secret_key}) {
      if (Status s = check_z85_key(*key); !s.ok()) return s;
    }
    for (const std::string& key : keys.server_keys) {
      if (Status s = check_z85_key(key); !s.ok()) {
        return Status::InvalidArgument("server key of " + address + ": " + s.message());
      }
    }
  }
  try {
    zmq::socket_t s(ctx, zmq::socket_type::dealer);
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::sndhwm, options.send_queue);
    if (options.max_message_bytes >= 0) s.set(zmq::sockopt::maxmsgsize, options.max_message_bytes);
    if (address.front() == '[') s.set(zmq::sockopt::ipv6, 1);
    if (options.curve) {
      s.set(zmq::sockopt::curve_publickey, options.curve->public_key);
      s.set(zmq::sockopt::curve_secretkey, options.curve->secret_key);
    }
    zmq::socket_t events = watch_socket(ctx, s, kHandshakeEvents);
    std::unique_ptr<PeerChannel> channel(
        new PeerChannel(address, std::move(s), std::move(events), options));
    channel->connect();
    channel->send_probe();
    return channel;
  } catch (const zmq::error_t& e) {
    return Status::Unavailable("cannot connect to tcp://" + address + ": " + e.what());
  }
}

PeerChannel::PeerChannel(std::string address, zmq::socket_t socket, zmq::socket_t events,
                         const ChannelOptions& options)
    : address_(std::move(address)),
      endpoint_("tcp://" + address_),
      socket_(std::move(socket)),
      events_(std::move(events)),
      options_(options),
      last_used_(Clock::now()) {}

PeerChannel::~PeerChannel() {
  close(Status::Unavailable("connection to " + address_ + " closed"));
}

void PeerChannel::connect() {
  if (options_.curve) {
    socket_.set(zmq::sockopt::curve_serverkey, options_.curve->server_keys[server_key_]);
  }
  socket_.connect(endpoint_);
  connected_ = true;
}

void PeerChannel::read_events() {
  if (std::optional<Status> why = take_events()) fail_all(*why);
}

std::optional<Status> PeerChannel::take_events() {
  if (closed_) return std::nullopt;
  std::optional<Status> last;
  try {
    while (const std::optional<SocketEvent> e = next_socket_event(events_)) {
      const std::uint16_t event = e->event;
      const std::uint32_t value = e->value;
      if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        refused_.reset();
        continue;
      }
      // A plaintext handshake that fails without detail is a hang-up, not a
      // refusal: ZeroMQ reconnects and the calls wait as before.
      if (!connected_ || (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL && !options_.curve)) {
        continue;
      }
      const Status why = refusal(event, value);
      if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
        server_key_ = (server_key_ + 1) % options_.curve->server_keys.size();
      }
      refused_ = why;
      if (options_.observer) options_.observer->refused(address_, why);
      socket_.disconnect(endpoint_);  // drops what is queued: nothing of it was delivered
      connected_ = false;
      last = why;
    }
  } catch (const zmq::error_t& e) {
    if (options_.observer) options_.observer->receive_failed(address_, e.what());
  }
  return last;
}

Status PeerChannel::queue_full() {
  // A refused handshake takes ZeroMQ's queue to the node away before its
  // event is read (the event comes first): read it now, so that the error
  // says why. The calls already in flight fail once this one has
  // (fail_refused()), not in the middle of a send.
  if (!refused_) {
    if (std::optional<Status> why = take_events()) unfailed_refusal_ = std::move(why);
  }
  // Refused since the last handshake that succeeded: nothing is connected,
  // and the refusal says why better than the queue does.
  if (refused_) return *refused_;
  return Status::Unavailable("send queue to " + address_ + " is full");
}

void PeerChannel::fail_refused() {
  if (!unfailed_refusal_) return;
  const Status why = *std::exchange(unfailed_refusal_, std::nullopt);
  fail_all(why);
}

Status PeerChannel::refusal(std::uint16_t event, std::uint32_t value) const {
  const std::string node = "node " + address_;
  switch (event) {
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
      return Status::Unavailable(node + " refused our CURVE key (authentication status " +
                                 std::to_string(value) +
                                 "): it is on neither its nodes nor its clients list");
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: {
      const std::size_t keys = options_.curve->server_keys.size();
      std::string s = node +
                      " broke off the CURVE handshake: the server key we hold for it is not its "
                      "key (or it closed the connection)";
      if (keys > 1) {
        s += "; the next call tries its server key " +
             std::to_string((server_key_ + 1) % keys + 1) + " of " + std::to_string(keys);
      }
      return Status::Unavailable(s);
    }
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
      if (value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
        return Status::Unavailable(
            options_.curve ? node + " does not speak CURVE: it is a plaintext node"
                           : node + " requires CURVE and this side has no keys (docs/security.md)");
      }
      return Status::Unavailable(node + " failed the handshake: ZeroMQ protocol error " +
                                 hex_text(value));
    default:
      return Status::Unavailable(node + " failed the handshake (ZeroMQ event " + hex_text(event) +
                                 ")");
  }
}

// A batch holding one kBatchProbe, behind its own id. A node of ours answers
// with a batch whose entry is a kBatchProbe saying kBatchProbeYes; an original
// node with an Err, or not at all.
void PeerChannel::send_probe() {
  probe_id_ = next_id_++;
  const std::string id = correlation_frame(probe_id_);
  std::string frame(1, static_cast<char>(msg::kBatch));
  append_batch_entry(frame, id, msg::kBatchProbe, {});
  try {
    if (socket_.send(zmq::buffer(id), kMore)) {
      socket_.send(zmq::message_t(), kMore);
      socket_.send(zmq::buffer(frame), zmq::send_flags::dontwait);
      probe_deadline_ = Clock::now() + options_.probe_timeout;
      return;
    }
  } catch (const zmq::error_t&) {
  }
  batching_ = Batching::kNo;
}

void PeerChannel::settle_probe(std::string_view reply) {
  batching_ =
      answers_batch_probe(reply, correlation_frame(probe_id_)) ? Batching::kYes : Batching::kNo;
  original_ = batching_ == Batching::kNo;
  if (options_.observer != nullptr) {
    options_.observer->dialect_known(address_,
                                     original_ ? PeerDialect::kOriginal : PeerDialect::kOurs);
  }
}

bool PeerChannel::call(Message request, Milliseconds timeout, ReplyCallback done) {
  const auto bounded = std::clamp<Milliseconds>(timeout, Milliseconds(0), std::chrono::hours(24));
  return call(std::move(request), timeout, Clock::now() + bounded, std::move(done));
}

bool PeerChannel::call(Message request, Milliseconds timeout, Clock::time_point deadline,
                       ReplyCallback done) {
  if (closed_) {
    run(done, *closed_);
    return false;
  }
  if (!connected_) {  // a handshake was refused: try again
    try {
      connect();
    } catch (const zmq::error_t& e) {
      run(done, Status::Unavailable("cannot connect to " + endpoint_ + ": " + e.what()));
      return false;
    }
    if (batching_ == Batching::kUnknown) send_probe();
  }
  if (original_ && timeout < options_.original_timeout) {
    deadline += options_.original_timeout - timeout;
    timeout = options_.original_timeout;
  }
  const std::uint64_t id = next_id_++;
  if (batching_ == Batching::kYes) {
    const bool first = !staged_one_ && batch_ids_.empty();
    track(id, request.type, timeout, deadline, std::move(done));
    stage(id, std::move(request));
    return first;
  }
  if (Status s = send_plain(id, request); !s.ok()) {
    run(done, std::move(s));
    fail_refused();
    return false;
  }
  track(id, request.type, timeout, deadline, std::move(done));
  return false;
}

void PeerChannel::track(std::uint64_t id, MessageType type, Milliseconds timeout,
                        Clock::time_point deadline, ReplyCallback&& done) {
  const Clock::time_point now = Clock::now();
  last_used_ = now;
  DeadlineQueue& queue = deadlines_[timeout];
  // In order of deadline; a caller's thread that computed its deadline and
  // was preempted before handing the call over comes in behind later ones.
  auto at = queue.end();
  while (at != queue.begin() && std::prev(at)->first > deadline) --at;
  queue.emplace(at, deadline, id);
  pending_.emplace(id, Pending{std::move(done), timeout, type, now});
  if (options_.observer) options_.observer->sent(type);
}

Status PeerChannel::send_plain(std::uint64_t id, const Message& request) {
  try {
    zmq::message_t id_frame(kCorrelationIdBytes);
    put_correlation_id(id, static_cast<unsigned char*>(id_frame.data()));
    if (!socket_.send(id_frame, kMore)) return queue_full();
    // Once the first part is queued, the rest of the message is queued too.
    socket_.send(zmq::message_t(), kMore);
    socket_.send(frame_of(request), zmq::send_flags::dontwait);
    return Status::Ok();
  } catch (const zmq::error_t& e) {
    return Status::Unavailable("cannot send to " + address_ + ": " + e.what());
  }
}

void PeerChannel::stage(std::uint64_t id, Message&& request) {
  if (!staged_one_ && batch_ids_.empty()) {
    staged_one_.emplace(id, std::move(request));
    return;
  }
  if (staged_one_) {  // the second request: both go into a batch frame
    batch_.clear();
    batch_.reserve(kBatchReserve);
    batch_.push_back(static_cast<char>(msg::kBatch));
    const auto& [first_id, first] = *staged_one_;
    append_batch_entry(batch_, correlation_frame(first_id), first.type, first.payload);
    batch_ids_.push_back(first_id);
    staged_one_.reset();
  }
  char tag[kCorrelationIdBytes];
  put_correlation_id(id, reinterpret_cast<unsigned char*>(tag));
  append_batch_entry(batch_, std::string_view(tag, sizeof tag), request.type, request.payload);
  batch_ids_.push_back(id);
  if (batch_ids_.size() >= options_.batch_entries || batch_.size() >= options_.batch_bytes) flush();
}

void PeerChannel::flush() {
  if (staged_one_) {
    auto [id, request] = std::move(*staged_one_);
    staged_one_.reset();
    if (Status s = send_plain(id, request); !s.ok()) fail(id, s);
    fail_refused();
    return;
  }
  if (batch_ids_.empty()) return;
  std::vector<std::uint64_t> ids = std::move(batch_ids_);
  batch_ids_.clear();
  zmq::message_t frame = message_of(std::move(batch_));
  batch_.clear();
  Status sent = Status::Ok();
  try {
    if (socket_.send(zmq::message_t(), kMore)) {
      socket_.send(frame, zmq::send_flags::dontwait);
      return;
    }
    sent = queue_full();
  } catch (const zmq::error_t& e) {
    sent = Status::Unavailable("cannot send to " + address_ + ": " + e.what());
  }
  // Nothing of the batch left: every request in it fails now.
  for (std::uint64_t id : ids) fail(id, sent);
  fail_refused();
}

std::size_t PeerChannel::read(std::size_t max) {
  std::size_t n = 0;
  try {
    for (; n < max; ++n) {
      zmq::message_t frames[3];
      std::size_t count = 0;
      bool more = true;
      while (more) {
        zmq::message_t f;
        if (!socket_.recv(f, zmq::recv_flags::dontwait)) {
          if (count == 0) return n;
          break;  // the parts of a message arrive together: a cut one is malformed
        }
        more = f.more();
        if (count < 3) frames[count] = std::move(f);
        ++count;
      }
      take_reply(count, frames);
    }
  } catch (const zmq::error_t& e) {
    if (options_.observer) options_.observer->receive_failed(address_, e.what());
  }
  return n;
}

// [id][empty][reply] answers one call (or the probe); [empty][batch] answers
// the calls whose ids tag its entries.
void PeerChannel::take_reply(std::size_t frame_count, zmq::message_t* frames) {
  if (frame_count == 2 && frames[0].size() == 0) {
    BatchReader reader(view(frames[1]));
    for (BatchReader::Entry e; reader.next(e);) {
      if (e.tag.size() != kCorrelationIdBytes) continue;
      Result<Message> reply = Message::from_frame(e.frame);
      if (!reply.ok())
        reply = Status::Unavailable("malformed reply from " + address_ + ": empty frame");
      complete(get_correlation_id(e.tag), std::move(reply));
    }
    if (!reader.error().empty() && options_.observer) {
      options_.observer->malformed_reply(address_, reader.error());
    }
    return;
  }
  std::optional<ReceivedReply> reply =
      decode_reply(frame_count, view(frames[0]), view(frames[1]), view(frames[2]), address_);
  if (!reply) {
    if (options_.observer) {
      options_.observer->malformed_reply(
          address_, std::to_string(frame_count) + " frames, not [id][empty][reply]");
    }
    return;
  }
  if (reply->id == probe_id_ && batching_ == Batching::kUnknown) {
    settle_probe(view(frames[2]));
    return;
  }
  complete(reply->id, std::move(reply->message));
}

void PeerChannel::complete(std::uint64_t id, Result<Message> reply) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;  // timed out already
  Pending p = std::move(it->second);
  pending_.erase(it);
  const Clock::time_point now = Clock::now();
  last_used_ = now;
  if (options_.observer) options_.observer->answered(p.type, now - p.started);
  run(p.done, std::move(reply));
}

void PeerChannel::fail(std::uint64_t id, const Status& why) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  ReplyCallback done = std::move(it->second.done);
  pending_.erase(it);
  run(done, why);
}

void PeerChannel::run(ReplyCallback& done, Result<Message> result) {
  if (!done) return;
  try {
    done(std::move(result));
  } catch (const std::exception& e) {
    if (options_.observer) options_.observer->callback_threw(e.what());
  } catch (...) {
    if (options_.observer) options_.observer->callback_threw("a non-standard exception");
  }
}

std::optional<Clock::time_point> PeerChannel::next_deadline() {
  std::optional<Clock::time_point> next;
  for (auto q = deadlines_.begin(); q != deadlines_.end();) {
    DeadlineQueue& queue = q->second;
    // Answered calls behind a slow one stay until it leaves: drop them once
    // they outnumber the calls in flight.
    if (queue.size() > 2 * pending_.size() + 1024) {
      std::erase_if(queue, [this](const auto& e) { return !pending_.contains(e.second); });
    }
    while (!queue.empty() && !pending_.contains(queue.front().second)) queue.pop_front();
    if (queue.empty()) {
      q = deadlines_.erase(q);
      continue;
    }
    if (!next || queue.front().first < *next) next = queue.front().first;
    ++q;
  }
  if (batching_ == Batching::kUnknown && (!next || probe_deadline_ < *next)) next = probe_deadline_;
  return next;
}

void PeerChannel::expire(Clock::time_point now) {
  if (batching_ == Batching::kUnknown && now >= probe_deadline_) {
    batching_ = Batching::kNo;  // no answer: one request per message
  }
  const std::optional<Clock::time_point> due = next_deadline();
  if (!due || *due > now) return;
  // A busy owner may have left replies unread; those that came are no timeouts.
  read(std::numeric_limits<std::size_t>::max());
  std::vector<Pending> expired;
  for (auto& [timeout, queue] : deadlines_) {
    while (!queue.empty() && queue.front().first <= now) {
      auto it = pending_.find(queue.front().second);
      queue.pop_front();
      if (it == pending_.end()) continue;  // answered
      expired.push_back(std::move(it->second));
      pending_.erase(it);
    }
  }
  // Callbacks last: they may start calls, which add to the queues.
  for (Pending& p : expired) {
    if (options_.observer) options_.observer->timed_out(p.type);
    run(p.done, Status::Timeout("no reply from " + address_ + " within " +
                                std::to_string(p.timeout.count()) + " ms"));
  }
}

void PeerChannel::fail_all(const Status& why) {
  staged_one_.reset();
  batch_.clear();
  batch_ids_.clear();
  deadlines_.clear();
  auto left = std::move(pending_);
  pending_.clear();
  for (auto& [id, p] : left) run(p.done, why);
}

void PeerChannel::close(const Status& why) {
  if (closed_) return;
  closed_ = why;
  fail_all(why);
  unwatch_socket(socket_, events_);
  socket_.close();
}

}  // namespace dendrite::wire
