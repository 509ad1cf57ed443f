#include "replica_channels.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "codec.h"
#include "context.h"
#include "dendrite/dtable/messages.h"
#include "original_lanes.h"

namespace dendrite::dtable {
namespace {

// Per-item success of a replica write reply: written, or a newer copy is held.
std::vector<bool> acked_items(const Result<Message>& reply, std::size_t n) {
  std::vector<bool> ok(n, false);
  if (!reply.ok() || reply->type != msg::kResponse) return ok;
  auto r = unpack<pb::PBDTableResponse>(*reply, msg::kResponse);
  if (!r.ok()) return ok;
  auto good = [](const pb::PBDTableResponse& x) { return x.ok() || x.code() == kCodeOlder; };
  if (static_cast<std::size_t>(r->results_size()) == n) {
    for (std::size_t i = 0; i < n; ++i) ok[i] = good(r->results(static_cast<int>(i)));
  } else if (good(*r)) {
    std::fill(ok.begin(), ok.end(), true);
  }
  return ok;
}

// The request writing `items` to replica `target` of `primary` at `depth`:
// SetReplica for one item (as the original sends it), else SetMultiItem{replica}.
// A batch names the primary once, as its origin (a replica takes the origin
// as master of items without one); SetReplica names it in the item too.
Message replica_request(const Vnode& primary, const Vnode& target, int depth,
                        const std::vector<Item>& items) {
  if (items.size() == 1) {
    pb::PBDTableSetItem req;
    to_pb(target, req.mutable_dest());
    to_pb(primary, req.mutable_origin());
    pb::PBDTableItem* pb = req.mutable_item();
    to_pb(items[0], pb);
    auto* info = pb->mutable_replicainfo();
    to_pb(primary, info->mutable_master());
    info->set_depth(depth);
    return pack(msg::kSetReplica, req);
  }
  pb::PBDTableSetMultiItem req;
  to_pb(target, req.mutable_dest());
  to_pb(primary, req.mutable_origin());
  req.set_replica(true);
  for (const Item& item : items) {
    pb::PBDTableItem* pb = req.add_items();
    to_pb(item, pb);
    if (depth != 0) pb->mutable_replicainfo()->set_depth(depth);
  }
  return pack(msg::kSetMultiItem, req);
}

// The replica info an original needs with a replica copy of `primary`'s key
// written to `target` at `depth`: the master, every replica in order (its
// promote() and demote() index `vnodes` by depth), the receiver's depth and
// the state (stable when all `replicas` copies exist).
void fill_original_info(pb::PBDTableReplicaInfo* info, const Vnode& primary,
                        std::vector<Vnode> replicas_in_order, const Vnode& target, int depth,
                        int replicas) {
  const auto at = static_cast<std::size_t>(depth);
  if (replicas_in_order.size() <= at) replicas_in_order.resize(at + 1, target);
  replicas_in_order[at] = target;
  to_pb(primary, info->mutable_master());
  for (const Vnode& r : replicas_in_order) to_pb(r, info->add_vnodes());
  info->set_depth(depth);
  info->set_state(static_cast<int>(replicas_in_order.size()) >= replicas ? 0 : 1);
}

// SetReplica as an original sends and needs it: an uncommitted item with the
// full replica info; SetReplicaInfo follows.
Message original_replica_request(const pb::PBDTableReplicaInfo& info, const Vnode& primary,
                                 const Vnode& target, const Item& item) {
  pb::PBDTableSetItem req;
  to_pb(target, req.mutable_dest());
  to_pb(primary, req.mutable_origin());
  pb::PBDTableItem* pb = req.mutable_item();
  to_pb(item, pb);
  pb->set_commited(false);
  *pb->mutable_replicainfo() = info;
  return pack(msg::kSetReplica, req);
}

// The SetReplicaInfo that commits it (ours: `timestamp` names the version).
Message original_commit_request(const pb::PBDTableReplicaInfo& info, const Vnode& primary,
                                const Vnode& target, const Item& item) {
  pb::PBDTableSetReplicaInfo req;
  to_pb(target, req.mutable_dest());
  to_pb(primary, req.mutable_origin());
  req.set_keyhash(item.hash.raw());
  *req.mutable_replicainfo() = info;
  req.set_timestamp(item.timestamp);
  return pack(msg::kSetReplicaInfo, req);
}

bool acked(const Result<Message>& reply) {
  return acked_items(reply, 1)[0];
}

std::size_t bytes_of(const Item& item) {
  return item.key.size() + item.value.size();
}

}  // namespace

void ReplicaChannels::send(const std::shared_ptr<Context>& ctx, const Vnode& primary,
                           const Vnode& target, int depth, const std::vector<Item>& items,
                           Acked done) {
  const Key key{primary.id, target.id, depth};
  if (ctx->host.peer_dialect(target.host) != PeerDialect::kOurs) {
    return send_to_original(ctx, primary, target, depth, items, std::move(done));
  }
  if (!takes_batches(target.host)) {
    return transmit_singly(ctx, key, primary, target, items,
                           {Waiter{items.size(), std::move(done)}});
  }
  std::vector<Item> batch;
  std::vector<Waiter> waiters;
  {
    std::lock_guard lock(mu_);
    Channel& ch = channels_[key];
    if (ch.in_flight < kInFlight) {
      ++ch.in_flight;
      batch = items;
      waiters.push_back(Waiter{items.size(), std::move(done)});
    } else {
      for (const Item& item : items) {
        ch.queued_bytes += bytes_of(item);
        ch.queued.push_back(item);
      }
      ch.waiters.push_back(Waiter{items.size(), std::move(done)});
      // A full batch goes now rather than waiting (the channel then has more
      // than kInFlight requests out, which only a slow target causes).
      if (ch.queued.size() < ctx->settings.batch_items &&
          ch.queued_bytes < ctx->settings.batch_bytes) {
        return;
      }
      take_queued(ch, batch, waiters);
    }
  }
  transmit(ctx, key, primary, target, std::move(batch), std::move(waiters));
}

void ReplicaChannels::take_queued(Channel& ch, std::vector<Item>& batch,
                                  std::vector<Waiter>& waiters) {
  ++ch.in_flight;
  batch.swap(ch.queued);
  waiters.swap(ch.waiters);
  ch.queued_bytes = 0;
}

void ReplicaChannels::answer(const std::vector<Waiter>& waiters, const std::vector<bool>& ok) {
  std::size_t from = 0;
  for (const Waiter& w : waiters) {
    const auto first = ok.begin() + static_cast<std::ptrdiff_t>(from);
    w.done(std::vector<bool>(first, first + static_cast<std::ptrdiff_t>(w.count)));
    from += w.count;
  }
}

void ReplicaChannels::transmit(const std::shared_ptr<Context>& ctx, const Key& key,
                               const Vnode& primary, const Vnode& target, std::vector<Item> items,
                               std::vector<Waiter> waiters) {
  Message request = replica_request(primary, target, std::get<2>(key), items);
  const std::size_t n = items.size();
  if (n == 1) items.clear();  // kept only to resend a refused batch singly
  ctx->stats.replication_in_flight.inc();
  ctx->send_async(target.host, std::move(request),
                  [this, ctx, key, primary, target, n, items = std::move(items),
                   waiters = std::move(waiters)](Result<Message> reply) mutable {
                    ctx->stats.replication_in_flight.dec();
                    if (n > 1 && reply.ok() && reply->type == ::dendrite::msg::kErr) {
                      // No batches there (an original node): mark it, send these singly.
                      {
                        std::lock_guard lock(mu_);
                        single_only_[target.host] = std::chrono::steady_clock::now() + kSingleFor;
                      }
                      transmit_singly(ctx, key, primary, target, std::move(items),
                                      std::move(waiters));
                      return answered(ctx, key, primary, target);
                    }
                    answer(waiters, acked_items(reply, n));
                    answered(ctx, key, primary, target);
                  });
}

void ReplicaChannels::answered(const std::shared_ptr<Context>& ctx, const Key& key,
                               const Vnode& primary, const Vnode& target) {
  std::vector<Item> batch;
  std::vector<Waiter> waiters;
  {
    std::lock_guard lock(mu_);
    auto it = channels_.find(key);
    if (it == channels_.end()) return;
    Channel& ch = it->second;
    --ch.in_flight;
    if (ch.queued.empty()) {
      if (ch.in_flight <= 0) channels_.erase(it);
      return;
    }
    take_queued(ch, batch, waiters);
  }
  transmit(ctx, key, primary, target, std::move(batch), std::move(waiters));
}

void ReplicaChannels::transmit_singly(const std::shared_ptr<Context>& ctx, const Key& key,
                                      const Vnode& primary, const Vnode& target,
                                      std::vector<Item> items, std::vector<Waiter> waiters) {
  struct Singles {
    std::mutex mu;
    std::vector<bool> ok;  // GUARDED_BY(mu)
    std::size_t left = 0;  // GUARDED_BY(mu)
    std::vector<Waiter> waiters;
  };
  auto state = std::make_shared<Singles>();
  state->ok.assign(items.size(), false);
  state->left = items.size();
  state->waiters = std::move(waiters);
  // Runs once every single write answered (state->ok is no longer written).
  auto finish = [state] { answer(state->waiters, state->ok); };
  if (items.empty()) return finish();
  for (std::size_t i = 0; i < items.size(); ++i) {
    ctx->stats.replication_in_flight.inc();
    ctx->send_async(target.host, replica_request(primary, target, std::get<2>(key), {items[i]}),
                    [ctx, state, finish, i](Result<Message> reply) {
                      ctx->stats.replication_in_flight.dec();
                      const bool ok = acked_items(reply, 1)[0];
                      bool last;
                      {
                        std::lock_guard lock(state->mu);
                        state->ok[i] = ok;
                        last = --state->left == 0;
                      }
                      if (last) finish();
                    });
  }
}

void ReplicaChannels::send_to_original(const std::shared_ptr<Context>& ctx, const Vnode& primary,
                                       const Vnode& target, int depth,
                                       const std::vector<Item>& items, Acked done) {
  struct Writes {
    std::mutex mu;
    std::vector<bool> ok;  // GUARDED_BY(mu)
    std::size_t left = 0;  // GUARDED_BY(mu)
    Acked done;
  };
  auto state = std::make_shared<Writes>();
  state->ok.assign(items.size(), false);
  state->left = items.size();
  state->done = std::move(done);
  if (items.empty()) return state->done({});
  auto info = std::make_shared<pb::PBDTableReplicaInfo>();
  fill_original_info(info.get(), primary, ctx->host.remote_successors(primary.id), target, depth,
                     ctx->replicas());
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto record = [state, i](bool ok) {
      bool last;
      {
        std::lock_guard lock(state->mu);
        state->ok[i] = ok;
        last = --state->left == 0;
      }
      if (last) state->done(state->ok);
    };
    ctx->original_lanes.run(target.host, [ctx, info, primary, target, item = items[i],
                                          record](OriginalLanes::Finished finished) {
      ctx->stats.replication_in_flight.inc();
      ctx->send_async(target.host, original_replica_request(*info, primary, target, item),
                      [ctx, info, primary, target, item, record, finished](Result<Message> reply) {
                        ctx->stats.replication_in_flight.dec();
                        // A tombstone deletes the original's copy: there is nothing to commit.
                        if (!acked(reply) || item.deleted) {
                          record(acked(reply));
                          return finished();
                        }
                        ctx->send_async(target.host,
                                        original_commit_request(*info, primary, target, item),
                                        [record, finished](Result<Message> commit) {
                                          record(acked(commit));
                                          finished();
                                        });
                      });
    });
  }
}

bool ReplicaChannels::takes_batches(const std::string& host) {
  std::lock_guard lock(mu_);
  auto it = single_only_.find(host);
  if (it == single_only_.end()) return true;
  if (std::chrono::steady_clock::now() < it->second) return false;
  single_only_.erase(it);  // time to try a batch again
  return true;
}

std::size_t ReplicaChannels::busy_channels() const {
  std::lock_guard lock(mu_);
  return channels_.size();
}

}  // namespace dendrite::dtable
