// Keeping keys where the ring says they belong: promotion when a predecessor
// leaves, hand-over when one joins, re-replication when the replica set
// changes, the periodic self-check, and the hand-over of a graceful leave.
// Ring events arrive on the host's event thread and are queued for one worker
// thread owned here.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "context.h"
#include "dendrite/hooks.h"
#include "item.h"

namespace dendrite::dtable {

// Thread-safe: post() from any thread; start()/stop()/leave() from the plugin's
// lifecycle thread.
class Maintenance {
 public:
  explicit Maintenance(std::shared_ptr<Context> ctx);
  ~Maintenance();  // stop()

  // Records the current replica sets and starts the worker thread.
  void start();
  // Stops the worker thread; the task under way ends after its current batch.
  // Idempotent.
  void stop();
  // Queues a ring event for the worker (dropped once stopped).
  void post(const RingEvent& event);
  // Graceful leave (after stop()): hands every primary item of every local
  // vnode to its first successor on another host, waiting for each batch.
  void leave();

 private:
  using TimePoint = std::chrono::steady_clock::time_point;
  // A hand-over that did not finish (stale route, owner not ready or not
  // answering), tried again after a growing pause.
  struct Retry {
    TimePoint due;
    int attempt = 0;
  };

  void run();
  bool stopping() const;
  void handle(const RingEvent& event);
  // Runs hand_over() for each of `targets` (local vnode ids), in parallel, and
  // schedules a retry of those that did not finish.
  void hand_over_all(const std::vector<Id>& targets);
  // Schedules (or drops, when `done`) the retry of v's hand-over.
  void schedule_retry(const Id& v, bool done);
  // Promotes to v's primary table what the vnode that left (`left`) owned:
  // v's own replica copies and the copies on v's replica vnodes.
  void promote(VnodeState& v, const std::optional<Vnode>& left);
  // Moves v's primary items that v no longer owns to their owners. False when
  // some could not be moved (an owner did not take them, or the ring's routes
  // do not know v's new predecessor yet): try again soon.
  bool hand_over(VnodeState& v);
  void replicas_changed(VnodeState& v, const std::vector<Vnode>& now);
  void self_check();
  void check(VnodeState& v);
  // Sends `items` (from `source` of v) to their owners found by lookups;
  // delivered items are erased from `source`. Returns their hashes. Sets
  // `*complete` to false when some were not delivered.
  std::vector<Id> deliver_to_owners(VnodeState& v, Store& source, std::vector<Item> items,
                                    bool* complete = nullptr);
  // Hands `items` to `owner` in batches (demoting), several in flight at once.
  // Calls `taken` on this thread with the items of each batch the owner took,
  // as the answers come in (while later batches are in flight). Returns how
  // many it took. `keeper`: the local vnode sending them, named as the
  // batches' origin, which promises to keep what is taken as replica copies
  // of `owner` (`taken` must store them so), or nullptr.
  std::size_t deliver(const Vnode& owner, std::vector<Item> items,
                      const std::function<void(std::vector<Item>&)>& taken,
                      const Vnode* keeper = nullptr);
  // deliver() to an owner that is not known to be ours (an original): one
  // SetItem{demoting} per key, through the host's lane, as the original
  // takes a hand-over. Same contract as deliver().
  std::size_t deliver_to_original(const Vnode& owner, std::vector<Item> items,
                                  const std::function<void(std::vector<Item>&)>& taken,
                                  const Vnode* keeper);
  // True when `master` is an original node that is up and counts this host
  // among its replicas: the replica copies it wrote here are not orphans,
  // although it never renews them. From the placement (no request).
  bool original_keeps_copies_here(const Vnode& master);
  // What `owner`'s host speaks; when not known yet, asks it (a Status
  // request) so that the batch probe settles it. Blocking.
  PeerDialect dialect_of(const Vnode& owner);
  // Pages through replica vnode `from`'s replica table (LocalKeys).
  std::vector<Item> pull(const Vnode& from, const std::optional<Vnode>& master,
                         const std::optional<std::pair<Id, Id>>& range);

  const std::shared_ptr<Context> ctx_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<RingEvent> queue_;  // GUARDED_BY(mu_)
  bool stop_ = false;            // GUARDED_BY(mu_)
  std::thread thread_;
  // The replica set each local vnode last replicated to (worker thread only).
  std::unordered_map<Id, std::vector<Vnode>> replica_sets_;
  // Hand-overs to try again, by local vnode id (worker thread only).
  std::unordered_map<Id, Retry> retries_;
};

}  // namespace dendrite::dtable
