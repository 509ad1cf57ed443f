// Where a key's copies belong in the ring as it is meant to be: the owner of
// the key and the next hosts after it among every member the node remembers,
// down or cut-off ones included (Host::members()). During a partition the
// reachable ring places copies on whichever hosts it still has; strict writes
// (docs/dtable.md "Partitions") count only acknowledgements from these true
// holders.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dendrite/host.h"
#include "dendrite/id.h"
#include "dendrite/vnode.h"

namespace dendrite::dtable {

// The full ring of one moment. Immutable; any thread.
struct Layout {
  std::vector<Vnode> vnodes;             // every member's vnodes, sorted by id
  std::vector<std::string> unreachable;  // members that do not answer, sorted
  bool complete = true;                  // false when no member listed a vnode

  // The hosts of the key's `n` true copies: the host of the first vnode at or
  // after `key` (wrapping), then the hosts of the next vnodes on hosts not yet
  // named, at most `n` (fewer when the ring has fewer hosts). Empty when the
  // layout has no vnode.
  std::vector<std::string> holders(const Id& key, int n) const;
  bool reachable(const std::string& host) const;
};

// Builds the layout of `members`. Pure.
Layout make_layout(const std::vector<Member>& members);

// The layout of a host, rebuilt from Host::members() at most every `max_age`.
// Thread-safe.
class Placement {
 public:
  Placement(Host& host, std::chrono::milliseconds max_age);
  // The current layout (never null).
  std::shared_ptr<const Layout> layout();

 private:
  Host& host_;
  const std::chrono::milliseconds max_age_;
  std::mutex mu_;
  std::shared_ptr<const Layout> layout_;           // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point built_{};  // GUARDED_BY(mu_)
};

}  // namespace dendrite::dtable
