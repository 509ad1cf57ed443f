// Ring unification: making one ring of two that a partition left behind.
// Chord's stabilisation alone cannot do it (each side's successor lists hold
// only its own side), so the node that finds a live host in another ring walks
// both rings, orders their vnodes together, and tells every vnode whose true
// predecessor is on the other side about it with an ordinary Notify. Each such
// vnode rectifies (adopts the closer predecessor); stabilisation then asks each
// successor for its predecessor and steps onto the closer vnode, so the two
// rings zip into one. Only Ping-checked, existing messages are used, several
// nodes may merge at once (rectify only ever moves a predecessor closer), and
// a vnode that died meanwhile is cleared by the usual predecessor check.
// docs/ring.md "Partitions" has the argument and the measurements.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "dendrite/host.h"
#include "dendrite/status.h"
#include "dendrite/vnode.h"
#include "host/network.h"

namespace dendrite::host {

// The vnodes of one ring in ring order starting at the walk's start, as their
// successor lists show them. `complete` is false when the walk stopped early
// (a vnode did not answer and no later one was known, or the bound was hit).
struct RingWalk {
  std::vector<Vnode> vnodes;
  bool complete = false;
};

// Walks the ring that `start` is in by asking vnodes for their successors (one
// FindSuccessors per `list_len` vnodes), skipping vnodes that do not answer.
// Stops when the lists come back round to a vnode already seen, or after
// `max_vnodes`. Blocking (network); any thread that may block.
RingWalk walk_ring(Network& net, const Vnode& start, int list_len, Milliseconds timeout,
                   std::size_t max_vnodes);

// One Notify a merge sends: `dest` learns of `candidate` (its true predecessor
// in the merged ring).
struct MergeNotify {
  Vnode dest;
  Vnode candidate;
};

// The Notifies that make rings `a` and `b` one: for every vnode of the union
// whose predecessor in the union is not in its own ring, that predecessor.
// Empty when `b` adds nothing to `a`. Pure.
std::vector<MergeNotify> plan_merge(const std::vector<Vnode>& a, const std::vector<Vnode>& b);

struct MergeReport {
  std::size_t ours = 0;      // vnodes found in our ring
  std::size_t theirs = 0;    // vnodes found in the other ring
  std::size_t notifies = 0;  // Notifies sent
  std::size_t answered = 0;  // of those, answered
};

// Merges the ring of `ours` (a local vnode) with the ring of `theirs` (a vnode
// of the other ring): walks both, then sends plan_merge()'s Notifies at once
// and waits for their answers (bounded by `timeout`). Errors: Unavailable when
// a walk found nothing. Blocking (network).
Result<MergeReport> merge_rings(Network& net, const Vnode& ours, const Vnode& theirs, int list_len,
                                Milliseconds timeout, std::size_t max_vnodes);

}  // namespace dendrite::host
