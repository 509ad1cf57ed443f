// The ZeroMQ transport: a ROUTER server with an adaptive worker pool, and a
// client that keeps one request channel (wire::PeerChannel) per peer and
// multiplexes requests on it with a correlation frame (docs/wire.md
// "Framing"). Wire-compatible with the original's REQ/REP.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dendrite/metrics.h"
#include "dendrite/status.h"
#include "host/access_policy.h"
#include "host/network.h"

namespace dendrite::host {

struct WorkerPoolConfig {
  int min = 10;              // workers kept even when idle
  int max = 1024;            // upper bound
  Milliseconds idle{10000};  // a worker above `min` idle this long exits
};

struct TransportConfig {
  std::string listen = "127.0.0.1:5000";  // bind address ("ip:port"; port 0 = ephemeral)
  std::string advertise;                  // empty = the bound address
  WorkerPoolConfig workers;
  std::size_t max_frame_bytes = 64u << 20;  // larger frames get an Err reply
  // Requests taken in and not yet answered (queued for a worker, running, or
  // answered later by an async handler), by count and by payload bytes. A
  // request beyond either gets an Err "busy" reply at once, so a flood cannot
  // grow the node's memory without bound. Inline types are answered on the I/O
  // thread and need no room.
  std::size_t max_pending = 10000;
  std::size_t max_pending_bytes = 256u << 20;
  // CURVE keys and allow-lists: with them every connection, served and made,
  // is encrypted and authenticated, and clients' keys may send only the types
  // RequestHandler::client_may_send() allows. nullptr = plaintext.
  std::shared_ptr<const AccessPolicy> access;
  // Protected mode (an open ring listening beyond loopback): requests of
  // plugin types and kForgetHost from a peer that is neither on loopback nor
  // at the address of one of `ring_hosts()` get an Err reply. `ring_hosts`
  // ("host:port" of the ring's hosts and seeds) is asked on the I/O thread
  // about once a second; it must be thread-safe and quick.
  bool protected_mode = false;
  std::function<std::vector<std::string>()> ring_hosts;
  // The least time a request to an original node (PeerDialect::kOriginal)
  // may take: its handlers block for seconds (Notify pings its successors,
  // SetItem waits for its replicas), and its socket timeouts are 2 s per hop.
  Milliseconds original_timeout{10000};
  // Where the transport's statistics go (it must outlive the transport);
  // nullptr = a registry of the transport's own.
  MetricsRegistry* metrics = nullptr;
};

class Refusals;
class TransportStats;

// Thread-safe after start().
class ZmqTransport final : public Network {
 public:
  // `handler` answers incoming requests (and local ones); it must outlive the
  // transport.
  ZmqTransport(TransportConfig config, RequestHandler& handler);
  ~ZmqTransport() override;  // stops

  // Binds and starts the I/O thread. Errors: Unavailable("cannot bind ...").
  // After it address() is the advertised (or bound) "ip:port".
  Status start();

  // Stops serving: pending calls complete with Unavailable, workers are joined.
  // Idempotent.
  void stop();

  const std::string& address() const override;
  void call_async(const std::string& host, Message request, Milliseconds timeout,
                  ReplyCallback done) override;
  Result<Message> call(const std::string& host, const Message& request,
                       Milliseconds timeout) override;
  // What `host` answered the batch probe with (kUnknown until it did).
  PeerDialect dialect(const std::string& host) const override;

  // Current worker count and how many are busy (for tests and metrics).
  std::size_t worker_count() const;
  std::size_t busy_workers() const;
  // The transport's statistics (the node names plugin message types there).
  TransportStats& stats();
  // The security refusals it counted and logged.
  Refusals& refusals();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dendrite::host
