// The ring as the metrics plugin shows it: this node's vnodes (GET /ring), the
// whole ring walked through successors (?walk=1), and the SVG drawing of it
// (GET / and GET /ring.svg).
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dendrite/host.h"
#include "dendrite/metrics.h"
#include "dendrite/vnode.h"

namespace dendrite::metrics {

// The message types the plugin claims for key counts (see metrics.proto).
inline constexpr MessageType kVnodeKeys = 0x60;
inline constexpr MessageType kVnodeKeysReply = 0x61;

// Primary keys per local vnode (hex id -> count), from the snapshot's
// dendrite_dtable_items{table="primary"} series; empty without them.
std::map<std::string, double> keys_by_vnode(const std::vector<MetricFamily>& snapshot);

// {"address", "vnodes": [{"id", "host", "predecessor": ref|null, "successors": [ref...],
//  "fingers": [ref...], "keys": n|null}]} for this node. ref = {"id", "host"}.
nlohmann::json local_view(Host& host, const std::map<std::string, double>& keys);

// One vnode of a walked ring.
struct RingEntry {
  Vnode vnode;
  std::optional<double> keys;  // primary keys, when its node's metrics plugin told
};

// Walks the ring from this node's first vnode through successors, asking each
// host for its status (kHostStatus) and its key counts (kVnodeKeys; a host
// without the metrics plugin has none), each request bounded by `timeout`.
// Returns every vnode once in ring order from the smallest id. Errors:
// Unavailable when no successor of some vnode answers; FailedPrecondition when
// the successors do not lead back to the start within `max_steps`.
Result<std::vector<RingEntry>> walk_ring(Host& host, Milliseconds timeout,
                                         std::size_t max_steps = 4096);

// [{"id", "host", "keys": n|null}...]
nlohmann::json walk_json(const std::vector<RingEntry>& ring);

// The SVG drawing of `ring` (ring order): a circle, one <g class="vnode"> per
// vnode placed by its id's angle and coloured by host, an arrow to its
// successor, its key count, and a legend of hosts. `self` is this node's address.
std::string render_svg(const std::vector<RingEntry>& ring, const std::string& self);

// The HTML page of GET /: `svg` inline and a script that refreshes it from
// ring.svg?walk=1 every `refresh_ms`. No external assets.
std::string render_page(const std::string& svg, const std::string& self, int refresh_ms);

}  // namespace dendrite::metrics
