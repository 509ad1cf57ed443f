// The front end's TCP server: accepts Redis clients, splits what they send
// into commands, runs each (inline, or on a worker thread when it calls the
// Table) one at a time per connection, and writes the replies in order.
//
// Threads: one I/O thread (Boost.Asio) owns every connection; `workers`
// threads run commands on keys. Memory per connection is bounded: an idle one
// holds no read buffer, unread replies above Settings::output_buffer_bytes
// stop its input from being read, unparsed input above
// Settings::max_query_buffer_bytes closes it.
//
// Boost.Asio stays inside server.cc: this header declares no Asio type.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "commands.h"
#include "dendrite/status.h"

namespace dendrite::resp {

class Server {
 public:
  // `ctx` must outlive the server; its `clients` and `stats` are set by start().
  explicit Server(CommandContext& ctx);
  ~Server();  // stop()s
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds ctx.settings' address and starts the threads. Unavailable with the
  // OS's reason when the address cannot be bound. Call once.
  Status start();
  // Closes every connection and joins the threads. Idempotent.
  void stop();

  // The bound address ("127.0.0.1:6380"); valid after start().
  std::string address() const;
  // Open connections now.
  std::size_t connections() const;

  // The implementation (server.cc), named here so connections can refer to it.
  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace dendrite::resp
