#include "stats.h"

#include <string>

namespace dendrite::dtable {

Stats::Stats(MetricsRegistry& r)
    : write_consistency_failures(
          r.counter("dendrite_dtable_consistency_failures_total",
                    "Reads and writes that could not reach the copies their consistency level "
                    "asked for, by operation.",
                    {{"op", "write"}})),
      read_consistency_failures(
          r.counter("dendrite_dtable_consistency_failures_total", "", {{"op", "read"}})),
      replication_in_flight(r.gauge("dendrite_dtable_replication_in_flight",
                                    "Replica write requests sent and not yet answered.")),
      migrated_keys(r.counter("dendrite_dtable_migrated_keys_total",
                              "Keys handed over to their new owner (after a join, a leave or a "
                              "repair).")),
      promoted_keys(r.counter("dendrite_dtable_promoted_keys_total",
                              "Replica copies promoted to primary after a predecessor left.")),
      read_repairs(r.counter("dendrite_dtable_read_repairs_total",
                             "Stale copies rewritten by reads with consistency above 1.")) {
  for (int level = 1; level <= kLevels; ++level) {
    const std::string name = level == kLevels ? std::to_string(level) + "+" : std::to_string(level);
    for (int kind = 0; kind < 2; ++kind) {
      writes_[kind][level - 1] = &r.counter(
          "dendrite_dtable_writes_total",
          "Client writes accepted by a primary on this node, by operation and consistency level.",
          {{"op", kind == 0 ? "set" : "delete"}, {"consistency", name}});
    }
    reads_[level - 1] =
        &r.counter("dendrite_dtable_reads_total",
                   "Client reads answered by a primary on this node, by consistency level.",
                   {{"consistency", name}});
  }
}

std::size_t Stats::level_index(int consistency) {
  if (consistency < 1) return 0;
  if (consistency > kLevels) return kLevels - 1;
  return static_cast<std::size_t>(consistency - 1);
}

}  // namespace dendrite::dtable
