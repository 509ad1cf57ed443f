#include "host/node.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <mutex>

#include "dendrite/address.h"
#include "dendrite/service_registry.h"
#include "dendrite/vnode_json.h"
#include "host/allocator.h"
#include "host/dispatcher.h"
#include "host/event_queue.h"
#include "host/host_services.h"
#include "host/logging.h"
#include "host/plugin_loader.h"
#include "host/process_metrics.h"
#include "host/ring_healer.h"
#include "host/stabilizer.h"
#include "host/transport_stats.h"

namespace dendrite::host {
namespace {

// Where a node is in its life, as the status document's "state" says.
enum class NodeState { kStarting, kServing, kStopping };

const char* node_state_name(NodeState s) {
  switch (s) {
    case NodeState::kStarting:
      return "starting";
    case NodeState::kServing:
      return "serving";
    case NodeState::kStopping:
      return "stopping";
  }
  return "unknown";
}

std::string resolve_plugin_dir(const Config& config, const std::string& executable_dir) {
  if (config.plugin_dir) return *config.plugin_dir;
  std::filesystem::path base = executable_dir.empty() ? "." : executable_dir;
  return (base / ".." / "lib" / "dendrite" / "plugins").lexically_normal().string();
}

}  // namespace

struct Node::Impl {
  Impl(Config c, std::string exe_dir)
      : config(std::move(c)),
        executable_dir(std::move(exe_dir)),
        dispatcher([this] { return status_json().dump(); },
                   [this](const std::string& h) { return forget(h); }) {}

  Status forget(const std::string& h) {
    std::lock_guard lock(state_mu);
    if (!membership) return Status::Unavailable("ring not ready");
    if (!membership->forget(h)) {
      return Status::NotFound(h + " is not a remembered host");
    }
    get_logger("ring")->info("forgot {} (operator request)", h);
    return Status::Ok();
  }

  nlohmann::json status_json() const {
    std::lock_guard lock(state_mu);
    nlohmann::json doc;
    doc["address"] = transport ? transport->address() : config.advertised();
    doc["vnodes"] = nlohmann::json::array();
    if (ring) {
      for (std::size_t i = 0; i < ring->vnode_count(); ++i) {
        VnodeState s = ring->state(i);
        nlohmann::json v = vnode_to_json(s.self);
        v["predecessor"] = s.predecessor ? vnode_to_json(*s.predecessor) : nlohmann::json(nullptr);
        v["successors"] = nlohmann::json::array();
        for (const Vnode& succ : s.successors) v["successors"].push_back(vnode_to_json(succ));
        doc["vnodes"].push_back(std::move(v));
      }
    }
    doc["members"] = nlohmann::json::array();
    if (membership) {
      for (const RememberedHost& h : membership->snapshot()) {
        doc["members"].push_back(
            {{"host", h.address},
             {"state",
              h.state == HostState::kUp && h.suspect ? "suspect" : host_state_name(h.state)},
             {"seed", h.seed},
             {"in_view", h.in_view}});
      }
    }
    doc["plugins"] = nlohmann::json::array();
    for (const std::string& name : plugin_names) doc["plugins"].push_back({{"name", name}});
    doc["state"] = node_state_name(state.load(std::memory_order_acquire));
    doc["config"] = to_json(config);
    return doc;
  }

  Status fail(StartFailure why, Status status) {
    failure = why;
    teardown(false);
    return status;
  }

  void teardown(bool graceful) {
    auto log = get_logger("node");
    state.store(NodeState::kStopping, std::memory_order_release);
    if (plugins_started) {
      host->set_leaving(graceful);
      dispatcher.disable_plugins();
      loader->stop();
      plugins_started = false;
    }
    events.stop();
    if (healer) healer->stop();
    if (stabilizer) stabilizer->stop();
    if (graceful && ring_up && ring) {
      log->info("leaving the ring");
      ring->leave();
    }
    ring_up = false;
    if (transport) transport->stop();
    dispatcher.attach_ring(nullptr);
    if (loader) loader->unload();
    services.clear();
    // Objects made from plugin code are gone; now the rest, in reverse order.
    process_gauges.reset();
    loader.reset();
    host.reset();
    healer.reset();
    stabilizer.reset();
    {
      std::lock_guard lock(state_mu);
      ring.reset();
      membership.reset();
    }
    transport.reset();
  }

  // First: everything below writes to it, and plugins hold references into it.
  MetricsRegistry metrics;
  Config config;
  std::string executable_dir;
  Dispatcher dispatcher;
  ServiceRegistry services;
  EventQueue events;
  std::unique_ptr<ZmqTransport> transport;
  std::unique_ptr<Ring> ring;
  std::unique_ptr<HostServices> host;
  std::unique_ptr<PluginLoader> loader;
  std::unique_ptr<Stabilizer> stabilizer;
  std::unique_ptr<Membership> membership;  // GUARDED_BY(state_mu) for (re)assignment
  std::unique_ptr<RingHealer> healer;
  CollectorHandle process_gauges;
  // Guards `ring` (re)assignment and plugin_names against status requests
  // answered on transport threads.
  mutable std::mutex state_mu;
  std::vector<std::string> plugin_names;  // GUARDED_BY(state_mu)
  StartFailure failure = StartFailure::kNone;
  bool started = false;
  bool ring_up = false;
  bool plugins_started = false;
  // What the status document reports; any thread reads it.
  std::atomic<NodeState> state{NodeState::kStarting};
  std::string address;
};

Node::Node(Config config, std::string executable_dir)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(executable_dir))) {}

Node::~Node() {
  stop(false);
}

Status Node::start() {
  Impl& n = *impl_;
  if (n.started) return Status::FailedPrecondition("node already started");
  n.started = true;
  auto log = get_logger("node");
  if (Status s = validate(n.config); !s.ok()) return n.fail(StartFailure::kConfig, s);

  TransportConfig tc;
  tc.listen = n.config.listen;
  tc.advertise = n.config.advertise;
  tc.workers = n.config.workers;
  tc.max_frame_bytes = static_cast<std::size_t>(n.config.limits.max_frame_bytes);
  tc.max_pending = static_cast<std::size_t>(n.config.limits.max_pending);
  tc.max_pending_bytes = static_cast<std::size_t>(n.config.limits.max_pending_bytes);
  tc.metrics = &n.metrics;
  if (n.config.security.curve) {
    auto access = AccessPolicy::load(*n.config.security.curve);
    if (!access.ok()) return n.fail(StartFailure::kConfig, access.status());
    tc.access = std::move(access).value();
  }
  const auto listen_host = parse_host_port(n.config.listen, 0);
  const bool beyond_loopback = listen_host.ok() && !is_loopback_host(listen_host->host);
  if (!tc.access && beyond_loopback && !n.config.security.insecure) {
    tc.protected_mode = true;
    tc.ring_hosts = [&n] {
      std::vector<std::string> hosts = n.config.join;
      std::lock_guard lock(n.state_mu);
      if (n.membership) {
        for (const RememberedHost& h : n.membership->snapshot()) hosts.push_back(h.address);
      }
      return hosts;
    };
  }
  n.transport = std::make_unique<ZmqTransport>(tc, n.dispatcher);
  if (Status s = n.transport->start(); !s.ok()) return n.fail(StartFailure::kBind, s);
  n.address = n.transport->address();
  if (tc.access) {
    log->info(
        "CURVE is on: connections are encrypted, and only listed node and client keys are let in");
    const std::vector<std::string> own = tc.access->server_keys_for(n.address);
    if (std::find(own.begin(), own.end(), tc.access->own_keys().public_key) == own.end()) {
      log->warn(
          "security.curve.nodes does not list this node's public key {} for its address {}: "
          "nodes that use this list cannot connect to it",
          tc.access->own_keys().public_key, n.address);
    }
  } else if (tc.protected_mode) {
    log->warn(
        "listening on {}, which other machines may reach, and this ring is neither encrypted "
        "nor authenticated: anyone who reaches the port can join the ring. Protected mode: "
        "plugin requests (reads and writes) from addresses other than loopback and the ring's "
        "hosts are refused until security.curve is configured, or security.insecure set "
        "(docs/security.md)",
        n.config.listen);
  } else if (beyond_loopback) {
    log->warn(
        "listening on {}, which other machines may reach, with an open ring "
        "(security.insecure): anyone who reaches the port can join the ring and read and write "
        "every key (docs/security.md)",
        n.config.listen);
  }

  RingConfig rc;
  rc.address = n.address;
  rc.vnodes = n.config.vnodes;
  rc.num_successors = n.config.num_successors;
  rc.replicas = n.config.replicas;
  rc.timeout = n.config.timeout;
  rc.metrics = &n.metrics;
  {
    std::lock_guard lock(n.state_mu);
    n.ring =
        std::make_unique<Ring>(rc, *n.transport, [&n](const RingEvent& e) { n.events.push(e); });
  }
  {
    std::lock_guard lock(n.state_mu);
    n.membership = std::make_unique<Membership>(n.address, n.config.membership);
  }
  const auto now = std::chrono::steady_clock::now();
  for (const std::string& seed : n.config.join) n.membership->add_seed(seed, now);
  n.host = std::make_unique<HostServices>(*n.ring, *n.transport, *n.membership, n.services,
                                          n.metrics, n.config.replicas, n.config.timeout);
  n.metrics
      .gauge(
          "dendrite_node_info",
          "Always 1; labels name this node's address, version and memory allocator.",
          {{"address", n.address}, {"version", DENDRITE_VERSION}, {"allocator", allocator_name()}})
      .set(1);
  n.process_gauges = register_process_metrics(n.metrics);

  n.loader = std::make_unique<PluginLoader>(resolve_plugin_dir(n.config, n.executable_dir), *n.host,
                                            make_plugin_logger);
  if (Status s = n.loader->load(n.config.plugins); !s.ok()) {
    return n.fail(StartFailure::kPlugin, s);
  }
  {
    std::lock_guard lock(n.state_mu);
    n.plugin_names = n.loader->names();
  }
  // Requests of plugin types are counted under the names their owners give.
  for (int t = msg::kLastHostType + 1; t < 256; ++t) {
    const auto type = static_cast<MessageType>(t);
    if (n.loader->hook_for(type) != nullptr) {
      n.transport->stats().name_type(type, n.loader->type_name(type));
    }
  }

  n.dispatcher.attach_ring(n.ring.get());
  if (n.config.join.empty()) {
    n.ring->create();
    log->info("created a ring at {} with {} vnodes", n.address, n.config.vnodes);
  } else {
    if (Status s = n.ring->join(n.config.join); !s.ok()) return n.fail(StartFailure::kJoin, s);
    log->info("{} joined the ring with {} vnodes", n.address, n.config.vnodes);
  }
  n.ring_up = true;

  n.stabilizer = std::make_unique<Stabilizer>(static_cast<std::size_t>(n.config.vnodes),
                                              n.config.stabilize_min, n.config.stabilize_max,
                                              [&n](std::size_t i) { n.ring->stabilize(i); });
  n.ring->set_stabilize_requester([&n](std::size_t i) {
    if (n.stabilizer) n.stabilizer->request(i);
  });
  n.stabilizer->start();

  HealerConfig hc;
  hc.timeout = n.config.timeout;
  hc.list_len = n.config.num_successors;
  n.healer =
      std::make_unique<RingHealer>(*n.ring, *n.transport, *n.membership, hc, n.metrics, [&n] {
        for (int i = 0; i < n.config.vnodes; ++i) {
          n.stabilizer->request(static_cast<std::size_t>(i));
        }
      });
  // The membership outlives every handler thread (reset after the transport
  // stopped).
  n.ring->set_leave_observer([m = n.membership.get()](const std::string& h) { m->left(h); });
  n.healer->start();

  n.events.start(n.loader->delegates());
  n.dispatcher.enable_plugins(n.loader.get());
  n.plugins_started = true;
  if (Status s = n.loader->start(); !s.ok()) {
    n.dispatcher.disable_plugins();
    n.plugins_started = false;
    return n.fail(StartFailure::kPlugin, s);
  }
  n.state.store(NodeState::kServing, std::memory_order_release);
  return Status::Ok();
}

StartFailure Node::failure() const {
  return impl_->failure;
}

void Node::stop(bool graceful) {
  if (!impl_->started) return;
  impl_->teardown(graceful);
}

const std::string& Node::address() const {
  return impl_->address;
}
Ring& Node::ring() {
  return *impl_->ring;
}
ZmqTransport& Node::transport() {
  return *impl_->transport;
}
const Config& Node::config() const {
  return impl_->config;
}
dendrite::Host& Node::host_services() {
  return *impl_->host;
}
MetricsRegistry& Node::metrics() {
  return impl_->metrics;
}
nlohmann::json Node::status_json() const {
  return impl_->status_json();
}

}  // namespace dendrite::host
