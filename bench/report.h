// What the load generators (dendrite-bench, zmq_echo) print about one test, as
// redis-benchmark 7 prints it, so that their output and redis-benchmark's can
// be read by the same scripts:
//   --csv  a header, then one row per test, every field quoted:
//          "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",
//          "p95_latency_ms","p99_latency_ms","max_latency_ms"
//          "SET","90909.09","0.351","0.104","0.231","0.895","4.255","4.343"
//   -q     one line per test, then an empty line after the last:
//          SET: 90909.09 requests per second, p50=0.231 msec
// Percentiles are nearest-rank over the latency of every request.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace dendrite::bench {

inline constexpr char kCsvHeader[] =
    "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\","
    "\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"";

struct Report {
  std::string test;   // as redis-benchmark names it: "SET", "MSET (10 keys)"
  long requests = 0;  // completed
  double seconds = 0;
  double rps = 0;
  double avg_ms = 0, min_ms = 0, p50_ms = 0, p95_ms = 0, p99_ms = 0, max_ms = 0;
};

// The report of `latencies_us` (one per completed request, any order) that
// took `seconds` in all.
inline Report summarize(std::string test, std::vector<double> latencies_us, double seconds) {
  Report r;
  r.test = std::move(test);
  r.requests = static_cast<long>(latencies_us.size());
  r.seconds = seconds;
  if (latencies_us.empty()) return r;
  std::sort(latencies_us.begin(), latencies_us.end());
  const auto n = latencies_us.size();
  auto pct = [&](double p) {
    auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(n)));
    return latencies_us[std::clamp<std::size_t>(rank, 1, n) - 1] / 1000.0;
  };
  double sum = 0;
  for (double x : latencies_us) sum += x;
  r.rps = seconds > 0 ? static_cast<double>(n) / seconds : 0;
  r.avg_ms = sum / static_cast<double>(n) / 1000.0;
  r.min_ms = latencies_us.front() / 1000.0;
  r.p50_ms = pct(50);
  r.p95_ms = pct(95);
  r.p99_ms = pct(99);
  r.max_ms = latencies_us.back() / 1000.0;
  return r;
}

inline void print_csv_header() {
  std::printf("%s\n", kCsvHeader);
}

inline void print_csv_row(const Report& r) {
  std::printf("\"%s\",\"%.2f\",\"%.3f\",\"%.3f\",\"%.3f\",\"%.3f\",\"%.3f\",\"%.3f\"\n",
              r.test.c_str(), r.rps, r.avg_ms, r.min_ms, r.p50_ms, r.p95_ms, r.p99_ms, r.max_ms);
}

inline void print_quiet_line(const Report& r) {
  std::printf("%s: %.2f requests per second, p50=%.3f msec\n", r.test.c_str(), r.rps, r.p50_ms);
}

// The default (neither --csv nor -q) report of one test; `setup` describes the
// run (clients, pipeline, payload).
inline void print_full(const Report& r, const std::string& setup) {
  std::printf(
      "====== %s ======\n  %ld requests completed in %.2f seconds\n  %s\n\n"
      "Summary:\n  throughput summary: %.2f requests per second\n  latency summary (msec):\n"
      "  %9s %9s %9s %9s %9s %9s\n  %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f\n\n",
      r.test.c_str(), r.requests, r.seconds, setup.c_str(), r.rps, "avg", "min", "p50", "p95",
      "p99", "max", r.avg_ms, r.min_ms, r.p50_ms, r.p95_ms, r.p99_ms, r.max_ms);
}

// A live progress line on stderr, redrawn in place at most 4 times a second,
// only when stderr is a terminal and `wanted`. Not thread-safe: call it under
// the caller's lock.
class Progress {
 public:
  Progress(std::string test, long total, bool wanted)
      : test_(std::move(test)), total_(total), on_(wanted && ::isatty(2) != 0) {}

  void update(long completed) {
    if (!on_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(250)) return;
    last_ = now;
    const double s = std::chrono::duration<double>(now - start_).count();
    std::fprintf(stderr, "\r%s: rps=%.0f (%ld of %ld)   ", test_.c_str(),
                 s > 0 ? static_cast<double>(completed) / s : 0.0, completed, total_);
    shown_ = true;
  }
  // Erases the line if one was drawn.
  void clear() {
    if (shown_) std::fprintf(stderr, "\r%70s\r", "");
    shown_ = false;
  }

 private:
  const std::string test_;
  const long total_;
  const bool on_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_{};
  bool shown_ = false;
};

}  // namespace dendrite::bench
