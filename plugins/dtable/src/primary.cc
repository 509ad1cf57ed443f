#include "primary.h"

#include <chrono>

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

std::vector<WriteOutcome> primary_write(const std::shared_ptr<Context>& ctx, VnodeState& v,
                                        std::vector<Item> items, int min_acks) {
  std::vector<WriteOutcome> out(items.size());
  int n = min_acks;
  if (auto e = check_level(n, ctx->max_consistency())) {
    for (auto& o : out) o = WriteOutcome{kCodeInvalidArgument, *e, 0, 0};
    return out;
  }
  const std::vector<Vnode> targets = ctx->host.remote_successors(v.self.id);
  const int need = n - 1;
  if (need > static_cast<int>(targets.size())) {
    const std::string e = std::string(kConsistencyNotMetText) + ": " + std::to_string(n) +
                          " copies asked but only " + std::to_string(targets.size() + 1) +
                          " hosts hold this key's range";
    for (auto& o : out) o = WriteOutcome{kCodeConsistencyNotMet, e, 0, 0};
    return out;
  }
  // Stamp and store pending.
  std::vector<Item> live;
  std::vector<std::size_t> index;  // live -> out
  for (std::size_t i = 0; i < items.size(); ++i) {
    items[i].timestamp = ctx->clock->now();
    if (v.primary.put(items[i], /*committed=*/false) == PutResult::kOlder) {
      out[i] = WriteOutcome{kCodeOlder, "a newer version is held", 0, 0};
      continue;
    }
    out[i].timestamp = items[i].timestamp;
    index.push_back(i);
    live.push_back(items[i]);
  }
  std::vector<int> acks(live.size(), 0);
  std::shared_ptr<ReplicaWrite> write;
  if (!targets.empty() && !live.empty()) {
    write = ReplicaWrite::start(ctx, v.self, live, targets);
    if (need > 0) {
      auto deadline = std::chrono::steady_clock::now() + ctx->timeout() + Milliseconds(50);
      acks = write->wait(need, deadline);
    }
  }
  std::vector<bool> failed(live.size(), false);
  bool any_failed = false;
  for (std::size_t k = 0; k < live.size(); ++k) {
    WriteOutcome& o = out[index[k]];
    if (acks[k] >= need) {
      v.primary.commit(live[k].hash, live[k].timestamp);
      o.copies = 1 + acks[k];
    } else {
      v.primary.rollback(live[k].hash, live[k].timestamp);
      failed[k] = any_failed = true;
      o.code = kCodeConsistencyNotMet;
      o.error = std::string(kConsistencyNotMetText) + ": " + std::to_string(1 + acks[k]) + " of " +
                std::to_string(n) + " copies written";
      o.copies = 1 + acks[k];
    }
  }
  if (any_failed && write) write->abort(failed);
  if (!ctx->hooks.empty()) {
    for (std::size_t k = 0; k < live.size(); ++k) {
      if (failed[k]) continue;
      ctx->hooks.call(
          WriteEvent{live[k].key, live[k].value, live[k].deleted, live[k].timestamp, v.self},
          ctx->log);
    }
  }
  return out;
}

namespace {

// Asks the previous holders of v's range (the successor's primary table and
// v's replica vnodes' replica tables) for the hashes v lacks while it settles.
// Found versions are adopted into v's primary table.
void read_through(const std::shared_ptr<Context>& ctx, VnodeState& v, const std::vector<Id>& hashes,
                  std::vector<std::optional<Item>>& found, const std::vector<std::size_t>& misses) {
  std::vector<std::pair<std::string, Message>> requests;
  std::vector<std::size_t> owner;  // request -> index into hashes
  std::vector<Vnode> succs = ctx->host.successors(v.self.id);
  VnodeState* local_succ = nullptr;
  std::optional<Vnode> remote_succ;
  if (!succs.empty() && succs[0].id != v.self.id) {
    if (succs[0].host == ctx->host.address()) {
      local_succ = ctx->local(succs[0].id);
    } else {
      remote_succ = succs[0];
    }
  }
  const std::vector<Vnode> replicas = ctx->host.remote_successors(v.self.id);
  for (std::size_t i : misses) {
    if (local_succ) found[i] = newer(found[i], local_succ->primary.get(hashes[i]));
    if (remote_succ) {
      requests.emplace_back(remote_succ->host,
                            get_item_request(*remote_succ, hashes[i], GetMode::kPeek, 1));
      owner.push_back(i);
    }
    for (const Vnode& r : replicas) {
      if (remote_succ && r == *remote_succ) continue;
      requests.emplace_back(r.host, get_item_request(r, hashes[i], GetMode::kReplica, 1));
      owner.push_back(i);
    }
  }
  auto replies = ctx->call_all(std::move(requests));
  for (std::size_t k = 0; k < replies.size(); ++k) {
    auto item = item_from_reply(replies[k]);
    if (item.ok()) found[owner[k]] = newer(found[owner[k]], *item);
  }
  for (std::size_t i : misses) {
    if (found[i]) {
      ctx->clock->observe(found[i]->timestamp);
      v.primary.put(*found[i], /*committed=*/true);
    }
  }
}

}  // namespace

std::vector<ReadOutcome> primary_read(const std::shared_ptr<Context>& ctx, VnodeState& v,
                                      const std::vector<Id>& hashes, int consistency) {
  std::vector<ReadOutcome> out(hashes.size());
  int n = consistency;
  if (auto e = check_level(n, ctx->max_consistency())) {
    for (auto& o : out) o = ReadOutcome{kCodeInvalidArgument, *e, std::nullopt};
    return out;
  }
  std::vector<std::optional<Item>> local(hashes.size());
  std::vector<std::size_t> misses;
  for (std::size_t i = 0; i < hashes.size(); ++i) {
    // The replica table counts while a promotion is under way.
    local[i] = newer(v.primary.get(hashes[i]), v.replica.get(hashes[i]));
    if (!local[i]) misses.push_back(i);
  }
  if (!misses.empty() && v.settling()) read_through(ctx, v, hashes, local, misses);
  if (n == 1) {
    for (std::size_t i = 0; i < hashes.size(); ++i) out[i].item = local[i];
    return out;
  }
  // Read n - 1 replicas as well; the newest wins and stale copies are repaired.
  const std::vector<Vnode> targets = ctx->host.remote_successors(v.self.id);
  if (static_cast<int>(targets.size()) < n - 1) {
    const std::string e = std::string(kConsistencyNotMetText) + ": " + std::to_string(n) +
                          " copies asked but only " + std::to_string(targets.size() + 1) +
                          " hosts hold this key's range";
    for (auto& o : out) o = ReadOutcome{kCodeConsistencyNotMet, e, std::nullopt};
    return out;
  }
  std::vector<std::pair<std::string, Message>> requests;
  for (std::size_t i = 0; i < hashes.size(); ++i) {
    for (const Vnode& t : targets) {
      requests.emplace_back(t.host, get_item_request(t, hashes[i], GetMode::kReplica, 1));
    }
  }
  auto replies = ctx->call_all(std::move(requests));
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
      ctx->clock->observe(newest->timestamp);
      v.primary.put(*newest, /*committed=*/true);
    }
    std::vector<Vnode> stale;
    for (std::size_t t = 0; t < targets.size(); ++t) {
      if (answered_by[t] && (!copies[t] || copies[t]->timestamp < newest->timestamp)) {
        stale.push_back(targets[t]);
      }
    }
    if (!stale.empty()) ReplicaWrite::start(ctx, v.self, {*newest}, stale);
  }
  return out;
}

void adopt(const std::shared_ptr<Context>& ctx, VnodeState& v, const std::vector<Item>& items,
           bool replicate) {
  std::vector<Item> current;
  current.reserve(items.size());
  for (const Item& item : items) {
    ctx->clock->observe(item.timestamp);
    v.primary.put(item, /*committed=*/true);
    v.replica.erase_if_not_newer(item.hash, item.timestamp);
    // Replicate what won here (the handed-over item, or a newer one held).
    if (auto held = v.primary.get(item.hash)) current.push_back(std::move(*held));
  }
  if (replicate) replicate_and_wait(ctx, v.self, current);
}

}  // namespace dendrite::dtable
