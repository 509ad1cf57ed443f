#include "replication.h"

#include <algorithm>

#include "await.h"
#include "batches.h"
#include "codec.h"
#include "dendrite/dtable/messages.h"

namespace dendrite::dtable {
ReplicaWrite::ReplicaWrite(std::shared_ptr<Context> ctx, const Vnode& primary,
                           std::vector<Item> items, std::vector<Vnode> targets,
                           std::vector<std::vector<bool>> counts, std::vector<int> start_acks)
    : ctx_(std::move(ctx)),
      primary_(primary),
      items_(std::move(items)),
      targets_(std::move(targets)),
      counts_(std::move(counts)),
      acks_(start_acks.size() == items_.size() ? std::move(start_acks)
                                               : std::vector<int>(items_.size(), 0)),
      answered_by_(targets_.size(), false) {}

std::shared_ptr<ReplicaWrite> ReplicaWrite::start(std::shared_ptr<Context> ctx,
                                                  const Vnode& primary, std::vector<Item> items,
                                                  std::vector<Vnode> targets,
                                                  std::vector<std::vector<bool>> counts,
                                                  std::vector<int> start_acks) {
  std::shared_ptr<ReplicaWrite> w(new ReplicaWrite(std::move(ctx), primary, std::move(items),
                                                   std::move(targets), std::move(counts),
                                                   std::move(start_acks)));
  for (std::size_t t = 0; t < w->targets_.size(); ++t) w->send(t);
  return w;
}

void ReplicaWrite::send(std::size_t target) {
  auto self = shared_from_this();
  ctx_->replica_channels.send(
      ctx_, primary_, targets_[target], static_cast<int>(target), items_,
      [self, target](const std::vector<bool>& ok) { self->on_acks(target, ok); });
}

void ReplicaWrite::on_acks(std::size_t target, const std::vector<bool>& ok) {
  std::vector<std::size_t> late_drops;
  Settled settled;
  std::vector<int> acks;
  {
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < ok.size() && i < acks_.size(); ++i) {
      if (ok[i] && (counts_.empty() || counts_[i][target])) ++acks_[i];
      if (!failed_.empty() && failed_[i]) late_drops.push_back(i);
    }
    answered_by_[target] = true;
    ++answered_;
    cv_.notify_all();
    if (settled_ && settled_locked(settle_need_)) {
      settled = std::move(settled_);
      settled_ = nullptr;
      acks = acks_;
    }
  }
  if (!late_drops.empty()) drop(target, late_drops);
  if (settled) settled(acks);
}

bool ReplicaWrite::settled_locked(int need) const {
  if (answered_ == targets_.size()) return true;
  return std::all_of(acks_.begin(), acks_.end(), [need](int a) { return a >= need; });
}

std::vector<int> ReplicaWrite::wait(int need, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  cv_.wait_until(lock, deadline, [&] { return settled_locked(need); });
  return acks_;
}

std::vector<int> ReplicaWrite::wait_all() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return answered_ == targets_.size(); });
  return acks_;
}

void ReplicaWrite::when_settled(int need, Settled fn) {
  std::vector<int> acks;
  {
    std::lock_guard lock(mu_);
    if (!settled_locked(need)) {
      settle_need_ = need;
      settled_ = std::move(fn);
      return;
    }
    acks = acks_;
  }
  fn(acks);
}

void ReplicaWrite::abort(const std::vector<bool>& failed) {
  std::vector<std::size_t> items;
  for (std::size_t i = 0; i < items_.size() && i < failed.size(); ++i) {
    if (failed[i]) items.push_back(i);
  }
  std::vector<bool> answered;
  {
    std::lock_guard lock(mu_);
    failed_ = failed;
    failed_.resize(items_.size(), false);
    answered = answered_by_;
  }
  if (items.empty()) return;
  // Targets that answer later drop them in on_reply().
  for (std::size_t t = 0; t < targets_.size(); ++t) {
    if (answered[t]) drop(t, items);
  }
}

void ReplicaWrite::drop(std::size_t target, const std::vector<std::size_t>& items) {
  pb::PBDTableDropItems req;
  to_pb(targets_[target], req.mutable_dest());
  to_pb(primary_, req.mutable_origin());
  req.set_replica(true);
  for (std::size_t i : items) {
    auto* ref = req.add_items();
    ref->set_keyhash(items_[i].hash.raw());
    ref->set_timestamp(items_[i].timestamp);
  }
  ctx_->send_async(targets_[target].host, pack(msg::kDropItems, req), [](Result<Message>) {});
}

namespace {

// A replicate_async() under way: its batches, a bounded number in flight.
struct Replication : std::enable_shared_from_this<Replication> {
  static constexpr std::size_t kWindow = 8;  // batches in flight at once

  std::shared_ptr<Context> ctx;
  Vnode primary;
  std::vector<Vnode> targets;
  std::vector<std::vector<Item>> parts;
  std::function<void(bool)> done;

  std::mutex mu;
  std::size_t next = 0;  // GUARDED_BY(mu) the next part to send
  std::size_t left = 0;  // GUARDED_BY(mu) parts not yet settled
  bool all = true;       // GUARDED_BY(mu)
  bool pumping = false;  // GUARDED_BY(mu) a pump() loop is running

  // Sends parts while fewer than kWindow are in flight. One loop at a time: a
  // part that settles meanwhile (even on this thread, inside the loop) leaves
  // the sending to it, so nothing recurses.
  void pump() {
    {
      std::lock_guard lock(mu);
      if (pumping) return;
      pumping = true;
    }
    for (;;) {
      std::vector<Item> part;
      {
        std::lock_guard lock(mu);
        const std::size_t in_flight = next - (parts.size() - left);
        if (next == parts.size() || in_flight >= kWindow) {
          pumping = false;
          return;
        }
        part = std::move(parts[next++]);
      }
      auto w = ReplicaWrite::start(ctx, primary, std::move(part), targets);
      const int need = static_cast<int>(targets.size());
      // Every item acked by every target, or every target answered.
      w->when_settled(need, [self = shared_from_this(), need](const std::vector<int>& acks) {
        self->settled(std::all_of(acks.begin(), acks.end(), [need](int a) { return a >= need; }));
      });
    }
  }

  void settled(bool ok) {
    bool last, result;
    {
      std::lock_guard lock(mu);
      if (!ok) all = false;
      last = --left == 0;
      result = all;
    }
    if (last) return done(result);
    pump();
  }
};

}  // namespace

void replicate_async(const std::shared_ptr<Context>& ctx, const Vnode& primary,
                     std::vector<Item> items, const std::vector<Vnode>& targets,
                     std::function<void(bool)> done) {
  if (items.empty() || targets.empty()) return done(true);
  auto r = std::make_shared<Replication>();
  r->ctx = ctx;
  r->primary = primary;
  r->targets = targets;
  r->parts = item_batches(ctx->settings, std::move(items));
  r->left = r->parts.size();
  r->done = std::move(done);
  r->pump();
}

bool replicate_and_wait(const std::shared_ptr<Context>& ctx, const Vnode& primary,
                        const std::vector<Item>& items) {
  if (items.empty()) return true;
  std::vector<Vnode> targets = ctx->host.remote_successors(primary.id);
  return await<bool>([&](std::function<void(bool)> done) {
    replicate_async(ctx, primary, items, targets, std::move(done));
  });
}

namespace {

// Writes `items` of v to `target` as replica copies; true when every one was
// acknowledged.
bool push_replicas(const std::shared_ptr<Context>& ctx, VnodeState& v, const Vnode& target,
                   std::vector<Item> items) {
  bool ok = true;
  for (std::vector<Item>& part : item_batches(ctx->settings, items)) {
    auto w = ReplicaWrite::start(ctx, v.self, std::move(part), {target});
    for (int acks : w->wait_all()) {
      if (acks < 1) ok = false;
    }
  }
  return ok;
}

// An original replica cannot say what it lacks (no ReplicaDigest): it gets
// every item of v, as the original re-replicates every key when its replica
// set changes.
bool push_all_replicas(const std::shared_ptr<Context>& ctx, VnodeState& v, const Vnode& target) {
  return push_replicas(ctx, v, target,
                       v.primary.select([](const Item&, const ReplicaMeta&) { return true; }));
}

}  // namespace

bool sync_replica(const std::shared_ptr<Context>& ctx, VnodeState& v, const Vnode& target) {
  if (ctx->host.peer_dialect(target.host) == PeerDialect::kOriginal) {
    return push_all_replicas(ctx, v, target);
  }
  auto stamps = v.primary.stamps();
  const std::size_t batch = std::max<std::size_t>(ctx->settings.batch_items, 256) * 4;
  bool ok = true;
  for (std::size_t from = 0; from < stamps.size(); from += batch) {
    pb::PBDTableReplicaDigest req;
    to_pb(target, req.mutable_dest());
    to_pb(v.self, req.mutable_origin());
    const std::size_t to = std::min(stamps.size(), from + batch);
    for (std::size_t i = from; i < to; ++i) {
      auto* item = req.add_items();
      item->set_keyhash(stamps[i].first.raw());
      item->set_timestamp(stamps[i].second);
    }
    auto reply = ctx->call(target.host, pack(msg::kReplicaDigest, req));
    if (!reply.ok()) return false;
    auto missing = unpack<pb::PBDTableMultiItemResponse>(*reply, msg::kMultiItemResponse);
    if (!missing.ok()) {
      // The request's probe may just have shown an original there.
      if (ctx->host.peer_dialect(target.host) == PeerDialect::kOriginal) {
        return push_all_replicas(ctx, v, target);
      }
      return false;
    }
    std::vector<Item> items;
    for (const auto& m : missing->items()) {
      auto h = Id::from_bytes(m.keyhash());
      if (!h) continue;
      if (auto item = v.primary.get(*h)) items.push_back(std::move(*item));
    }
    if (!push_replicas(ctx, v, target, std::move(items))) ok = false;
  }
  return ok;
}

void drop_replicas(const std::shared_ptr<Context>& ctx, const Vnode& master, const Vnode& target,
                   const std::vector<Id>& hashes) {
  const std::size_t batch = std::max<std::size_t>(ctx->settings.batch_items, 256) * 4;
  for (std::size_t from = 0; from < hashes.size(); from += batch) {
    pb::PBDTableDropItems req;
    to_pb(target, req.mutable_dest());
    to_pb(master, req.mutable_origin());
    req.set_replica(true);
    for (std::size_t i = from; i < std::min(hashes.size(), from + batch); ++i) {
      req.add_items()->set_keyhash(hashes[i].raw());
    }
    ctx->send_async(target.host, pack(msg::kDropItems, req), [](Result<Message>) {});
  }
}

}  // namespace dendrite::dtable
