// The config file of a dendrited that a system test starts. Header-only.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dendrite::test {

// A node listening on `address` (joining `join`, none: a new ring) with
// `vnodes` vnodes, replicas 2, quick stabilisation, 1 s request timeouts and
// info logs: a dead peer is noticed within seconds. The caller adds
// "plugins" and whatever else it needs.
inline nlohmann::json test_node_json(const std::string& address,
                                     const std::vector<std::string>& join, int vnodes) {
  return {{"listen", address},
          {"join", join},
          {"vnodes", vnodes},
          {"replicas", 2},
          {"stabilize", {{"min_ms", 50}, {"max_ms", 150}}},
          {"timeout_ms", 1000},
          {"log", {{"level", "info"}}}};
}

}  // namespace dendrite::test
