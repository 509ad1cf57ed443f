// The host's ZAP handler (ZeroMQ's authentication protocol, RFC 27): libzmq
// asks it, over inproc://zeromq.zap.01 in the transport's context, whether to
// let in each CURVE connection to the node's ROUTER; it answers by the peer's
// public key: a node key is let in as user id "node", a client key as
// "client", any other key is refused (and logged, and counted).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "dendrite/status.h"
#include "host/access_policy.h"
#include "host/refusals.h"

namespace dendrite::host {

// The ZAP domain the node's ROUTER names (ZMQ_ZAP_DOMAIN).
inline constexpr std::string_view kZapDomain = "dendrite";

// What the handler decided about one request, and the reply to send.
struct ZapVerdict {
  std::vector<std::string> reply;  // the reply's frames; empty: no reply possible
  PeerRole role = PeerRole::kNone;
  std::string peer;  // the peer's address as libzmq gave it ("" when unknown)
  // Why the peer was refused ("" when it was let in), and as which reason.
  std::string refusal;
  RefusalReason reason = RefusalReason::kUnknownKey;
};

// Decides one ZAP request given as its frames (version, request id, domain,
// address, routing id, mechanism, credentials...). Any input is safe: a
// malformed request gets a "500" reply, or none when it has no request id to
// answer. Pure; any thread.
ZapVerdict judge_zap_request(const std::vector<std::string_view>& frames,
                             const AccessPolicy& policy);

// Serves ZAP requests on its own thread from start() to stop().
class ZapHandler {
 public:
  // `ctx`, `policy` and `refusals` must outlive the handler.
  ZapHandler(zmq::context_t& ctx, const AccessPolicy& policy, Refusals& refusals);
  ~ZapHandler();  // stops
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  // Binds inproc://zeromq.zap.01 and starts the thread; call before any CURVE
  // socket of `ctx` binds. Unavailable when the endpoint cannot be bound
  // (another handler holds it). Call once.
  Status start();
  // Joins the thread (within the handler's poll interval) and closes the
  // socket. Idempotent; any thread but the handler's.
  void stop();

 private:
  void run();

  zmq::context_t& ctx_;
  const AccessPolicy& policy_;
  Refusals& refusals_;
  zmq::socket_t socket_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace dendrite::host
