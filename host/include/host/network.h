// The network seam of the host: how the ring and host services send requests.
// Implemented by the ZeroMQ transport, and by in-memory networks in tests and
// the simulator, so many nodes can run in one process.
#pragma once

#include <functional>
#include <string>

#include "dendrite/host.h"
#include "dendrite/message.h"
#include "dendrite/status.h"

namespace dendrite::host {

// Sends requests to other hosts. Thread-safe.
class Network {
 public:
  virtual ~Network() = default;

  // This host's advertised "ip:port".
  virtual const std::string& address() const = 0;

  // Sends `request` to `host`; `done` runs exactly once with the reply (possibly
  // an Err message) or Timeout/Unavailable, on a network thread. `done` must not
  // block. A request to address() is handled locally.
  virtual void call_async(const std::string& host, Message request, Milliseconds timeout,
                          ReplyCallback done) = 0;

  // Blocking form of call_async. May be called from any thread except the one
  // that runs `done` callbacks.
  virtual Result<Message> call(const std::string& host, const Message& request,
                               Milliseconds timeout);

  // What `host` is known to speak (see PeerDialect). The default, for
  // in-process networks where every node is ours: kOurs. Thread-safe.
  virtual PeerDialect dialect(const std::string& host) const {
    (void)host;
    return PeerDialect::kOurs;
  }
};

// Handles incoming requests on the server side. Thread-safe.
class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // True when requests of `type` are cheap and never block, so the transport may
  // answer them on its I/O thread instead of a worker.
  virtual bool runs_inline(MessageType type) const = 0;
  // True when handle_async() for `type` never blocks and is quick, so the
  // transport may call it on its I/O thread (the answer may still come later,
  // from a reply callback). Checked for types that are not runs_inline().
  virtual bool runs_inline_async(MessageType type) const {
    (void)type;
    return false;
  }
  // True when a connection let in with a client's key (not a node's) may
  // send requests of `type`: reads and writes of the data, status; never the
  // ring's maintenance. Requests of other types from it get an Err reply. Only
  // asked when the ring runs CURVE. Thread-safe and cheap.
  virtual bool client_may_send(MessageType type) const {
    (void)type;
    return false;
  }
  // Answers one request. Never throws; unknown or malformed requests get an Err
  // reply.
  virtual Message handle(const Message& request) = 0;
  // Answers one request by calling `done` exactly once, possibly later and from
  // another thread. The default calls handle(). `done` must not block.
  virtual void handle_async(Message request, std::function<void(Message)> done) {
    done(handle(request));
  }
};

}  // namespace dendrite::host
