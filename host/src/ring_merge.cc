#include "host/ring_merge.h"

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <unordered_set>

#include "host/ring_codec.h"

namespace dendrite::host {

RingWalk walk_ring(Network& net, const Vnode& start, int list_len, Milliseconds timeout,
                   std::size_t max_vnodes) {
  RingWalk walk;
  walk.vnodes.push_back(start);
  std::unordered_set<Id> seen{start.id};
  std::unordered_set<Id> asked;
  // Ask the furthest vnode known; when it does not answer, the one before it.
  std::size_t next = 0;
  while (walk.vnodes.size() < max_vnodes) {
    while (next > 0 && asked.count(walk.vnodes[next].id) != 0) --next;
    const Vnode cur = walk.vnodes[next];
    if (!asked.insert(cur.id).second) return walk;  // nothing left to ask
    // The successors of the point just after `cur` are cur's successor list.
    auto reply =
        net.call(cur.host, make_find_successors(cur.id.plus_pow2(0), cur, list_len), timeout);
    auto list =
        reply.ok() ? parse_vnode_list(reply.value()) : Result<std::vector<Vnode>>(reply.status());
    if (!list.ok() || list->empty() || reply->type == msg::kForward) {
      if (next == 0) return walk;
      --next;
      continue;
    }
    bool added = false;
    for (const Vnode& v : list.value()) {
      if (v.id == start.id) {
        walk.complete = true;
        return walk;
      }
      if (!seen.insert(v.id).second) continue;
      walk.vnodes.push_back(v);
      added = true;
      if (walk.vnodes.size() >= max_vnodes) return walk;
    }
    if (!added) {
      // The lists loop back to vnodes seen before: as far as they go.
      walk.complete = true;
      return walk;
    }
    next = walk.vnodes.size() - 1;
  }
  return walk;
}

std::vector<MergeNotify> plan_merge(const std::vector<Vnode>& a, const std::vector<Vnode>& b) {
  std::unordered_set<Id> in_a, in_b;
  for (const Vnode& v : a) in_a.insert(v.id);
  for (const Vnode& v : b) in_b.insert(v.id);
  std::vector<Vnode> all = a;
  for (const Vnode& v : b) {
    if (in_a.count(v.id) == 0) all.push_back(v);
  }
  std::vector<MergeNotify> out;
  if (all.size() == a.size() || all.size() < 2) return out;
  std::sort(all.begin(), all.end(), [](const Vnode& x, const Vnode& y) { return x.id < y.id; });
  for (std::size_t k = 0; k < all.size(); ++k) {
    const Vnode& v = all[k];
    const Vnode& pred = all[(k + all.size() - 1) % all.size()];
    // v's own ring: a when it is there (a vnode both walks saw is a's).
    const auto& own = in_a.count(v.id) != 0 ? in_a : in_b;
    if (own.count(pred.id) == 0) out.push_back(MergeNotify{v, pred});
  }
  return out;
}

Result<MergeReport> merge_rings(Network& net, const Vnode& ours, const Vnode& theirs, int list_len,
                                Milliseconds timeout, std::size_t max_vnodes) {
  RingWalk a = walk_ring(net, ours, list_len, timeout, max_vnodes);
  RingWalk b = walk_ring(net, theirs, list_len, timeout, max_vnodes);
  if (b.vnodes.empty() || a.vnodes.empty()) return Status::Unavailable("no ring to merge");
  MergeReport report;
  report.ours = a.vnodes.size();
  report.theirs = b.vnodes.size();
  std::vector<MergeNotify> plan = plan_merge(a.vnodes, b.vnodes);
  report.notifies = plan.size();
  if (plan.empty()) return report;

  struct Pending {
    std::mutex mu;
    std::condition_variable cv;
    std::size_t outstanding = 0;  // GUARDED_BY(mu)
    std::size_t answered = 0;     // GUARDED_BY(mu)
  };
  auto pending = std::make_shared<Pending>();
  pending->outstanding = plan.size();
  for (const MergeNotify& n : plan) {
    net.call_async(n.dest.host, make_notify(n.dest, n.candidate), timeout,
                   [pending](Result<Message> r) {
                     std::lock_guard lock(pending->mu);
                     if (r.ok() && r->type != msg::kErr) ++pending->answered;
                     if (--pending->outstanding == 0) pending->cv.notify_all();
                   });
  }
  std::unique_lock lock(pending->mu);
  pending->cv.wait_for(lock, timeout + Milliseconds(100),
                       [&] { return pending->outstanding == 0; });
  report.answered = pending->answered;
  return report;
}

}  // namespace dendrite::host
