// Replication: writes of items to the replica vnodes of their primary, sent in
// parallel, with acknowledgements counted per item, and rollback of the copies
// of writes that failed.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "context.h"
#include "item.h"

namespace dendrite::dtable {

// One batch of items written to every replica vnode at once (SetReplica for one
// item, SetMultiItem with replica = true for more). Thread-safe; lives as long
// as its replies are outstanding.
class ReplicaWrite : public std::enable_shared_from_this<ReplicaWrite> {
 public:
  // Sends `items` (timestamps assigned) of primary `primary` to `targets`
  // (through the context's ReplicaChannels, so possibly together with other
  // writes) and returns at once. Each target answers once.
  //
  // `counts` (optional, item x target): whether a target's acknowledgement of
  // an item counts towards its consistency (strict writes count only the
  // key's true copy holders); `start_acks` (optional, per item): the count an
  // item starts from (-1 when the primary itself is not a true holder).
  static std::shared_ptr<ReplicaWrite> start(std::shared_ptr<Context> ctx, const Vnode& primary,
                                             std::vector<Item> items, std::vector<Vnode> targets,
                                             std::vector<std::vector<bool>> counts = {},
                                             std::vector<int> start_acks = {});

  // The items written, as given to start(). Never changes: any thread.
  const std::vector<Item>& items() const { return items_; }

  // Waits until every item has at least `need` acknowledgements, or every target
  // answered, or `deadline`. Returns the acknowledgements per item so far.
  std::vector<int> wait(int need, std::chrono::steady_clock::time_point deadline);
  // Waits until every target answered (bounded by the request timeout).
  std::vector<int> wait_all();

  // Runs `fn` once with the acknowledgements per item as soon as every item
  // has at least `need` of them or every target answered (each request is
  // bounded by the timeout, so that happens). Runs it at once when that is
  // already so, else on the host thread that delivers the deciding reply.
  // Call at most once.
  using Settled = std::function<void(const std::vector<int>& acks)>;
  void when_settled(int need, Settled fn);

  // Marks the writes of the items flagged in `failed` as failed: their copies
  // are dropped from every target once it answered, now or later (a target
  // that timed out may still apply the write, so it gets the drop as well).
  void abort(const std::vector<bool>& failed);

 private:
  ReplicaWrite(std::shared_ptr<Context> ctx, const Vnode& primary, std::vector<Item> items,
               std::vector<Vnode> targets, std::vector<std::vector<bool>> counts,
               std::vector<int> start_acks);
  void send(std::size_t target);
  // Target `target` answered: `ok` per item.
  void on_acks(std::size_t target, const std::vector<bool>& ok);
  // True when every item has `need` acks or every target answered. REQUIRES: mu_.
  bool settled_locked(int need) const;
  // DropItems of the given items' versions to `target`, fire and forget.
  void drop(std::size_t target, const std::vector<std::size_t>& items);

  const std::shared_ptr<Context> ctx_;
  const Vnode primary_;
  const std::vector<Item> items_;
  const std::vector<Vnode> targets_;
  const std::vector<std::vector<bool>> counts_;  // empty: every ack counts

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> acks_;          // GUARDED_BY(mu_) per item
  std::vector<bool> answered_by_;  // GUARDED_BY(mu_) per target
  std::size_t answered_ = 0;       // GUARDED_BY(mu_)
  std::vector<bool> failed_;       // GUARDED_BY(mu_) empty until abort()
  int settle_need_ = 0;            // GUARDED_BY(mu_)
  Settled settled_;                // GUARDED_BY(mu_) until it runs
};

// Writes `items` (already committed on `primary`) to `targets` in batches, all
// sent at once, and returns without waiting: `done` runs once every target
// answered every batch (each bounded by the request timeout), with true when
// every target acknowledged every item; at once when there is nothing to send,
// else on the host thread that delivers the last answer. `done` must not block.
void replicate_async(const std::shared_ptr<Context>& ctx, const Vnode& primary,
                     std::vector<Item> items, const std::vector<Vnode>& targets,
                     std::function<void(bool)> done);

// Writes `items` (already committed on `primary`) to the primary's current
// replica vnodes in batches and waits for every answer. Used after promotion,
// hand-over and repair. Returns true when every target acknowledged every item.
bool replicate_and_wait(const std::shared_ptr<Context>& ctx, const Vnode& primary,
                        const std::vector<Item>& items);

// Brings replica vnode `target` of local primary `v` up to date: sends digests
// (keyHash, timestamp) of every primary item, then the items it lacks. True when
// every request succeeded (the target holds everything it should). An original
// target, which cannot answer digests, is sent every primary item instead.
bool sync_replica(const std::shared_ptr<Context>& ctx, VnodeState& v, const Vnode& target);

// Drops the replica entries of `hashes` written by `master` from `target`
// (fire and forget, batched).
void drop_replicas(const std::shared_ptr<Context>& ctx, const Vnode& master, const Vnode& target,
                   const std::vector<Id>& hashes);

}  // namespace dendrite::dtable
