#include "maintenance.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "batches.h"
#include "clock.h"
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

bool contains_id(const std::vector<Id>& list, const Id& id) {
  return std::find(list.begin(), list.end(), id) != list.end();
}

// Hand-over batches in flight per stream, and streams per owner at most.
constexpr std::size_t kHandOverWindow = 8;
constexpr std::size_t kStreams = 4;

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
  // Hand-overs that reached a local vnode but belong further on.
  ctx_->set_hand_over_receiver([this](const Id& id) {
    if (VnodeState* v = ctx_->local(id)) {
      post(RingEvent{RingEventType::kPredecessorJoined, v->self, std::nullopt, std::nullopt, {}});
    }
  });
}

void Maintenance::stop() {
  ctx_->set_hand_over_receiver(nullptr);
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
    std::vector<Id> joined;  // vnodes whose predecessor joined: hand-overs
    {
      std::unique_lock lock(mu_);
      TimePoint wake = next_check;
      for (const auto& [id, r] : retries_) wake = std::min(wake, r.due);
      cv_.wait_until(lock, wake, [this] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      // Changes of ownership first: a replica sync (ReplicasChanged) can take
      // long, and the keys a newcomer owns should not wait for it.
      auto it = std::find_if(queue_.begin(), queue_.end(), [](const RingEvent& e) {
        return e.type != RingEventType::kReplicasChanged;
      });
      if (it == queue_.end()) it = queue_.begin();
      if (it != queue_.end() && it->type == RingEventType::kPredecessorJoined) {
        // Every hand-over queued before the next failure, at once (one per
        // vnode: a hand-over reads the current predecessor).
        while (it != queue_.end() && it->type != RingEventType::kPredecessorLeft) {
          if (it->type == RingEventType::kPredecessorJoined) {
            if (!contains_id(joined, it->target.id)) joined.push_back(it->target.id);
            it = queue_.erase(it);
          } else {
            ++it;
          }
        }
      } else if (it != queue_.end()) {
        event = std::move(*it);
        queue_.erase(it);
      }
    }
    // Retries that are due go along with the hand-overs of this round.
    const auto now = SteadyClock::now();
    for (const auto& [id, r] : retries_) {
      if (r.due <= now && !contains_id(joined, id)) joined.push_back(id);
    }
    if (!joined.empty()) {
      hand_over_all(joined);
    } else if (event) {
      handle(*event);
    } else if (now >= next_check) {
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
      hand_over_all({v->self.id});
      break;
    case RingEventType::kReplicasChanged:
      replicas_changed(*v, event.remote_successors);
      break;
  }
}

void Maintenance::hand_over_all(const std::vector<Id>& targets) {
  // Each vnode's hand-over on its own thread (they share nothing but the
  // thread-safe context). A join reported meanwhile for another vnode (the
  // newcomer's vnodes join one after the other) starts at once too, instead
  // of waiting for these to finish; one for a vnode still handing over stays
  // queued for a fresh pass afterwards.
  struct Task {
    Id id;
    VnodeState* v = nullptr;
    std::thread thread;
    bool finished = false;  // GUARDED_BY(mu_)
    bool done = false;      // GUARDED_BY(mu_)
  };
  std::list<Task> tasks;  // stable addresses for the threads
  auto start = [&](const Id& id) {
    VnodeState* v = ctx_->local(id);
    if (!v) {
      retries_.erase(id);
      return;
    }
    Task& t = tasks.emplace_back();
    t.id = id;
    t.v = v;
    t.thread = std::thread([this, &t] {
      const bool ok = hand_over(*t.v);
      std::lock_guard lock(mu_);
      t.done = ok;
      t.finished = true;
      cv_.notify_all();
    });
  };
  for (const Id& id : targets) start(id);
  for (;;) {
    std::vector<Id> more;
    {
      std::unique_lock lock(mu_);
      auto busy = [&](const Id& id) {
        return std::any_of(tasks.begin(), tasks.end(),
                           [&](const Task& t) { return !t.finished && t.id == id; });
      };
      // Joins queued before the next failure, of vnodes not handing over.
      auto take = [&](bool erase) {
        bool any = false;
        for (auto it = queue_.begin();
             it != queue_.end() && it->type != RingEventType::kPredecessorLeft;) {
          if (it->type == RingEventType::kPredecessorJoined && !busy(it->target.id) &&
              !contains_id(more, it->target.id)) {
            any = true;
            if (!erase) break;
            more.push_back(it->target.id);
            it = queue_.erase(it);
          } else {
            ++it;
          }
        }
        return any;
      };
      auto running = [&] {
        return std::any_of(tasks.begin(), tasks.end(), [](const Task& t) { return !t.finished; });
      };
      cv_.wait(lock, [&] { return !running() || (!stop_ && take(false)); });
      if (!running()) break;
      take(true);
    }
    for (const Id& id : more) start(id);
  }
  for (Task& t : tasks) t.thread.join();
  // In start order: a later pass of the same vnode decides.
  for (const Task& t : tasks) schedule_retry(t.id, t.done);
}

void Maintenance::schedule_retry(const Id& v, bool done) {
  // 100 ms, doubling up to 2 s, at most kMaxAttempts times (about 20 s in
  // all); after that the self-check tries again.
  constexpr int kMaxAttempts = 14;
  if (done || stopping()) {
    retries_.erase(v);
    return;
  }
  auto [it, fresh] = retries_.try_emplace(v);
  Retry& r = it->second;
  if (!fresh) ++r.attempt;
  if (r.attempt >= kMaxAttempts) {
    ctx_->log.debug("hand-over of " + v.hex() + " still incomplete; the self-check retries it");
    retries_.erase(it);
    return;
  }
  const Milliseconds pause =
      std::min<Milliseconds>(Milliseconds(100L << std::min(r.attempt, 5)), Milliseconds(2000));
  r.due = SteadyClock::now() + pause;
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
    pb::PBDTableLocalKeys req;
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
    auto list = unpack<pb::PBDTableMultiItemResponse>(*reply, msg::kMultiItemResponse);
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

bool Maintenance::hand_over(VnodeState& v) {
  // A few passes: writes accepted while the first pass ran follow in the next.
  for (int pass = 0; pass < 5 && !stopping(); ++pass) {
    auto pred = ctx_->host.predecessor(v.self.id);
    if (!pred || pred->id == v.self.id) return true;
    const Id from = pred->id, to = v.self.id;
    const auto t0 = SteadyClock::now();
    const std::uint64_t changes = v.primary.changes();
    // The keys outside (from, to]: the arc (to, from] of the disk.
    const std::vector<HashSpan> outside = arc_spans(to, from);
    std::vector<Item> items = v.primary.select_hashes(
        [&](const Id& hash) { return !between(from, to, hash, true); }, &outside);
    if (items.empty()) return true;
    const std::size_t total = items.size();
    const auto t1 = SteadyClock::now();
    bool complete = true;
    std::vector<Id> moved = deliver_to_owners(v, v.primary, std::move(items), &complete);
    if (!moved.empty()) {
      auto ms = [](SteadyClock::duration d) {
        return std::to_string(std::chrono::duration_cast<Milliseconds>(d).count());
      };
      ctx_->log.info("handed " + std::to_string(moved.size()) + " of " + std::to_string(total) +
                     " keys from " + v.self.to_string() + " to their new owners in " +
                     ms(SteadyClock::now() - t0) + " ms (scan " + ms(t1 - t0) + " ms)");
      // Our replicas of them are no longer needed (guarded by master = v).
      for (const Vnode& r : ctx_->host.remote_successors(v.self.id)) {
        drop_replicas(ctx_, v.self, r, moved);
      }
    }
    if (!complete) return false;  // retried soon
    // Nothing stored or committed since the scan: another would find nothing.
    if (v.primary.changes() == changes) return true;
  }
  return true;
}

std::vector<Id> Maintenance::deliver_to_owners(VnodeState& v, Store& source,
                                               std::vector<Item> items, bool* complete) {
  auto incomplete = [&] {
    if (complete) *complete = false;
  };
  // In ring order after v: one lookup covers every key up to the owner found.
  // (Sorted by hash, then rotated to start after v: cheaper than comparing
  // distances.)
  std::sort(items.begin(), items.end(),
            [](const Item& a, const Item& b) { return a.hash < b.hash; });
  auto from_v = std::partition_point(items.begin(), items.end(),
                                     [&](const Item& a) { return a.hash < v.self.id; });
  std::rotate(items.begin(), from_v, items.end());
  // The local vnodes' own ranges (by their predecessors) need no route: a
  // key in one of them goes there directly (a newcomer's vnodes pass on what
  // the old owner's routes sent to the wrong one of them).
  struct LocalRange {
    Id from, to;
    VnodeState* v;
  };
  std::vector<LocalRange> local_ranges;
  for (const auto& lv : ctx_->vnodes()) {
    auto p = ctx_->host.predecessor(lv->self.id);
    if (lv.get() != &v && p && p->id != lv->self.id) {
      local_ranges.push_back({p->id, lv->self.id, lv.get()});
    }
  }
  auto local_owner = [&](const Id& hash) -> VnodeState* {
    // Of the ranges that hold it (one may be stale, too wide), the vnode
    // closest after the hash.
    VnodeState* best = nullptr;
    Id best_gap;
    for (const LocalRange& r : local_ranges) {
      if (!between(r.from, r.to, hash, true)) continue;
      const Id gap = distance(hash, r.to);
      if (!best || gap < best_gap) {
        best = r.v;
        best_gap = gap;
      }
    }
    return best;
  };
  std::vector<Id> moved;
  std::size_t i = 0;
  while (i < items.size() && !stopping()) {
    if (VnodeState* mine = local_owner(items[i].hash)) {
      std::size_t j = i + 1;
      while (j < items.size() && local_owner(items[j].hash) == mine) ++j;
      std::vector<Item> group(
          std::make_move_iterator(items.begin() + static_cast<std::ptrdiff_t>(i)),
          std::make_move_iterator(items.begin() + static_cast<std::ptrdiff_t>(j)));
      i = j;
      adopt(ctx_, *mine, group, /*replicate=*/true);
      source.erase_if_not_newer(group, &moved);
      // Not `mine`'s either when its predecessor is not yet the nearest.
      if (ctx_->any_outside(*mine, group)) ctx_->request_hand_over(mine->self.id);
      continue;
    }
    auto found = ctx_->host.lookup(1, items[i].hash);
    if (!found.ok() || found->empty()) {
      incomplete();
      break;
    }
    Vnode owner = found->front();
    const Id first = items[i].hash;
    if (&source == &v.primary) {
      // v's items lie outside (pred, v]: pred is nearer their owners than v.
      // Right after a join the routes may still lead to v (or past it) until
      // the ring stabilises; pred, when nearer than the route's answer, takes
      // them now and passes on what is not its own. Each such hop brings a
      // key strictly nearer its owner, so nothing bounces back and forth.
      auto pred = ctx_->host.predecessor(v.self.id);
      if (pred && pred->id != v.self.id && distance(first, pred->id) < distance(first, owner.id)) {
        owner = *pred;
      }
    }
    std::size_t j = i;
    while (j < items.size() && distance(first, items[j].hash) <= distance(first, owner.id)) ++j;
    std::vector<Item> group(
        std::make_move_iterator(items.begin() + static_cast<std::ptrdiff_t>(i)),
        std::make_move_iterator(items.begin() + static_cast<std::ptrdiff_t>(j)));
    i = j;
    if (owner.id == v.self.id && &source == &v.primary) {
      // The routes still lead here although v's predecessor says otherwise:
      // the ring has not caught up with the join yet (the predecessor learns
      // of its new successor at its next stabilisation). Try again soon.
      ctx_->log.debug("hand-over from " + v.self.to_string() + ": " + std::to_string(j - i) +
                      " keys still routed here; trying again soon");
      incomplete();
      continue;
    }
    if (owner.host == ctx_->host.address()) {
      VnodeState* local = ctx_->local(owner.id);
      if (!local) {
        incomplete();
        continue;
      }
      adopt(ctx_, *local, group, /*replicate=*/true);
      source.erase_if_not_newer(group, &moved);
      if (ctx_->any_outside(*local, group)) ctx_->request_hand_over(local->self.id);
    } else {
      const std::size_t asked = group.size();
      // A large group travels as several streams at once (building batches
      // and erasing what was taken is this side's work, one thread each).
      // Erased batch by batch as the owner confirms, while later ones travel.
      const std::size_t min_stream = 8 * std::max<std::size_t>(ctx_->settings.batch_items, 1);
      const std::size_t streams = std::clamp<std::size_t>(asked / min_stream, 1, kStreams);
      // A primary's items stay here as replica copies of their new owner:
      // it need not send them back when this vnode is one of its replicas.
      // (Not with an original owner: it re-replicates what it takes itself.)
      const bool keep = &source == &v.primary && dialect_of(owner) == PeerDialect::kOurs;
      std::mutex moved_mu;
      std::atomic<std::size_t> took{0};
      auto stream = [&](std::vector<Item> part) {
        took += deliver(
            owner, std::move(part),
            [&](std::vector<Item>& taken) {
              std::vector<Id> erased;
              if (keep) {
                source.move_to(v.replica, taken, ReplicaMeta{owner, 0, ctx_->clock->age_now()},
                               &erased);
              } else {
                source.erase_if_not_newer(taken, &erased);
              }
              std::lock_guard lock(moved_mu);
              moved.insert(moved.end(), erased.begin(), erased.end());
            },
            keep ? &v.self : nullptr);
      };
      std::vector<std::thread> helpers;
      const std::size_t per = (asked + streams - 1) / streams;
      for (std::size_t k = 1; k < streams; ++k) {
        const auto b = group.begin() + static_cast<std::ptrdiff_t>(std::min(asked, k * per));
        const auto e = group.begin() + static_cast<std::ptrdiff_t>(std::min(asked, (k + 1) * per));
        helpers.emplace_back(
            stream, std::vector<Item>(std::make_move_iterator(b), std::make_move_iterator(e)));
      }
      group.resize(std::min(asked, per));
      stream(std::move(group));
      for (auto& t : helpers) t.join();
      if (took.load() < asked) incomplete();
    }
  }
  if (i < items.size()) incomplete();
  return moved;
}

std::size_t Maintenance::deliver(const Vnode& owner, std::vector<Item> items,
                                 const std::function<void(std::vector<Item>&)>& taken,
                                 const Vnode* keeper) {
  if (dialect_of(owner) != PeerDialect::kOurs) {
    return deliver_to_original(owner, std::move(items), taken, keeper);
  }
  // Batches go out through send_async, up to kHandOverWindow in flight; the
  // owner answers each once its replicas hold the items. This thread builds
  // the batches and passes on what was taken; replies only record outcomes.
  struct Flight {
    std::mutex mu;
    std::condition_variable cv;
    std::size_t in_flight = 0;  // GUARDED_BY(mu)
    int failures = 0;           // GUARDED_BY(mu) batches that failed
    // Answered batches: [from, to) and, per item, whether the owner took it.
    std::deque<std::pair<std::size_t, std::vector<char>>> answered;  // GUARDED_BY(mu)
  };
  auto flight = std::make_shared<Flight>();
  const auto ranges =
      batch_ranges(items.size(), ctx_->settings.batch_items, ctx_->settings.batch_bytes,
                   [&](std::size_t i) { return items[i].key.size() + items[i].value.size(); });
  const Milliseconds limit = 3 * ctx_->timeout() + Milliseconds(100);
  std::size_t count = 0;
  std::vector<Item> part;
  // Hands the answered batches to `taken`; with `all`, waits for every batch
  // in flight, else for a free slot in the window.
  auto drain = [&](bool all) {
    for (;;) {
      std::deque<std::pair<std::size_t, std::vector<char>>> ready;
      bool more;
      {
        std::unique_lock lock(flight->mu);
        flight->cv.wait(lock, [&] {
          return !flight->answered.empty() ||
                 (all ? flight->in_flight == 0 : flight->in_flight < kHandOverWindow);
        });
        ready.swap(flight->answered);
        more = all ? flight->in_flight > 0 : flight->in_flight >= kHandOverWindow;
      }
      for (auto& [from, took] : ready) {
        part.clear();
        for (std::size_t k = 0; k < took.size(); ++k) {
          if (took[k]) part.push_back(std::move(items[from + k]));
        }
        count += part.size();
        if (!part.empty()) taken(part);
      }
      if (!more) return;
    }
  };
  for (const auto& [from, to] : ranges) {
    drain(false);
    {
      std::lock_guard lock(flight->mu);
      // After two failed batches the owner is taken for gone.
      if (flight->failures >= 2) break;
      ++flight->in_flight;
    }
    pb::PBDTableSetMultiItem req;
    to_pb(owner, req.mutable_dest());
    if (keeper) to_pb(*keeper, req.mutable_origin());
    req.set_demoting(true);
    Message packed = pack(msg::kSetMultiItem, req);
    append_items(items, from, to, pb::PBDTableSetMultiItem::kItemsFieldNumber, &packed.payload);
    ctx_->send_async(
        owner.host, std::move(packed),
        [flight, from = from, n = to - from](Result<Message> reply) {
          auto r = reply_as<pb::PBDTableResponse>(reply, msg::kResponse);
          std::vector<char> took(n, 0);
          if (r.ok()) {
            for (std::size_t k = 0; k < n; ++k) {
              const int x = static_cast<int>(k);
              took[k] = x < r->results_size() && !r->results(x).ok() ? 0 : 1;
            }
          }
          std::lock_guard lock(flight->mu);
          if (!r.ok()) ++flight->failures;
          flight->answered.emplace_back(from, std::move(took));
          --flight->in_flight;
          flight->cv.notify_all();
        },
        limit);
  }
  drain(true);
  ctx_->stats.migrated_keys.inc(count);
  return count;
}

PeerDialect Maintenance::dialect_of(const Vnode& owner) {
  const PeerDialect known = ctx_->host.peer_dialect(owner.host);
  if (known != PeerDialect::kUnknown) return known;
  // Nothing went there yet: any request starts the probe, whose answer
  // arrives before the request's own.
  pb::PBDTableStatus req;
  to_pb(owner, req.mutable_dest());
  (void)ctx_->call(owner.host, pack(msg::kStatus, req));
  return ctx_->host.peer_dialect(owner.host);
}

std::size_t Maintenance::deliver_to_original(const Vnode& owner, std::vector<Item> items,
                                             const std::function<void(std::vector<Item>&)>& taken,
                                             const Vnode* keeper) {
  // The original takes a hand-over as one SetItem{demoting} per key, with
  // `origin` (where its ClearReplica{demoted} goes back) and replicaInfo set,
  // answered once stored; it then replicates the key itself.
  const Vnode origin = keeper ? *keeper : ctx_->vnodes().front()->self;
  std::size_t count = 0;
  int failures = 0;
  std::vector<Item> part;
  auto pass_on = [&] {
    count += part.size();
    if (!part.empty()) taken(part);
    part.clear();
  };
  for (Item& item : items) {
    pb::PBDTableSetItem req;
    to_pb(owner, req.mutable_dest());
    to_pb(origin, req.mutable_origin());
    req.set_demoting(true);
    req.set_minacks(1);
    pb::PBDTableItem* pb = req.mutable_item();
    // An original drops expiresAt and would keep the value for good: a value
    // already expired goes as the tombstone it reads as.
    const bool tombstone = item.deleted || expired_at(item.expires_ms, system_wall_ms());
    if (!item.deleted && tombstone) {
      Item gone = item;
      gone.deleted = true;
      gone.value.clear();
      gone.expires_ms = 0;
      to_pb(gone, pb);
    } else {
      to_pb(item, pb);
    }
    pb->set_commited(true);
    to_pb(origin, pb->mutable_replicainfo()->mutable_master());
    Result<Message> reply = ctx_->call_in_turn(owner.host, pack(msg::kSetItem, req));
    // Taken: stored; or refused because it holds a newer version ("Record too
    // old"); or, for a tombstone, refused because it holds no copy to delete.
    bool took = false;
    if (reply.ok()) {
      if (Status e = error_of(*reply); !e.ok()) {
        took = tombstone || e.message().find("too old") != std::string::npos;
      } else if (auto r = unpack<pb::PBDTableResponse>(*reply, msg::kResponse); r.ok()) {
        took = r->ok() || r->code() == kCodeOlder;
      }
    }
    if (!took) {
      // After two failed keys the owner is taken for gone.
      if (++failures >= 2) break;
      continue;
    }
    part.push_back(std::move(item));
    if (part.size() >= 64) pass_on();
  }
  pass_on();
  ctx_->stats.migrated_keys.inc(count);
  return count;
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
    if (!hand_over(v)) schedule_retry(v.self.id, false);
    // Replica copies of keys that are ours now (e.g. after several failures).
    if (pred->id != v.self.id) {
      const Id from = pred->id, to = v.self.id;
      const std::vector<HashSpan> ours = arc_spans(from, to);
      auto owned = v.replica.select(
          [&](const Item& item, const ReplicaMeta&) { return between(from, to, item.hash, true); },
          &ours);
      if (!owned.empty()) adopt(ctx_, v, owned, /*replicate=*/true);
    }
  }
  bool synced = true;
  const std::vector<Vnode> targets = ctx_->host.remote_successors(v.self.id);
  replica_sets_[v.self.id] = targets;
  for (const Vnode& t : targets) {
    if (stopping()) return;
    // An original replica was sent everything when it became one
    // (replicas_changed); it cannot be asked what it lacks.
    if (ctx_->host.peer_dialect(t.host) == PeerDialect::kOriginal) continue;
    if (!sync_replica(ctx_, v, t)) synced = false;
  }
  const std::int64_t now = ctx_->clock->age_now();
  const std::int64_t history = ns(4 * ctx_->timeout() + Milliseconds(1000));
  const std::int64_t grace = ns(ctx_->settings.tombstone_grace);
  const std::int64_t lease = ns(3 * ctx_->settings.check_interval);
  // Tombstones go once every current replica confirmed them and the grace
  // passed (docs/dtable.md explains why nothing older can come back).
  v.primary.collect(now, synced ? grace : 0, history);
  // Orphans: replica entries no master renewed for a lease go to the key's
  // owner (last write wins there), then away. An original master never
  // renews its copies (it sends no digests): they stay while it keeps this
  // host among its replicas.
  std::map<Id, bool> kept;  // by original master
  auto orphans = v.replica.select([&](const Item&, const ReplicaMeta& meta) {
    if (meta.refreshed_ns >= now - lease) return false;
    if (!meta.master) return true;
    auto [it, fresh] = kept.try_emplace(meta.master->id, false);
    if (fresh) it->second = original_keeps_copies_here(*meta.master);
    return !it->second;
  });
  if (!orphans.empty() && !stopping()) {
    auto moved = deliver_to_owners(v, v.replica, std::move(orphans));
    if (!moved.empty()) {
      ctx_->log.debug("cleared " + std::to_string(moved.size()) + " orphan replicas on " +
                      v.self.to_string());
    }
  }
  v.replica.collect(now, grace + lease, history);
}

bool Maintenance::original_keeps_copies_here(const Vnode& master) {
  if (ctx_->host.peer_dialect(master.host) != PeerDialect::kOriginal) return false;
  // Its copy holders in the ring as it is meant to be: itself (the owner of
  // its own id, unless it is no member now), then its replicas.
  const auto layout = ctx_->placement.layout();
  if (!layout->reachable(master.host)) return false;
  const auto holders = layout->holders(master.id, ctx_->replicas() + 1);
  if (holders.empty() || holders.front() != master.host) return false;
  return std::find(holders.begin(), holders.end(), ctx_->host.address()) != holders.end();
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
    const std::size_t total = items.size();
    const std::size_t taken = deliver(*heir, std::move(items), [](std::vector<Item>&) {});
    ctx_->log.info("leaving: handed " + std::to_string(taken) + " of " + std::to_string(total) +
                   " keys of " + v->self.to_string() + " to " + heir->to_string());
  }
}

}  // namespace dendrite::dtable
