// dtable's statistics in the node's registry (names in docs/metrics.md).
// Counters are looked up once here; the item and byte gauges are computed by
// a collector at snapshot time.
#pragma once

#include <array>
#include <cstddef>

#include "dendrite/metrics.h"

namespace dendrite::dtable {

// Thread-safe (atomic metrics); the registry must outlive it.
struct Stats {
  // Consistency levels with their own series; higher ones share the last.
  static constexpr int kLevels = 8;

  explicit Stats(MetricsRegistry& r);

  // Client writes accepted by a primary, by kind and consistency level.
  Counter& writes(bool deleted, int consistency) {
    return *writes_[deleted ? 1 : 0][level_index(consistency)];
  }
  // Client reads answered by a primary, by consistency level.
  Counter& reads(int consistency) { return *reads_[level_index(consistency)]; }

  Counter& write_consistency_failures;
  Counter& read_consistency_failures;
  Gauge& replication_in_flight;  // replica write requests awaiting their answer
  Counter& migrated_keys;        // keys handed to a new owner (join, orphans, leave)
  Counter& promoted_keys;        // replica copies promoted to primary after a leave
  Counter& read_repairs;         // stale copies rewritten by consistent reads

 private:
  static std::size_t level_index(int consistency);
  std::array<std::array<Counter*, kLevels>, 2> writes_{};
  std::array<Counter*, kLevels> reads_{};
};

}  // namespace dendrite::dtable
