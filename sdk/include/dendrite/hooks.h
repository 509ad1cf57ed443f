// The two extension points of the original, as interfaces: TransportHook (own
// message types) and DelegateHook (ring events).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "dendrite/message.h"
#include "dendrite/status.h"
#include "dendrite/vnode.h"

namespace dendrite {

// Delivers the answer to one request given to TransportHook::handle_async(): a
// reply message, or an error Status (sent to the caller as an Err reply). Call
// it exactly once, from any thread; later calls are ignored. Destroying every
// copy uncalled answers the caller with an Err ("plugin dropped the request
// without answering"): a bug, but one that frees the caller and the host.
using Respond = std::function<void(Result<Message>)>;

// Handles the message types a plugin claims.
class TransportHook {
 public:
  virtual ~TransportHook() = default;

  // The message types this hook claims; read once, after init() and before start().
  // Types must be > msg::kLastHostType. A type claimed by two plugins fails start-up
  // naming both.
  virtual std::vector<MessageType> message_types() const = 0;

  // Human-readable name of a claimed type (for logs and metrics).
  virtual std::string type_name(MessageType type) const { return "type_" + std::to_string(type); }

  // Handles one request of a claimed type and returns the reply. Called from the
  // transport's worker threads, possibly many at once: must be thread-safe. May
  // block (e.g. on requests to other nodes) but should bound its wait. An error
  // Status is sent to the caller as an Err reply carrying its message; so is any
  // exception (which is a bug: the host logs it). Called only between start() and
  // stop().
  virtual Result<Message> handle(const Message& request) = 0;

  // The asynchronous form, which the transport uses for requests from the
  // network: the hook answers by calling `respond` once, possibly later and from
  // another thread (e.g. from the ReplyCallback of Host::request_async), so a
  // request that waits for other nodes holds no worker thread meanwhile. Called
  // from worker threads like handle() (or from the I/O thread: runs_inline());
  // must not block for long. The host waits for every outstanding answer before
  // the plugin's stop(), so `respond` must be called within a bounded time (use
  // request deadlines). The default answers with handle(). Requests sent to this host's own address
  // through Host::request() still go to handle().
  virtual void handle_async(const Message& request, Respond respond) { respond(handle(request)); }

  // True when handle_async() for `type` never blocks and takes microseconds (a
  // table lookup, a write into memory, asynchronous requests to other nodes):
  // the host then calls it on the transport's I/O thread, saving two thread
  // hand-offs per request, and the ReplyCallbacks of the Host::request_async
  // calls it starts run there too. That thread also serves the ring: a handler
  // that sleeps, waits for a lock held across slow work, calls a blocking
  // Host::request or Host::lookup, or loops over a whole table there stalls
  // the node (a blocking Host::request there fails at once with
  // FailedPrecondition). The default is false: worker threads. Read once per
  // request; must be thread-safe and cheap.
  virtual bool runs_inline(MessageType type) const {
    (void)type;
    return false;
  }

  // True when a client may send requests of `type` to a ring that runs CURVE
  // (a connection let in with a key of the `clients` list, not a node's):
  // the operations a plugin offers to programs outside the ring, such as
  // dtable's reads, writes and status. Types only nodes send to each other
  // (replication, hand-overs, anything that changes another node's state
  // on the ring's behalf) must answer false, which is the default: such a
  // request from a client key gets an Err "permission denied" reply without
  // reaching the hook. Read once per request; must be thread-safe and cheap.
  virtual bool client_may_send(MessageType type) const {
    (void)type;
    return false;
  }
};

// The kinds of ring event, as in the original.
enum class RingEventType {
  kPredecessorJoined,  // a new vnode joined between the old predecessor and `target`
  kPredecessorLeft,    // the predecessor of `target` left or died
  kReplicasChanged,    // the remote successors of `target` (replica holders) changed
};

// "predecessor_joined", "predecessor_left", "replicas_changed".
std::string_view ring_event_name(RingEventType type);

// One ring event, about local vnode `target`.
struct RingEvent {
  RingEventType type;
  Vnode target;
  // PredecessorJoined: the new predecessor. PredecessorLeft: the new predecessor
  // if known (else empty).
  std::optional<Vnode> new_predecessor;
  // PredecessorJoined: the previous predecessor, if one was known.
  // PredecessorLeft: the predecessor that left.
  std::optional<Vnode> old_predecessor;
  // ReplicasChanged: the new remote successors of `target` (first `replicas`
  // successors on distinct other hosts), in ring order.
  std::vector<Vnode> remote_successors;
};

// Receives ring events.
class DelegateHook {
 public:
  virtual ~DelegateHook() = default;
  // Called for every event, in the order the ring produced them, on one host
  // event thread shared by all plugins (never concurrently with itself). May call
  // host services, including blocking requests, but a long wait delays the events
  // of every plugin: hand long work to your own thread. Called only between
  // start() and stop().
  virtual void on_ring_event(const RingEvent& event) = 0;
};

}  // namespace dendrite
