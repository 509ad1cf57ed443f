// Test support: reading values out of a MetricsRegistry snapshot.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "dendrite/metrics.h"

namespace dendrite::test {

// The sum of every series of `name` (whose labels include `match`) in a snapshot.
inline double sum_of(const std::vector<MetricFamily>& snap, const std::string& name,
                     const Labels& match = {}) {
  double total = 0;
  for (const MetricFamily& f : snap) {
    if (f.name != name) continue;
    for (const MetricSample& s : f.samples) {
      bool ok = true;
      for (const auto& m : match) {
        ok = ok && std::find(s.labels.begin(), s.labels.end(), m) != s.labels.end();
      }
      if (ok) total += f.type == MetricType::kHistogram ? s.buckets.back() : s.value;
    }
  }
  return total;
}

}  // namespace dendrite::test
