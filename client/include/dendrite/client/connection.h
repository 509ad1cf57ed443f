// A client connection to one Dendrite node: one ZeroMQ DEALER socket with many
// requests in flight, matched to their replies by a correlation frame
// ([8-byte id][empty][type + payload], docs/wire.md). Used by dendrite-cli and
// by programs that talk to a ring from outside it. Node addresses are checked
// with dendrite::check_peer_address (dendrite/address.h).
#pragma once

#include <memory>
#include <string>

#include "dendrite/address.h"
#include "dendrite/client/credentials.h"
#include "dendrite/host.h"
#include "dendrite/message.h"
#include "dendrite/status.h"

namespace dendrite::client {

// Kept for programs written against earlier releases.
[[deprecated("use dendrite::check_peer_address (dendrite/address.h)")]] inline Status
check_node_address(const std::string& node) {
  return check_peer_address(node);
}

// One I/O thread, with one ZeroMQ context, that serves any number of
// connections: it sends their requests, reads their replies and runs their
// callbacks. Connections that share a loop hand requests to each other
// without a thread wake-up (a callback of one that sends on another), so a
// client that talks to many nodes should open all its connections on one.
// Thread-safe. The thread runs until this handle and every connection opened
// on it are gone.
class ConnectionLoop {
 public:
  // Starts the thread. Errors: Internal when the thread's wake-up descriptor
  // or its ZeroMQ context cannot be set up.
  static Result<std::shared_ptr<ConnectionLoop>> start();

  ~ConnectionLoop();
  ConnectionLoop(const ConnectionLoop&) = delete;
  ConnectionLoop& operator=(const ConnectionLoop&) = delete;

  struct Impl;

 private:
  friend class Connection;
  explicit ConnectionLoop(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

// Thread-safe: any thread may call request() / request_async() concurrently.
// Served by a ConnectionLoop, which sends, receives, routes replies by id and
// expires requests at their deadline.
class Connection {
 public:
  // Connects to `node` ("host:port") over tcp, on a loop of its own.
  // Connecting is lazy: an unreachable node is not an error here, its
  // requests time out instead. Errors: InvalidArgument for a malformed
  // address, Internal when ZeroMQ cannot set up the socket.
  static Result<std::unique_ptr<Connection>> open(const std::string& node);
  // The same, served by `loop` (which it keeps running while it lives).
  static Result<std::unique_ptr<Connection>> open(const std::string& node,
                                                  const std::shared_ptr<ConnectionLoop>& loop);
  // The same over CURVE with `credentials` (nullptr = plaintext): encrypted,
  // and let in only when the node lists the client's key. A node that
  // refuses the handshake fails the requests in flight at once with
  // Unavailable saying why (our key unknown to it, CURVE on one side only, a
  // wrong server key for it). Errors also: InvalidArgument when the
  // credentials list no server key for `node`.
  static Result<std::unique_ptr<Connection>> open(const std::string& node,
                                                  const std::shared_ptr<ConnectionLoop>& loop,
                                                  std::shared_ptr<const Credentials> credentials);
  static Result<std::unique_ptr<Connection>> open(const std::string& node,
                                                  std::shared_ptr<const Credentials> credentials);

  // Closes the socket. Requests still pending complete with Unavailable
  // ("connection closed") before the destructor returns. Must not run on the
  // loop's thread (i.e. not from a callback of any connection of its loop).
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // The node this connection talks to, as given to open().
  const std::string& node() const;

  // Sends `request` and waits for its reply, at most `timeout`. Returns the
  // reply message; an Err reply is returned as a message (see error_of()).
  // Errors: Timeout when no reply came in time, Unavailable when the
  // connection is closed or its send queue is full. Must not be called from a
  // callback of this connection.
  Result<Message> request(const Message& request, Milliseconds timeout);

  // Like request() but returns at once. `done` runs exactly once, on the
  // loop's thread (or on the calling thread when the connection is
  // already closing), with the reply or the error. `done` must not block, throw
  // (what it throws on the loop's thread is caught and dropped) or destroy a
  // connection; it may issue further request_async(), on this connection or
  // any other.
  void request_async(Message request, Milliseconds timeout, ReplyCallback done);

 private:
  struct Impl;
  friend struct ConnectionLoop::Impl;
  explicit Connection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dendrite::client
