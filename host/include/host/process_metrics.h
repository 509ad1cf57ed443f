// Figures of this process from /proc/self, as collected gauges and counters:
// resident and virtual memory, CPU seconds, open file descriptors, start time.
// Several nodes in one process report the same figures.
#pragma once

#include "dendrite/metrics.h"

namespace dendrite::host {

// Registers the process collector in `registry`; it stays registered while the
// returned handle lives. Figures that cannot be read (no /proc) are left out.
[[nodiscard]] CollectorHandle register_process_metrics(MetricsRegistry& registry);

}  // namespace dendrite::host
