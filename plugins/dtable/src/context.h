// What every part of the dtable plugin shares: the host, the settings, the
// clock, the per-vnode tables, ownership rules, write hooks, and the gate that
// bounds asynchronous requests by the plugin's lifetime.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "clock.h"
#include "dendrite/dtable/dtable.h"
#include "dendrite/host.h"
#include "dendrite/logger.h"
#include "dendrite/message.h"
#include "entry_cache.h"
#include "gate.h"
#include "original_lanes.h"
#include "placement.h"
#include "replica_channels.h"
#include "settings.h"
#include "stats.h"
#include "store.h"

namespace dendrite::dtable {

// The tables of one local vnode (the `index`-th), written through to
// `journal` when given. Thread-safe.
struct VnodeState {
  VnodeState(Vnode v, Journal* journal, std::uint16_t index)
      : self(std::move(v)),
        primary(/*keep_history=*/false, journal, TableId{index, TableId::Kind::kPrimary}),
        replica(/*keep_history=*/true, journal, TableId{index, TableId::Kind::kReplica}) {}

  const Vnode self;
  Store primary;  // keys this vnode owns
  Store replica;  // copies for other primaries

  // Reads that miss ask the previous holders until then (steady-clock ns).
  std::atomic<std::int64_t> settle_until{0};
  void settle_for(Milliseconds d);
  bool settling() const;
};

// Registered write hooks. Thread-safe; hooks are called without any lock.
class WriteHooks {
 public:
  HookId add(WriteHook hook);
  // Unregisters `id` and waits until no call of it is running.
  void remove(HookId id);
  // Unregisters every hook (same wait).
  void clear();
  // Whether none is registered (without taking the lock: asked on every write).
  bool empty() const;
  // Calls every registered hook with `event`; exceptions are logged.
  void call(const WriteEvent& event, Logger& log) const;

 private:
  struct Slot {
    HookId id;
    WriteHook hook;
    std::atomic<bool> active{true};
    std::atomic<int> running{0};
  };
  using List = std::vector<std::shared_ptr<Slot>>;
  static void retire(const std::shared_ptr<Slot>& slot);

  mutable std::mutex mu_;
  // Copy-on-write: call() takes a snapshot of the list.
  std::shared_ptr<const List> list_ = std::make_shared<List>();  // GUARDED_BY(mu_)
  std::atomic<std::size_t> size_{0};                             // list_->size(), written under mu_
  HookId next_ = 1;                                              // GUARDED_BY(mu_)
};

// Shared by the plugin's parts; lives in a shared_ptr so reply callbacks that
// outlive stop() stay memory-safe. Thread-safe. `host` and `log` may only be
// used while the gate is open (stop() closes it and waits).
class Context : public std::enable_shared_from_this<Context> {
 public:
  // `journal`: where the tables are written through to (null: memory only).
  Context(Host& host, Logger& log, Settings settings, std::shared_ptr<HybridClock> clock,
          std::shared_ptr<Journal> journal = nullptr);

  Host& host;
  Logger& log;
  const Settings settings;
  const std::shared_ptr<HybridClock> clock;
  Gate gate;  // asynchronous requests and service calls in flight
  WriteHooks hooks;
  Stats stats;                       // in host.metrics()
  ReplicaChannels replica_channels;  // replica writes of client writes, coalesced
  OriginalLanes original_lanes;      // writes to original nodes, one at a time per host
  Placement placement;               // the keys' true copy holders (strict writes, orphans)

  // The local vnodes' tables, in index order (fixed at construction).
  const std::vector<std::unique_ptr<VnodeState>>& vnodes() const { return vnodes_; }
  // The local vnode with this id, or nullptr.
  VnodeState* local(const Id& id) const;
  // The only local vnode that can own `hash`: the first one at or after it,
  // clockwise (a vnode between them would own it instead). nullptr: none.
  // Every owner check asks about this one alone, so all agree on one vnode
  // even while some predecessor is stale.
  VnodeState* nearest_local(const Id& hash) const;
  // The local vnode that owns `hash`: nearest_local() when its known
  // predecessor range (pred, self] holds it, else `asked` when its
  // predecessor is unknown (a vnode right after a join or failure accepts
  // what is sent to it), else nullptr.
  VnodeState* owner_for(const Id& hash, VnodeState* asked) const;
  // True when `hash` lies in `v`'s range by its current predecessor (unknown
  // predecessor: nullopt).
  std::optional<bool> owns(const VnodeState& v, const Id& hash) const;
  // Our best guess at the owner of `hash` from the local successor lists.
  std::optional<Vnode> owner_hint(const Id& hash) const;
  // The Err text of a request about `hash` sent to `asked`, which does not own it.
  std::string wrong_owner_text(const Id& hash, const Vnode& asked) const;

  // Asks the maintenance worker to hand v's items that are not v's to their
  // owners soon (a hand-over that reached v before the ring's routes knew of
  // v's own newer predecessor). Does nothing while no receiver is set.
  void request_hand_over(const Id& v);
  // Sets (or, with nullptr, clears) who receives request_hand_over().
  void set_hand_over_receiver(std::function<void(const Id&)> receiver);
  // True when some of `items` lie outside v's range by its known predecessor.
  bool any_outside(const VnodeState& v, const std::vector<Item>& items) const;

  // Reads every local table back from the journal (before start()), keeping
  // in memory what the cache's budget allows.
  Status load_tables();
  // Starts and stops the thread that keeps the tables' memory within
  // storage.cache_mb (nothing without a journal). Plugin start()/stop().
  void start_cache();
  void stop_cache();
  // Calls `done` once the changes made so far are as durable as the storage
  // settings promise (at once in memory or with periodic sync), with the
  // journal's error when they could not be written; a failure is logged once
  // per episode. Runs on the journal's thread or on this one; `done`
  // must not block.
  void after_durable(std::function<void(Status)> done);
  // OK, or why writes are refused now (disk full, I/O error).
  Status storage_error() const;
  // The journal, or null (memory only).
  Journal* journal() const { return journal_.get(); }

  // The host's request timeout.
  Milliseconds timeout() const { return timeout_; }
  // The configured number of replicas, and the maximum consistency level.
  int replicas() const { return replicas_; }
  int max_consistency() const { return replicas_ + 1; }

  // host.request_async through the gate: when the gate is closed, `done` gets
  // Unavailable at once. `done` runs on a host thread and must not block.
  // `limit` bounds the wait for the reply (default: the host's timeout).
  void send_async(const std::string& to, Message request, ReplyCallback done,
                  Milliseconds limit = Milliseconds(0));
  // Sends every request in parallel and waits for all replies (each bounded by
  // `limit`, default: the host's timeout). Results in request order.
  std::vector<Result<Message>> call_all(std::vector<std::pair<std::string, Message>> requests,
                                        Milliseconds limit = Milliseconds(0));
  // Sends every request in parallel; `done` runs once with every reply (each
  // bounded by `limit`, default: the host's timeout), in request order: at
  // once when there are none, else on the host thread that delivers the last
  // one. `done` must not block.
  using AllDone = std::function<void(std::vector<Result<Message>>)>;
  void call_all_async(std::vector<std::pair<std::string, Message>> requests, AllDone done,
                      Milliseconds limit = Milliseconds(0));
  // A blocking request bounded by `timeout` (default: the host's timeout);
  // Unavailable once stopping.
  Result<Message> call(const std::string& to, const Message& request,
                       Milliseconds timeout = Milliseconds(0));
  // call() for a table write: to a host not known to be ours (an original)
  // it waits its turn in that host's lane, so that this node never has two
  // writes in flight there. Blocking; not from a host callback.
  Result<Message> call_in_turn(const std::string& to, Message request,
                               Milliseconds timeout = Milliseconds(0));

 private:
  const Milliseconds timeout_;
  const int replicas_;
  std::mutex hand_over_mu_;
  std::function<void(const Id&)> hand_over_receiver_;  // GUARDED_BY(hand_over_mu_)
  const std::shared_ptr<Journal> journal_;             // before vnodes_: the tables write into it
  std::atomic<bool> storage_failing_{false};
  std::vector<std::unique_ptr<VnodeState>> vnodes_;
  std::unique_ptr<EntryCache> cache_;  // with a journal
};

// Steady-clock nanoseconds (for settle windows).
std::int64_t steady_ns();

}  // namespace dendrite::dtable
