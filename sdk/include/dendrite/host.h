// The services the host offers a plugin.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dendrite/id.h"
#include "dendrite/message.h"
#include "dendrite/metrics.h"
#include "dendrite/status.h"
#include "dendrite/vnode.h"

namespace dendrite {

using Milliseconds = std::chrono::milliseconds;

// Callback of an asynchronous request: the reply (which may itself be an Err
// message, see error_of()), or Timeout / Unavailable.
using ReplyCallback = std::function<void(Result<Message>)>;

// What a peer host is known to speak. A node of ours answers the batch probe
// every connection starts with (docs/wire.md "Batch frames"); a node of the
// original Go implementation answers it with Err. Whatever goes to a peer
// that is not kOurs must be a message the original serves, built as it needs
// it (docs/wire.md "What an original node requires").
enum class PeerDialect {
  kUnknown,   // no connection yet, or the probe has not been answered
  kOurs,      // answered the probe: a node of ours, extensions welcome
  kOriginal,  // answered the probe with something else: an original node
};

// Host services. Owned by the host; valid from init() until stop() returns.
// Every method is thread-safe unless it says otherwise.
class Host {
 public:
  virtual ~Host() = default;

  // The advertised "ip:port" of this host.
  virtual std::string address() const = 0;

  // The configured number of replicas (dtable copies beyond the primary).
  virtual int replicas() const = 0;

  // The request timeout from the config.
  virtual Milliseconds default_timeout() const = 0;

  // True once the host has begun a graceful leave (SIGINT/SIGTERM): a plugin's
  // stop() then hands its data over to the ring. False when the host stops
  // without leaving (as after a crash, seen from the ring).
  virtual bool leaving() const = 0;

  // This host's vnodes, in index order. Fixed for the host's life.
  virtual std::vector<Vnode> local_vnodes() const = 0;

  // The predecessor of local vnode `vnode` if known.
  virtual std::optional<Vnode> predecessor(const Id& vnode) const = 0;

  // The successor list of local vnode `vnode` (empty for an unknown id).
  virtual std::vector<Vnode> successors(const Id& vnode) const = 0;

  // The distinct finger-table entries of local vnode `vnode`, in finger order
  // (empty for an unknown id, and until its first stabilisation round).
  virtual std::vector<Vnode> fingers(const Id& vnode) const = 0;

  // The first `replicas()` successors of local vnode `vnode` that live on distinct
  // hosts other than this one, in ring order (fewer when the ring is smaller).
  virtual std::vector<Vnode> remote_successors(const Id& vnode) const = 0;

  // Every host this node remembers as a member of its ring, this one included,
  // each with its vnodes and whether it answers: the ring as it is meant to be,
  // including hosts that are down or cut off now (a key's true copy holders,
  // which a partition hides from successors()), but not hosts that left
  // gracefully or were forgotten. Sorted by host. A snapshot; any thread.
  virtual std::vector<Member> members() const = 0;

  // The first `n` vnodes whose range holds `key`: the key's primary then its
  // successors. Blocking: may ask other nodes (bounded by the default timeout per
  // hop). Errors: Unavailable/Timeout when the ring cannot answer.
  virtual Result<std::vector<Vnode>> lookup(std::size_t n, const Id& key) = 0;

  // Sends `request` to the host "ip:port" and waits for the reply, at most
  // `timeout`. Requests to this host are handled locally without the network.
  // An Err reply is returned as a message (see error_of()). Must not be called
  // from a DelegateHook for long waits (see hooks.h).
  virtual Result<Message> request(const std::string& host, const Message& request,
                                  Milliseconds timeout) = 0;
  Result<Message> request(const Vnode& to, const Message& req, Milliseconds timeout) {
    return request(to.host, req, timeout);
  }

  // Like request() but returns at once; `done` runs exactly once, on a host
  // thread, with the reply or the error. `done` must not block for long.
  virtual void request_async(const std::string& host, Message request, Milliseconds timeout,
                             ReplyCallback done) = 0;

  // Publishes `service` under `name` for other plugins. Fails with AlreadyExists
  // when the name is taken. Allowed from init() on. The host drops its reference
  // after every plugin has stopped.
  virtual Status publish_service(std::string name, std::shared_ptr<void> service) = 0;

  // What `host` ("ip:port") is known to speak; this host itself is kOurs.
  // Non-blocking: a host this node has not sent anything to yet is kUnknown
  // (any request to it starts the probe). A sender treats kUnknown as
  // kOriginal. Thread-safe and cheap.
  virtual PeerDialect peer_dialect(const std::string& host) const = 0;

  // The service published under `name`, or NotFound. The caller must know its type
  // (see get_service<T>) and must drop its reference in its stop().
  virtual Result<std::shared_ptr<void>> find_service(std::string_view name) const = 0;

  // This node's statistics registry (see metrics.h), shared by the host and
  // every plugin of the node. Valid from init() until the plugin is destroyed;
  // what a plugin registers stays exported after it stops. Thread-safe.
  virtual MetricsRegistry& metrics() = 0;

  // Typed find_service: T must be the exact interface type published under `name`.
  template <typename T>
  Result<std::shared_ptr<T>> get_service(std::string_view name) const {
    auto r = find_service(name);
    if (!r.ok()) return r.status();
    return std::static_pointer_cast<T>(r.value());
  }
};

}  // namespace dendrite
