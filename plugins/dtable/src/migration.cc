#include "migration.h"

#include <algorithm>
#include <chrono>
#include <unordered_set>

#include "batches.h"
#include "codec.h"
#include "dendrite/dtable/messages.h"
#include "primary.h"
#include "replication.h"

namespace dendrite::dtable {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::int64_t ns(Milliseconds d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

// Keeps the newest version per hash.
std::vector<Item> newest_per_key(std::vector<Item> items) {
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.timestamp > b.timestamp;
  });
  items.erase(std::unique(items.begin(), items.end(),
                          [](const Item& a, const Item& b) { return a.hash == b.hash; }),
              items.end());
  return items;
}

bool contains(const std::vector<Vnode>& list, const Vnode& v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

}  // namespace

Maintenance::Maintenance(std::shared_ptr<Context> ctx) : ctx_(std::move(ctx)) {}

Maintenance::~Maintenance() {
  stop();
}

void Maintenance::start() {
  for (const auto& v : ctx_->vnodes()) {
    replica_sets_[v->self.id] = ctx_->host.remote_successors(v->self.id);
  }
  thread_ = std::thread([this] { run(); });
}

void Maintenance::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Maintenance::stopping() const {
  std::lock_guard lock(mu_);
  return stop_;
}

void Maintenance::post(const RingEvent& event) {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    queue_.push_back(event);
  }
  cv_.notify_all();
}

void Maintenance::run() {
  auto next_check = SteadyClock::now() + ctx_->settings.check_interval;
  for (;;) {
    std::optional<RingEvent> event;
    {
      std::unique_lock lock(mu_);
      cv_.wait_until(lock, next_check, [this] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      if (!queue_.empty()) {
        event = std::move(queue_.front());
        queue_.pop_front();
      }
    }
    if (event) {
      handle(*event);
    } else {
      self_check();
      next_check = SteadyClock::now() + ctx_->settings.check_interval;
    }
  }
}

void Maintenance::handle(const RingEvent& event) {
  VnodeState* v = ctx_->local(event.target.id);
  if (!v) return;
  switch (event.type) {
    case RingEventType::kPredecessorLeft:
      promote(*v, event.old_predecessor);
      break;
    case RingEventType::kPredecessorJoined:
      hand_over(*v);
      break;
    case RingEventType::kReplicasChanged:
      replicas_changed(*v, event.remote_successors);
      break;
  }
}

void Maintenance::promote(VnodeState& v, const std::optional<Vnode>& left) {
  v.settle_for(ctx_->settings.settle);
  // Wait (bounded) for the new predecessor: it tells which range is ours now.
  const auto wait_until =
      SteadyClock::now() + std::min<Milliseconds>(ctx_->settings.settle, Milliseconds(5000));
  std::optional<Vnode> pred = ctx_->host.predecessor(v.self.id);
  while (!pred && SteadyClock::now() < wait_until && !stopping()) {
    std::this_thread::sleep_for(Milliseconds(50));
    pred = ctx_->host.predecessor(v.self.id);
  }
  std::optional<std::pair<Id, Id>> range;
  if (pred && pred->id != v.self.id) range = std::make_pair(pred->id, v.self.id);
  auto mine = [&](const Item& item, const ReplicaMeta& meta) {
    if (left && meta.master && meta.master->id == left->id) return true;
    return range && between(range->first, range->second, item.hash, true);
  };
  std::vector<Item> items = v.replica.select(mine);
  // The other replicas of the vnode that left may hold copies we lack.
  for (const Vnode& r : ctx_->host.remote_successors(v.self.id)) {
    if (stopping()) return;
    if (left) {
      auto got = pull(r, left, std::nullopt);
      items.insert(items.end(), got.begin(), got.end());
    }
    if (range) {
      auto got = pull(r, std::nullopt, range);
      items.insert(items.end(), got.begin(), got.end());
    }
  }
  items = newest_per_key(std::move(items));
  if (!items.empty()) {
    ctx_->log.info("promoting " + std::to_string(items.size()) + " keys to " + v.self.to_string() +
                   (left ? " after " + left->to_string() + " left" : std::string()));
  }
  ctx_->stats.promoted_keys.inc(items.size());
  adopt(ctx_, v, items, /*replicate=*/true);
}

std::vector<Item> Maintenance::pull(const Vnode& from, const std::optional<Vnode>& master,
                                    const std::optional<std::pair<Id, Id>>& range) {
  std::vector<Item> out;
  std::optional<Id> after;
  for (int page = 0; page < 100000 && !stopping(); ++page) {
    PBDTableLocalKeys req;
    to_pb(from, req.mutable_dest());
    req.set_replicas(true);
    req.set_with_values(true);
    req.set_limit(static_cast<int>(ctx_->settings.batch_items * 4));
    if (master) to_pb(*master, req.mutable_master());
    if (range) {
      req.set_rangestart(range->first.raw());
      req.set_rangeend(range->second.raw());
    }
    if (after) req.set_afterkeyhash(after->raw());
    auto reply = ctx_->call(from.host, pack(msg::kLocalKeys, req));
    if (!reply.ok()) break;
    auto list = unpack<PBDTableMultiItemResponse>(*reply, msg::kMultiItemResponse);
    if (!list.ok()) break;
    for (const auto& pb : list->items()) {
      auto item = item_from_pb(pb);
      if (item.ok()) {
        after = item->hash;
        out.push_back(std::move(*item));
      }
    }
    if (!list->more() || list->items_size() == 0) break;
  }
  return out;
}

void Maintenance::hand_over(VnodeState& v) {
  // A few passes: writes accepted while the first pass ran follow in the next.
  for (int pass = 0; pass < 5 && !stopping(); ++pass) {
    auto pred = ctx_->host.predecessor(v.self.id);
    if (!pred || pred->id == v.self.id) return;
    const Id from = pred->id, to = v.self.id;
    std::vector<Item> items = v.primary.select(
        [&](const Item& item, const ReplicaMeta&) { return !between(from, to, item.hash, true); });
    if (items.empty()) return;
    const std::size_t total = items.size();
    std::vector<Id> moved = deliver_to_owners(v, v.primary, std::move(items));
    if (!moved.empty()) {
      ctx_->log.info("handed " + std::to_string(moved.size()) + " of " + std::to_string(total) +
                     " keys from " + v.self.to_string() + " to their new owners");
      // Our replicas of them are no longer needed (guarded by master = v).
      for (const Vnode& r : ctx_->host.remote_successors(v.self.id)) {
        drop_replicas(ctx_, v.self, r, moved);
      }
    }
    if (moved.size() < total) return;  // an owner did not answer: the self-check retries
  }
}

std::vector<Id> Maintenance::deliver_to_owners(VnodeState& v, Store& source,
                                               std::vector<Item> items) {
  // In ring order after v: one lookup covers every key up to the owner found.
  std::sort(items.begin(), items.end(), [&](const Item& a, const Item& b) {
    return distance(v.self.id, a.hash) < distance(v.self.id, b.hash);
  });
  std::vector<Id> moved;
  std::size_t i = 0;
  while (i < items.size() && !stopping()) {
    auto found = ctx_->host.lookup(1, items[i].hash);
    if (!found.ok() || found->empty()) break;
    const Vnode owner = found->front();
    const Id first = items[i].hash;
    std::size_t j = i;
    while (j < items.size() && distance(first, items[j].hash) <= distance(first, owner.id)) ++j;
    std::vector<Item> group(items.begin() + static_cast<std::ptrdiff_t>(i),
                            items.begin() + static_cast<std::ptrdiff_t>(j));
    i = j;
    if (owner.id == v.self.id && &source == &v.primary) continue;  // the ring says we own them
    std::vector<Item> taken;
    if (owner.host == ctx_->host.address()) {
      VnodeState* local = ctx_->local(owner.id);
      if (!local) continue;
      adopt(ctx_, *local, group, /*replicate=*/true);
      taken = std::move(group);
    } else {
      taken = deliver(owner, group);
    }
    for (const Item& item : taken) {
      if (source.erase_if_not_newer(item.hash, item.timestamp)) moved.push_back(item.hash);
    }
  }
  return moved;
}

std::vector<Item> Maintenance::deliver(const Vnode& owner, const std::vector<Item>& items) {
  std::vector<Item> taken;
  int failures = 0;  // consecutive: after two the owner is taken for gone
  const auto ranges =
      batch_ranges(items.size(), ctx_->settings.batch_items, ctx_->settings.batch_bytes,
                   [&](std::size_t i) { return items[i].key.size() + items[i].value.size(); });
  for (const auto& [from, to] : ranges) {
    if (failures >= 2) break;
    PBDTableSetMultiItem req;
    to_pb(owner, req.mutable_dest());
    req.set_demoting(true);
    for (std::size_t i = from; i < to; ++i) to_pb(items[i], req.add_items());
    // The new owner replicates each batch before it answers.
    auto reply = ctx_->call(owner.host, pack(msg::kSetMultiItem, req),
                            3 * ctx_->timeout() + Milliseconds(100));
    Result<PBDTableResponse> r = Status::Unavailable("no answer");
    if (reply.ok() && error_of(*reply).ok()) r = unpack<PBDTableResponse>(*reply, msg::kResponse);
    if (!r.ok()) {
      ++failures;
      continue;
    }
    failures = 0;
    for (std::size_t i = from; i < to; ++i) {
      const int k = static_cast<int>(i - from);
      if (k < r->results_size() && !r->results(k).ok()) continue;
      taken.push_back(items[i]);
    }
  }
  ctx_->stats.migrated_keys.inc(taken.size());
  return taken;
}

void Maintenance::replicas_changed(VnodeState& v, const std::vector<Vnode>& now) {
  std::vector<Vnode>& before = replica_sets_[v.self.id];
  const std::vector<Vnode> old = before;
  before = now;
  for (const Vnode& r : now) {
    if (stopping()) return;
    if (!contains(old, r)) sync_replica(ctx_, v, r);
  }
  std::vector<Id> hashes;
  for (const Vnode& r : old) {
    if (contains(now, r)) continue;
    if (hashes.empty()) {
      for (const auto& [hash, ts] : v.primary.stamps()) hashes.push_back(hash);
    }
    drop_replicas(ctx_, v.self, r, hashes);
  }
}

void Maintenance::self_check() {
  for (const auto& v : ctx_->vnodes()) {
    if (stopping()) return;
    check(*v);
  }
}

void Maintenance::check(VnodeState& v) {
  auto pred = ctx_->host.predecessor(v.self.id);
  if (pred) {
    hand_over(v);
    // Replica copies of keys that are ours now (e.g. after several failures).
    if (pred->id != v.self.id) {
      const Id from = pred->id, to = v.self.id;
      auto owned = v.replica.select(
          [&](const Item& item, const ReplicaMeta&) { return between(from, to, item.hash, true); });
      if (!owned.empty()) adopt(ctx_, v, owned, /*replicate=*/true);
    }
  }
  bool synced = true;
  const std::vector<Vnode> targets = ctx_->host.remote_successors(v.self.id);
  replica_sets_[v.self.id] = targets;
  for (const Vnode& t : targets) {
    if (stopping()) return;
    if (!sync_replica(ctx_, v, t)) synced = false;
  }
  const std::int64_t now = ctx_->clock->peek();
  const std::int64_t history = ns(4 * ctx_->timeout() + Milliseconds(1000));
  const std::int64_t grace = ns(ctx_->settings.tombstone_grace);
  const std::int64_t lease = ns(3 * ctx_->settings.check_interval);
  // Tombstones go once every current replica confirmed them and the grace
  // passed (docs/dtable.md explains why nothing older can come back).
  v.primary.collect(now, synced ? grace : 0, history);
  // Orphans: replica entries no master renewed for a lease go to the key's
  // owner (last write wins there), then away.
  auto orphans = v.replica.select(
      [&](const Item&, const ReplicaMeta& meta) { return meta.refreshed_ns < now - lease; });
  if (!orphans.empty() && !stopping()) {
    auto moved = deliver_to_owners(v, v.replica, std::move(orphans));
    if (!moved.empty()) {
      ctx_->log.debug("cleared " + std::to_string(moved.size()) + " orphan replicas on " +
                      v.self.to_string());
    }
  }
  v.replica.collect(now, grace + lease, history);
}

void Maintenance::leave() {
  for (const auto& v : ctx_->vnodes()) {
    std::optional<Vnode> heir;
    for (const Vnode& s : ctx_->host.successors(v->self.id)) {
      if (s.host != ctx_->host.address()) {
        heir = s;
        break;
      }
    }
    if (!heir) continue;  // alone in the ring
    std::vector<Item> items =
        v->primary.select([](const Item&, const ReplicaMeta&) { return true; });
    if (items.empty()) continue;
    auto taken = deliver(*heir, items);
    ctx_->log.info("leaving: handed " + std::to_string(taken.size()) + " of " +
                   std::to_string(items.size()) + " keys of " + v->self.to_string() + " to " +
                   heir->to_string());
  }
}

}  // namespace dendrite::dtable
