// The Chord ring of one host: its local vnodes, their successor lists, fingers
// and predecessors; the ring's request handlers; stabilisation; lookups; join
// and graceful leave. Follows Zave's corrected rules (docs/ring.md "Correctness
// rules"). Talks to other hosts only through the Network seam and never
// holds a lock across a network call, so it runs the same over ZeroMQ and over
// the in-memory networks of tests and the simulator.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "dendrite/hooks.h"
#include "dendrite/message.h"
#include "dendrite/metrics.h"
#include "dendrite/status.h"
#include "dendrite/vnode.h"
#include "host/network.h"

namespace dendrite::host {

struct RingConfig {
  std::string address;         // advertised "ip:port" (vnode ids derive from it)
  int vnodes = 3;              // local vnodes
  int num_successors = 8;      // successor list length r
  int replicas = 2;            // remote successors reported in ReplicasChanged
  Milliseconds timeout{5000};  // per request
  std::uint64_t seed = 0;      // randomness (finger refresh order); 0 = random
  // Where the ring's statistics go (must outlive the ring); nullptr = a
  // registry of the ring's own.
  MetricsRegistry* metrics = nullptr;
};

// Receives ring events. Called from the thread that ran the ring operation
// (stabilize, a handler, leave) after the ring's locks are released; must not
// block (the host queues events to its event thread).
using RingEventSink = std::function<void(const RingEvent&)>;

// A snapshot of one local vnode.
struct VnodeState {
  Vnode self;
  std::optional<Vnode> predecessor;
  std::vector<Vnode> successors;
  std::vector<Vnode> fingers;  // distinct finger entries, in finger order
  std::vector<Vnode> remote_successors;
};

// Thread-safe: handle() may run on many threads at once, concurrently with
// stabilize() of any vnode, lookup() and the snapshot getters.
class Ring {
 public:
  Ring(RingConfig config, Network& net, RingEventSink sink);
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // Makes this host's vnodes a ring of their own. Call once, before anything else.
  void create();

  // Joins the ring through the first of `seeds` ("ip:port") that answers
  // (all are tried in turn, in up to three rounds 0.2 s and 0.4 s apart while
  // they time out or are unavailable): ListVnodes there, then FindSuccessors(own id) for each local
  // vnode, which seeds its successor list (alive-checked); predecessors start unset. Then one
  // stabilisation round per vnode. Errors: Unavailable naming every seed tried.
  Status join(const std::vector<std::string>& seeds);

  // True for the ring's message types (Ping, ListVnodes, FindSuccessors,
  // GetPredecessor, Notify, Leave).
  static bool handles(MessageType type);

  // Answers one ring request. Never blocks on the network; never throws; an
  // undecodable or misaddressed request gets an Err reply.
  Message handle(const Message& request);

  // One stabilisation round of local vnode `index`: stabilize the successor
  // list, notify the successor, refresh fingers, check the predecessor. Blocking
  // (network). Rounds of one vnode must not overlap; rounds of different vnodes
  // may run concurrently.
  void stabilize(std::size_t index);

  // Graceful leave: tells each local vnode's predecessor and first successor
  // (Leave with our predecessor and successor list), so they repair at once. Best
  // effort, bounded by the timeout. After it the ring answers requests with Err.
  void leave();

  // The first `n` successors of `key` (its owner first), found from the local
  // vnode closest to it and following Forwards. Retries around dead vnodes.
  // Errors: Unavailable/Timeout when no path answers.
  Result<std::vector<Vnode>> lookup(std::size_t n, const Id& key);

  // The first `n` successors of `key` as answered by following FindSuccessors
  // from `start`, which may be another host's vnode in another ring: what that
  // ring believes. Blocking (network). Errors as lookup().
  Result<std::vector<Vnode>> lookup_from(const Vnode& start, std::size_t n, const Id& key);

  // Every other host named by a local vnode's predecessor, successors or
  // fingers (the hosts stabilisation keeps in touch with), with the vnodes of
  // it named there. Any thread.
  std::map<std::string, std::vector<Vnode>> view() const;

  // Installs the callback told the host of each vnode whose graceful Leave this
  // ring received. Called from handler threads with no lock held; must not block.
  void set_leave_observer(std::function<void(const std::string& host)> observer);

  // Installs the callback through which the ring asks its driver for a prompt
  // stabilisation round of local vnode `index` (after a Leave changed it). Called
  // from handler threads with no lock held; must not block (schedule the round).
  void set_stabilize_requester(std::function<void(std::size_t index)> requester);

  std::size_t vnode_count() const;
  std::vector<Vnode> local_vnodes() const;
  // Snapshot of local vnode `index` (< vnode_count()).
  VnodeState state(std::size_t index) const;
  // One part of that snapshot, copied alone (state() copies every list; these
  // serve the per-request lookups of plugins). Any thread.
  std::optional<Vnode> predecessor(std::size_t index) const;
  std::vector<Vnode> successors(std::size_t index) const;
  std::vector<Vnode> fingers(std::size_t index) const;
  std::vector<Vnode> remote_successors(std::size_t index) const;
  // Index of the local vnode with id `id`, if any.
  std::optional<std::size_t> index_of(const Id& id) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dendrite::host
