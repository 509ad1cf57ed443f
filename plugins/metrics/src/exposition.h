// The Prometheus text exposition format, version 0.0.4: rendering a registry
// snapshot for GET /metrics.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "dendrite/metrics.h"

namespace dendrite::metrics {

// The Content-Type of the format.
inline constexpr const char* kExpositionContentType = "text/plain; version=0.0.4; charset=utf-8";

// Renders `families` (as MetricsRegistry::snapshot() returns them): per
// family a HELP and a TYPE line, then one line per series; histograms as
// _bucket (cumulative, with le="+Inf"), _sum and _count series.
std::string render_exposition(const std::vector<MetricFamily>& families);

// A label value with \ " and newline escaped (\\ \" \n).
std::string escape_label_value(std::string_view value);
// HELP text with \ and newline escaped (\\ \n).
std::string escape_help(std::string_view help);
// A sample value: integers without exponent or fraction, other finite
// values in the shortest form that reads back exactly, NaN, +Inf, -Inf.
std::string format_value(double v);

}  // namespace dendrite::metrics
