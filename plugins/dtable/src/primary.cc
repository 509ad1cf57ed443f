#include "primary.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "await.h"
#include "codec.h"
#include "dendrite/dtable/messages.h"
#include "replication.h"
#include "wire.h"

namespace dendrite::dtable {

std::optional<Item> newer(std::optional<Item> a, std::optional<Item> b) {
  if (!a) return b;
  if (!b) return a;
  return b->timestamp > a->timestamp ? b : a;
}

namespace {

std::string range_error(int n, int max) {
  return "consistency " + std::to_string(n) + " is out of range: the maximum is " +
         std::to_string(max) + " (replicas + 1)";
}

// Validates a consistency level; 0 or less means 1.
std::optional<std::string> check_level(int& n, int max) {
  if (n <= 0) n = 1;
  if (n > max) return range_error(n, max);
  return std::nullopt;
}

}  // namespace

namespace {

// One client write in progress at a primary: what is decided when the replica
// answers are in.
struct WriteOp {
  std::shared_ptr<Context> ctx;
  VnodeState* v = nullptr;
  int n = 1;  // copies asked
  std::vector<WriteOutcome> out;
  // Stamped and stored (pending unless n == 1); moved into the ReplicaWrite
  // when there is one (write->items() then).
  std::vector<Item> live;
  std::vector<std::size_t> index;  // item -> out
  WriteDone done;

  // Commits the items with enough copies, rolls back (here and on the
  // replicas) the others, runs the write hooks and answers. `write`: the
  // replica write of the items, if any.
  void finish(const std::vector<int>& acks, ReplicaWrite* write) {
    const std::vector<Item>& written = write ? write->items() : live;
    const int need = n - 1;
    std::vector<bool> failed(written.size(), false);
    bool any_failed = false;
    for (std::size_t k = 0; k < written.size(); ++k) {
      WriteOutcome& o = out[index[k]];
      const int got = k < acks.size() ? acks[k] : 0;
      o.copies = 1 + got;
      if (got >= need) {
        if (need > 0) v->primary.commit(written[k].hash, written[k].timestamp);  // else committed
        continue;
      }
      v->primary.rollback(written[k].hash, written[k].timestamp);
      ctx->stats.write_consistency_failures.inc();
      failed[k] = any_failed = true;
      o.code = kCodeConsistencyNotMet;
      o.error = std::string(kConsistencyNotMetText) + ": " + std::to_string(1 + got) + " of " +
                std::to_string(n) + " copies written";
    }
    if (any_failed && write) write->abort(failed);
    // The answer waits until this copy is on disk as the sync policy says
    // (write hooks too: they announce what is stored).
    std::vector<Item> events;
    if (!ctx->hooks.empty()) {
      for (std::size_t k = 0; k < written.size(); ++k) {
        if (!failed[k]) events.push_back(written[k]);
      }
    }
    auto answer = [ctx = ctx, self = v->self, events = std::move(events), out = std::move(out),
                   done = std::move(done)](Status stored) mutable {
      if (!stored.ok()) {
        // Not recorded on disk: not acknowledged (the copy in memory may
        // still be read, as after a time-out).
        for (WriteOutcome& o : out) {
          if (o.code == kCodeOk) o = WriteOutcome{kCodeUnavailable, stored.message(), 0, 0};
        }
        events.clear();
      }
      for (const Item& e : events) {
        ctx->hooks.call(WriteEvent{e.key, e.value, e.deleted, e.timestamp, self, e.expires_ms},
                        ctx->log);
      }
      done(std::move(out));
    };
    if (ctx->journal()) {
      ctx->after_durable(std::move(answer));
    } else {
      answer(Status::Ok());  // in memory: nothing to wait for
    }
  }
};

// The strict-write bookkeeping of one client write: for each item, which
// replica targets are true copy holders of its key (their acknowledgements
// count) and whether the primary itself is one.
class StrictCount {
 public:
  StrictCount(const std::shared_ptr<Context>& ctx, const std::vector<Vnode>& targets)
      : targets_(targets) {
    if (!ctx->settings.strict_writes) return;
    layout_ = ctx->placement.layout();
    // With every member in reach the ring places copies where they belong
    // (up to joins under way, whose hand-over moves them): count as before.
    if (!layout_->complete || layout_->unreachable.empty()) layout_.reset();
    if (layout_) {
      self_ = ctx->host.address();
      copies_ = ctx->replicas() + 1;
    }
  }
  bool active() const { return layout_ != nullptr; }

  // True when the primary is not a true holder of some item's key: then no
  // item is committed before the holders acknowledged it.
  bool self_short(const std::vector<Item>& items) const {
    if (!layout_) return false;
    for (const Item& item : items) {
      const auto h = layout_->holders(item.hash, copies_);
      if (std::find(h.begin(), h.end(), self_) == h.end()) return true;
    }
    return false;
  }

  // Records the item of `hash`; "" when `n` true copies are within reach of
  // this write, else why not (the item is then not recorded).
  std::string add(const Id& hash, int n) {
    const auto holders = layout_->holders(hash, copies_);
    auto holds = [&](const std::string& h) {
      return std::find(holders.begin(), holders.end(), h) != holders.end();
    };
    const bool self_in = holds(self_);
    std::vector<bool> counts(targets_.size());
    int possible = self_in ? 1 : 0;
    for (std::size_t t = 0; t < targets_.size(); ++t) {
      counts[t] = holds(targets_[t].host);
      if (counts[t]) ++possible;
      if (!counts[t]) masked_ = true;
    }
    if (possible < n) {
      std::string names;
      for (const std::string& h : holders) {
        names += (names.empty() ? "" : ", ") + h;
        if (!layout_->reachable(h)) names += " (down)";
      }
      return std::string(kConsistencyNotMetText) + ": " + std::to_string(n) +
             " copies asked but only " + std::to_string(possible) + " of the key's " +
             std::to_string(holders.size()) + " copy holders (" + names +
             ") are in this ring now (a partition or failed hosts)";
    }
    if (!self_in) masked_ = true;
    counts_.push_back(std::move(counts));
    start_acks_.push_back(self_in ? 0 : -1);
    return "";
  }
  // Forgets the item recorded last (it was not written after all).
  void drop_last() {
    counts_.pop_back();
    start_acks_.pop_back();
  }
  // The recorded counts, or nothing when every target of every item counts
  // and the primary holds every key (the usual case: no per-item masks).
  std::vector<std::vector<bool>> take_counts() {
    return masked_ ? std::move(counts_) : std::vector<std::vector<bool>>{};
  }
  std::vector<int> take_start_acks() {
    return masked_ ? std::move(start_acks_) : std::vector<int>{};
  }

 private:
  const std::vector<Vnode>& targets_;
  std::shared_ptr<const Layout> layout_;
  std::string self_;
  int copies_ = 1;
  bool masked_ = false;
  std::vector<std::vector<bool>> counts_;  // per recorded item, per target
  std::vector<int> start_acks_;            // per recorded item
};

}  // namespace

void primary_write_async(const std::shared_ptr<Context>& ctx, VnodeState& v,
                         std::vector<Item> items, int min_acks, WriteDone done,
                         const Store::Decide* decide) {
  auto op = std::make_shared<WriteOp>();
  op->ctx = ctx;
  op->v = &v;
  op->done = std::move(done);
  op->out.resize(items.size());
  op->n = min_acks;
  if (auto e = check_level(op->n, ctx->max_consistency())) {
    for (auto& o : op->out) o = WriteOutcome{kCodeInvalidArgument, *e, 0, 0};
    return op->done(std::move(op->out));
  }
  // A decided write counts once decided (what it writes, if anything).
  if (!decide) {
    for (const Item& item : items) ctx->stats.writes(item.deleted, op->n).inc();
  }
  if (Status broken = ctx->storage_error(); !broken.ok()) {
    for (auto& o : op->out) o = WriteOutcome{kCodeUnavailable, broken.message(), 0, 0};
    return op->done(std::move(op->out));
  }
  std::vector<Vnode> targets = ctx->host.remote_successors(v.self.id);
  const int need = op->n - 1;
  if (need > static_cast<int>(targets.size())) {
    ctx->stats.write_consistency_failures.inc(items.size());
    const std::string e = std::string(kConsistencyNotMetText) + ": " + std::to_string(op->n) +
                          " copies asked but only " + std::to_string(targets.size() + 1) +
                          " hosts hold this key's range";
    for (auto& o : op->out) o = WriteOutcome{kCodeConsistencyNotMet, e, 0, 0};
    return op->done(std::move(op->out));
  }
  // Strict writes: only the key's true copy holders count (placement.h).
  StrictCount strict(ctx, targets);
  // Stamp and store: pending until enough copies hold it, or committed at once
  // when this copy is enough (it can then never be rolled back).
  const bool commit_now = need == 0 && !strict.self_short(items);
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (strict.active()) {
      if (std::string why = strict.add(items[i].hash, op->n); !why.empty()) {
        ctx->stats.write_consistency_failures.inc();
        op->out[i] = WriteOutcome{kCodeConsistencyNotMet, std::move(why), 0, 0};
        continue;
      }
    }
    auto stamp = [&] { return ctx->clock->now(); };
    const PutResult put = decide ? v.primary.put_decided(items[i], *decide, stamp, commit_now)
                                 : v.primary.put_stamped(items[i], stamp, commit_now);
    if (decide && put != PutResult::kDeclined) ctx->stats.writes(items[i].deleted, op->n).inc();
    if (put == PutResult::kOlder || put == PutResult::kDeclined) {
      if (put == PutResult::kOlder) {
        op->out[i] = WriteOutcome{kCodeOlder, "a newer version is held", 0, 0};
      } else {
        op->out[i].declined = true;
      }
      if (strict.active()) strict.drop_last();
      continue;
    }
    op->out[i].timestamp = items[i].timestamp;
    op->index.push_back(i);
    op->live.push_back(std::move(items[i]));
  }
  if (targets.empty() || op->live.empty()) {
    return op->finish(std::vector<int>(op->live.size(), 0), nullptr);
  }
  auto write = ReplicaWrite::start(ctx, v.self, std::move(op->live), std::move(targets),
                                   strict.take_counts(), strict.take_start_acks());
  // The callback holds `write` only through the raw pointer: `write` lives while
  // its replies are outstanding, and the deciding reply is one of them.
  ReplicaWrite* raw = write.get();
  write->when_settled(need, [op, raw](const std::vector<int>& acks) { op->finish(acks, raw); });
}

std::vector<WriteOutcome> primary_write(const std::shared_ptr<Context>& ctx, VnodeState& v,
                                        std::vector<Item> items, int min_acks) {
  return await<std::vector<WriteOutcome>>([&](WriteDone done) {
    primary_write_async(ctx, v, std::move(items), min_acks, std::move(done));
  });
}

namespace {

// v's copy of `hash`: the replica table counts while a promotion is under way.
std::optional<Item> local_copy(VnodeState& v, const Id& hash) {
  return newer(v.primary.get(hash), v.replica.get(hash));
}

// Whom a settling primary asks for a hash it lacks: the previous primary (its
// successor, here or on another host) and its replica vnodes on other hosts.
struct PreviousHolders {
  VnodeState* local_succ = nullptr;
  std::optional<Vnode> remote_succ;
  std::vector<Vnode> replicas;
  bool all_here() const { return !remote_succ && replicas.empty(); }
};

PreviousHolders previous_holders(const Context& ctx, const VnodeState& v) {
  PreviousHolders out;
  const std::vector<Vnode> succs = ctx.host.successors(v.self.id);
  if (!succs.empty() && succs[0].id != v.self.id) {
    if (succs[0].host == ctx.host.address()) {
      out.local_succ = ctx.local(succs[0].id);
    } else {
      out.remote_succ = succs[0];
    }
  }
  out.replicas = ctx.host.remote_successors(v.self.id);
  return out;
}

// One read in progress at a primary.
struct ReadOp {
  std::shared_ptr<Context> ctx;
  VnodeState* v = nullptr;
  std::vector<Id> hashes;
  int n = 1;
  std::vector<std::optional<Item>> local;  // what v holds (or learnt while settling)
  ReadDone done;
  bool strict = false;
  std::vector<bool> unsure;  // with `strict`: misses the read-through could not settle

  // Step 1: while v settles, asks the previous holders of its range (the
  // successor's primary table and v's replica vnodes' replica tables) for the
  // hashes v lacks; found versions are adopted into v's primary table.
  static void read_through(const std::shared_ptr<ReadOp>& op,
                           const std::vector<std::size_t>& misses) {
    const auto& ctx = op->ctx;
    VnodeState& v = *op->v;
    std::vector<std::pair<std::string, Message>> requests;
    std::vector<std::size_t> owner;  // request -> index into hashes
    std::vector<bool> from_succ;     // request -> asks the previous primary
    const PreviousHolders holders = previous_holders(*ctx, v);
    VnodeState* local_succ = holders.local_succ;
    const std::optional<Vnode>& remote_succ = holders.remote_succ;
    const std::vector<Vnode>& replicas = holders.replicas;
    for (std::size_t i : misses) {
      if (local_succ) op->local[i] = newer(op->local[i], local_succ->primary.get(op->hashes[i]));
      if (remote_succ) {
        requests.emplace_back(remote_succ->host,
                              get_item_request(*remote_succ, op->hashes[i], GetMode::kPeek, 1));
        owner.push_back(i);
        from_succ.push_back(true);
      }
      for (const Vnode& r : replicas) {
        if (remote_succ && r == *remote_succ) continue;
        requests.emplace_back(r.host, get_item_request(r, op->hashes[i], GetMode::kReplica, 1));
        owner.push_back(i);
        from_succ.push_back(false);
      }
    }
    ctx->call_all_async(std::move(requests),
                        [op, misses, owner = std::move(owner),
                         from_succ = std::move(from_succ)](std::vector<Result<Message>> replies) {
                          std::vector<int> answered(op->hashes.size(), 0),
                              asked(op->hashes.size(), 0);
                          op->unsure.assign(op->hashes.size(), false);
                          for (std::size_t k = 0; k < replies.size(); ++k) {
                            ++asked[owner[k]];
                            auto item = item_from_reply(replies[k]);
                            if (item.ok()) {
                              ++answered[owner[k]];
                              op->local[owner[k]] = newer(op->local[owner[k]], *item);
                            } else if (from_succ[k]) {
                              op->unsure[owner[k]] = true;
                            }
                          }
                          for (std::size_t i : misses) {
                            if (asked[i] > 0 && answered[i] == 0) op->unsure[i] = true;
                          }
                          for (std::size_t i : misses) {
                            if (op->local[i]) {
                              op->ctx->clock->observe(op->local[i]->timestamp);
                              op->v->primary.put(*op->local[i], /*committed=*/true);
                            }
                          }
                          read_copies(op);
                        });
  }

  // Step 2: with n > 1, reads n - 1 replicas as well; the newest wins and stale
  // copies are repaired.
  static void read_copies(const std::shared_ptr<ReadOp>& op) {
    std::vector<ReadOutcome> out(op->hashes.size());
    if (op->n == 1) {
      for (std::size_t i = 0; i < out.size(); ++i) {
        if (op->strict && i < op->unsure.size() && op->unsure[i] && !op->local[i]) {
          out[i] = ReadOutcome{kCodeUnavailable,
                               "a previous holder of the key did not answer while its new "
                               "primary settles; try again",
                               std::nullopt};
        } else {
          out[i].item = op->local[i];
        }
      }
      return op->done(std::move(out));
    }
    const auto& ctx = op->ctx;
    std::vector<Vnode> targets = ctx->host.remote_successors(op->v->self.id);
    if (static_cast<int>(targets.size()) < op->n - 1) {
      const std::string e = std::string(kConsistencyNotMetText) + ": " + std::to_string(op->n) +
                            " copies asked but only " + std::to_string(targets.size() + 1) +
                            " hosts hold this key's range";
      ctx->stats.read_consistency_failures.inc(out.size());
      for (auto& o : out) o = ReadOutcome{kCodeConsistencyNotMet, e, std::nullopt};
      return op->done(std::move(out));
    }
    std::vector<std::pair<std::string, Message>> requests;
    for (const Id& hash : op->hashes) {
      for (const Vnode& t : targets) {
        requests.emplace_back(t.host, get_item_request(t, hash, GetMode::kReplica, 1));
      }
    }
    ctx->call_all_async(std::move(requests),
                        [op, targets = std::move(targets)](std::vector<Result<Message>> replies) {
                          op->finish(targets, replies);
                        });
  }

  void finish(const std::vector<Vnode>& targets, const std::vector<Result<Message>>& replies) {
    std::vector<ReadOutcome> out(hashes.size());
    for (std::size_t i = 0; i < hashes.size(); ++i) {
      int answered = 0;
      std::optional<Item> newest = local[i];
      std::vector<std::optional<Item>> copies(targets.size());
      std::vector<bool> answered_by(targets.size(), false);
      for (std::size_t t = 0; t < targets.size(); ++t) {
        auto item = item_from_reply(replies[i * targets.size() + t]);
        if (!item.ok()) continue;
        ++answered;
        answered_by[t] = true;
        copies[t] = *item;
        newest = newer(newest, *item);
      }
      if (answered < n - 1) {
        ctx->stats.read_consistency_failures.inc();
        out[i] =
            ReadOutcome{kCodeConsistencyNotMet,
                        std::string(kConsistencyNotMetText) + ": " + std::to_string(1 + answered) +
                            " of " + std::to_string(n) + " copies answered",
                        std::nullopt};
        continue;
      }
      out[i].item = newest;
      if (!newest) continue;
      // Read repair.
      if (!local[i] || local[i]->timestamp < newest->timestamp) {
        ctx->stats.read_repairs.inc();
        ctx->clock->observe(newest->timestamp);
        v->primary.put(*newest, /*committed=*/true);
      }
      std::vector<Vnode> stale;
      for (std::size_t t = 0; t < targets.size(); ++t) {
        if (answered_by[t] && (!copies[t] || copies[t]->timestamp < newest->timestamp)) {
          stale.push_back(targets[t]);
        }
      }
      if (!stale.empty()) {
        ctx->stats.read_repairs.inc(stale.size());
        ReplicaWrite::start(ctx, v->self, {*newest}, stale);
      }
    }
    done(std::move(out));
  }
};

}  // namespace

std::optional<ReadOutcome> primary_read_here(const std::shared_ptr<Context>& ctx, VnodeState& v,
                                             const Id& hash) {
  std::optional<Item> copy = local_copy(v, hash);
  if (!copy && v.settling()) {
    // The previous holders must be asked. When they are all on this host (a
    // ring of one host) and hold nothing either, the miss stands; a copy found
    // there is adopted by primary_read_async(), not here.
    const PreviousHolders holders = previous_holders(*ctx, v);
    if (!holders.all_here()) return std::nullopt;
    if (holders.local_succ && holders.local_succ->primary.get(hash)) return std::nullopt;
  }
  ctx->stats.reads(1).inc();
  return ReadOutcome{kCodeOk, "", std::move(copy)};
}

void primary_read_async(const std::shared_ptr<Context>& ctx, VnodeState& v,
                        const std::vector<Id>& hashes, int consistency, ReadDone done,
                        bool strict) {
  auto op = std::make_shared<ReadOp>();
  op->strict = strict && consistency <= 1;
  op->ctx = ctx;
  op->v = &v;
  op->hashes = hashes;
  op->n = consistency;
  op->done = std::move(done);
  if (auto e = check_level(op->n, ctx->max_consistency())) {
    std::vector<ReadOutcome> out(hashes.size(),
                                 ReadOutcome{kCodeInvalidArgument, *e, std::nullopt});
    return op->done(std::move(out));
  }
  ctx->stats.reads(op->n).inc(hashes.size());
  op->local.resize(hashes.size());
  std::vector<std::size_t> misses;
  for (std::size_t i = 0; i < hashes.size(); ++i) {
    op->local[i] = local_copy(v, hashes[i]);
    if (!op->local[i]) misses.push_back(i);
  }
  if (!misses.empty() && v.settling()) return ReadOp::read_through(op, misses);
  ReadOp::read_copies(op);
}

std::vector<ReadOutcome> primary_read(const std::shared_ptr<Context>& ctx, VnodeState& v,
                                      const std::vector<Id>& hashes, int consistency) {
  return await<std::vector<ReadOutcome>>(
      [&](ReadDone done) { primary_read_async(ctx, v, hashes, consistency, std::move(done)); });
}

namespace {

// Takes `items` into v's primary table (last write wins) and drops v's replica
// copies they supersede. Returns what won in the primary table: each handed
// item, or the newer version held.
std::vector<Item> take(const std::shared_ptr<Context>& ctx, VnodeState& v,
                       std::vector<Item> items) {
  std::int64_t newest = 0;
  for (const Item& item : items) newest = std::max(newest, item.timestamp);
  ctx->clock->observe(newest);
  v.primary.adopt(items);
  v.replica.erase_if_not_newer(items);
  return items;
}

}  // namespace

void adopt(const std::shared_ptr<Context>& ctx, VnodeState& v, const std::vector<Item>& items,
           bool replicate) {
  std::vector<Item> current = take(ctx, v, items);
  if (replicate) replicate_and_wait(ctx, v.self, current);
}

void adopt_async(const std::shared_ptr<Context>& ctx, VnodeState& v, std::vector<Item> items,
                 const std::optional<Vnode>& keeper, std::function<void(bool)> done) {
  std::vector<std::pair<Id, std::int64_t>> sent;
  if (keeper) {
    sent.reserve(items.size());
    for (const Item& item : items) sent.emplace_back(item.hash, item.timestamp);
  }
  std::vector<Item> current = take(ctx, v, std::move(items));
  std::vector<Vnode> targets = ctx->host.remote_successors(v.self.id);
  auto at = keeper ? std::find(targets.begin(), targets.end(), *keeper) : targets.end();
  if (at == targets.end()) {
    return replicate_async(ctx, v.self, std::move(current), targets, std::move(done));
  }
  // `current` is `items` less those not adopted, in order (matched by hash):
  // a version the keeper sent (same hash and timestamp) is held there already.
  std::vector<Item> to_all, to_rest;
  std::size_t j = 0;
  for (Item& item : current) {
    while (j < sent.size() && sent[j].first != item.hash) ++j;
    const bool held = j < sent.size() && sent[j].second == item.timestamp;
    if (j < sent.size()) ++j;
    (held ? to_rest : to_all).push_back(std::move(item));
  }
  std::vector<Vnode> rest = targets;
  rest.erase(rest.begin() + (at - targets.begin()));
  // Both parts (either may be empty: it answers at once), then `done`.
  struct Join {
    std::mutex mu;
    int left = 2;    // GUARDED_BY(mu)
    bool ok = true;  // GUARDED_BY(mu)
    std::function<void(bool)> done;
  };
  auto join = std::make_shared<Join>();
  join->done = std::move(done);
  auto part_done = [join](bool ok) {
    bool last, result;
    {
      std::lock_guard lock(join->mu);
      join->ok = join->ok && ok;
      last = --join->left == 0;
      result = join->ok;
    }
    if (last) join->done(result);
  };
  replicate_async(ctx, v.self, std::move(to_all), targets, part_done);
  replicate_async(ctx, v.self, std::move(to_rest), rest, part_done);
}

}  // namespace dendrite::dtable
