// Replica writes of single client writes, coalesced per channel (primary,
// replica target, depth): while a channel has a request unanswered, the
// writes that follow wait and go together as one SetMultiItem{replica} when
// it comes back. An idle channel sends at once, so a lone write pays no
// delay; under load each channel carries batches, and a replica applies many
// items per message (the original's to-do "SetMultiItem carries batches"). A
// host that answers a batch with Err (an original node, which knows only
// SetReplica) gets single writes for a minute, the refused batch included.
// A host not known to be ours (Host::peer_dialect) gets its writes as an
// original needs them (send_to_original).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "dendrite/id.h"
#include "dendrite/vnode.h"
#include "item.h"

namespace dendrite::dtable {

class Context;

// Thread-safe. Owned by the Context; every request goes through
// Context::send_async (so through its gate), and callbacks hold the Context.
class ReplicaChannels {
 public:
  // Per item of one send(): true when the target holds it (written, or a newer
  // version is held). Runs once, on the host thread that delivers the reply
  // (or at once when the gate is closed); must not block.
  using Acked = std::function<void(const std::vector<bool>& ok)>;

  // Requests a channel may have unanswered before later writes wait for one.
  static constexpr int kInFlight = 1;
  // How long a host that refused a batch gets single writes only.
  static constexpr std::chrono::seconds kSingleFor{60};

  // Writes `items` (stamped) of `primary` to its replica `target` at `depth`
  // (0 = first replica), alone or with other writes of the same channel.
  void send(const std::shared_ptr<Context>& ctx, const Vnode& primary, const Vnode& target,
            int depth, const std::vector<Item>& items, Acked done);

  // Channels with a request unanswered or writes waiting (for tests).
  std::size_t busy_channels() const;

 private:
  using Key = std::tuple<Id, Id, int>;  // primary, target, depth
  struct Waiter {
    std::size_t count;  // items of this waiter, in order in the batch
    Acked done;
  };
  struct Channel {
    int in_flight = 0;
    std::vector<Item> queued;
    std::size_t queued_bytes = 0;
    std::vector<Waiter> waiters;
  };

  // Takes what waits on `ch` as the next request's batch. REQUIRES: mu_.
  static void take_queued(Channel& ch, std::vector<Item>& batch, std::vector<Waiter>& waiters);
  // Calls each waiter with its slice of `ok` (waiters' items in order).
  static void answer(const std::vector<Waiter>& waiters, const std::vector<bool>& ok);
  // Sends one request with `items` for `waiters` on channel `key`.
  void transmit(const std::shared_ptr<Context>& ctx, const Key& key, const Vnode& primary,
                const Vnode& target, std::vector<Item> items, std::vector<Waiter> waiters);
  // A request of channel `key` was answered: sends what waited, if anything.
  void answered(const std::shared_ptr<Context>& ctx, const Key& key, const Vnode& primary,
                const Vnode& target);
  // Sends each of `items` as its own SetReplica (to a target that refused a
  // batch: an original node), then answers `waiters`.
  void transmit_singly(const std::shared_ptr<Context>& ctx, const Key& key, const Vnode& primary,
                       const Vnode& target, std::vector<Item> items, std::vector<Waiter> waiters);
  // Writes `items` to `target`, a host not known to be ours (an original),
  // as the original needs them: through its lane (one write at a time), each
  // a SetReplica with the full replica info then a SetReplicaInfo.
  void send_to_original(const std::shared_ptr<Context>& ctx, const Vnode& primary,
                        const Vnode& target, int depth, const std::vector<Item>& items, Acked done);
  // False while `host` is marked as refusing batches.
  bool takes_batches(const std::string& host);

  mutable std::mutex mu_;
  std::map<Key, Channel> channels_;  // GUARDED_BY(mu_); idle channels are erased
  // Hosts that answered a batch with Err, until when they get single writes
  // only (an Err can also be ours, "busy" say, so the mark expires).
  std::map<std::string, std::chrono::steady_clock::time_point> single_only_;  // GUARDED_BY(mu_)
};

}  // namespace dendrite::dtable
