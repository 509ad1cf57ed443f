// Keeping keys where the ring says they belong: promotion when a predecessor
// leaves, hand-over when one joins, re-replication when the replica set
// changes, the periodic self-check, and the hand-over of a graceful leave.
// Ring events arrive on the host's event thread and are queued for one worker
// thread owned here.
#pragma once

#include <condition_variable>
#include <deque>
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
  void run();
  bool stopping() const;
  void handle(const RingEvent& event);
  // Promotes to v's primary table what the vnode that left (`left`) owned:
  // v's own replica copies and the copies on v's replica vnodes.
  void promote(VnodeState& v, const std::optional<Vnode>& left);
  // Moves v's primary items that v no longer owns to their owners.
  void hand_over(VnodeState& v);
  void replicas_changed(VnodeState& v, const std::vector<Vnode>& now);
  void self_check();
  void check(VnodeState& v);
  // Sends `items` (from `source` of v) to their owners found by lookups;
  // delivered items are erased from `source`. Returns their hashes.
  std::vector<Id> deliver_to_owners(VnodeState& v, Store& source, std::vector<Item> items);
  // Hands `items` to `owner` in batches (demoting). Returns the items it took.
  std::vector<Item> deliver(const Vnode& owner, const std::vector<Item>& items);
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
};

}  // namespace dendrite::dtable
