// A client connection to one Dendrite node: one ZeroMQ DEALER socket with many
// requests in flight, matched to their replies by a correlation frame
// ([8-byte id][empty][type + payload], WIRE.md). Used by dendrite-cli and by
// programs that talk to a ring from outside it.
#pragma once

#include <memory>
#include <string>

#include "dendrite/host.h"
#include "dendrite/message.h"
#include "dendrite/status.h"

namespace dendrite::client {

// Checks a node address "host:port" (port 1..65535). Errors: InvalidArgument
// naming the address.
Status check_node_address(const std::string& node);

// Thread-safe: any thread may call request() / request_async() concurrently.
// Owns one I/O thread that sends, receives, routes replies by id and expires
// requests at their deadline.
class Connection {
 public:
  // Connects to `node` ("host:port") over tcp. Connecting is lazy: an
  // unreachable node is not an error here, its requests time out instead.
  // Errors: InvalidArgument for a malformed address, Internal when ZeroMQ
  // cannot set up the socket.
  static Result<std::unique_ptr<Connection>> open(const std::string& node);

  // Closes the socket. Requests still pending complete with Unavailable
  // ("connection closed") before the destructor returns. Must not run on the
  // connection's own I/O thread (i.e. not from one of its callbacks).
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
  // connection's I/O thread (or on the calling thread when the connection is
  // already closing), with the reply or the error. `done` must not block and
  // must not destroy this connection; it may issue further request_async().
  void request_async(Message request, Milliseconds timeout, ReplyCallback done);

 private:
  struct Impl;
  explicit Connection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dendrite::client
