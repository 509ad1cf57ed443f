// The two extension points of the original, as interfaces: TransportHook (own
// message types) and DelegateHook (ring events).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "dendrite/message.h"
#include "dendrite/status.h"
#include "dendrite/vnode.h"

namespace dendrite {

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
