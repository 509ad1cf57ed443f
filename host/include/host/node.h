// A Dendrite node: transport, ring, stabilisation, plugins and host services
// wired together. dendrited is a thin main around it; integration tests run
// several in one process.
#pragma once

#include <memory>
#include <string>

#include "dendrite/metrics.h"
#include "dendrite/status.h"
#include "host/config.h"
#include "host/ring.h"
#include "host/zmq_transport.h"

namespace dendrite::host {

// Why start() failed, for the exit code (docs/contract.md "Exit codes": 2 config or
// plugins, 1 bind or join).
enum class StartFailure { kNone, kConfig, kBind, kJoin, kPlugin };

// Not thread-safe: start() and stop() come from one controlling thread. The
// accessors are safe from any thread between start() and stop().
class Node {
 public:
  // `executable_dir` resolves the default plugin_dir ("" = current directory).
  explicit Node(Config config, std::string executable_dir = "");
  ~Node();  // stop(false)
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Loads plugins (init), binds, creates or joins the ring, starts the
  // stabiliser, then starts the plugins. On failure everything started is
  // stopped again and failure() says which step failed.
  Status start();
  StartFailure failure() const;

  // graceful: leave the ring (tell neighbours) after stopping plugins.
  // Not graceful: just stop serving, like a crash as seen from peers.
  // Idempotent.
  void stop(bool graceful);

  // The advertised address (valid after start()).
  const std::string& address() const;
  Ring& ring();
  ZmqTransport& transport();
  const Config& config() const;
  // The host services handed to plugins (tests use them to reach plugin services).
  dendrite::Host& host_services();
  // The node's statistics registry (Host::metrics()); lives as long as the Node.
  MetricsRegistry& metrics();
  // The status document served to `dendrite-cli status` (message kHostStatus):
  // {"address": "H:P", "vnodes": [{"id": hex40, "host": "H:P",
  //   "predecessor": {"id","host"} | null, "successors": [{"id","host"}...]}...],
  //  "plugins": [{"name": ...}...], "config": {...the config as JSON...}}
  nlohmann::json status_json() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dendrite::host
