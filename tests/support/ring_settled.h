// Waiting for a ring of dendrited processes to settle. Header-only; the
// includer links dendrite::client.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dendrite/client/ring_view.h"
#include "dendrite/id.h"
#include "support/eventually.h"

namespace dendrite::test {

// A node's num_successors unless its config sets one (host::Config).
inline constexpr std::size_t kDefaultNumSuccessors = 8;

// Waits up to `limit` until every vnode of `hosts` (each running `vnodes`
// vnodes) reports the true predecessor and a full, true successor list of
// `num_successors` (what dtable places replicas by), as the status documents
// of all of them show. False when that did not happen in time.
inline bool ring_settled(const std::vector<std::string>& hosts, int vnodes,
                         std::size_t num_successors, std::chrono::milliseconds limit,
                         std::chrono::milliseconds poll = std::chrono::milliseconds(100)) {
  using namespace std::chrono_literals;
  std::vector<Vnode> ring;
  for (const auto& h : hosts) {
    for (int i = 0; i < vnodes; ++i) {
      ring.push_back(Vnode{Id::for_vnode(h, static_cast<std::uint16_t>(i)), h});
    }
  }
  std::sort(ring.begin(), ring.end(), [](const Vnode& x, const Vnode& y) { return x.id < y.id; });
  const std::size_t n = ring.size();
  const std::size_t want = std::min<std::size_t>(num_successors, n - 1);
  return eventually(
      [&] {
        for (const auto& h : hosts) {
          auto doc = client::fetch_status(h, 1000ms);
          if (!doc.ok()) return false;
          auto parsed = client::parse_vnodes(*doc);
          if (!parsed.ok() || parsed->size() != static_cast<std::size_t>(vnodes)) return false;
          for (std::size_t k = 0; k < parsed->size(); ++k) {
            const Vnode& self = (*parsed)[k].self;
            const auto pos =
                static_cast<std::size_t>(std::find(ring.begin(), ring.end(), self) - ring.begin());
            if (pos == n) return false;
            const auto& succ = (*parsed)[k].successors;
            if (succ.size() != want) return false;
            for (std::size_t j = 0; j < want; ++j) {
              if (succ[j] != ring[(pos + 1 + j) % n]) return false;
            }
            const nlohmann::json& pred = (*doc)["vnodes"][k]["predecessor"];
            if (!pred.is_object() || pred.value("id", "") != ring[(pos + n - 1) % n].id.hex()) {
              return false;
            }
          }
        }
        return true;
      },
      limit, poll);
}

}  // namespace dendrite::test
