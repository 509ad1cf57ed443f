// Statistics: a per-node registry of counters, gauges and histograms (with
// labels) that the host and every plugin write to, and a snapshot of it that
// an exporter (the metrics plugin) renders.
//
// Cost on the hot path: look a metric up once (counter(), gauge(),
// histogram() take the registry's lock) and keep the reference; updating it is
// one or two relaxed atomic operations, with no lock. Values that are cheaper
// to compute when asked (queue lengths, table sizes, /proc figures) come from
// collectors, which run at snapshot time.
//
// Naming: `dendrite_<area>_<what>[_<unit>]`, base units (seconds, bytes),
// counters end in `_total`. See docs/metrics.md.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dendrite {

// Label names and values of one series, in the family's label order. Names
// match [a-zA-Z_][a-zA-Z0-9_]* and do not start with "__"; "le" is reserved
// for histogram buckets. Values are any UTF-8 text.
using Labels = std::vector<std::pair<std::string, std::string>>;

enum class MetricType { kCounter, kGauge, kHistogram };

// "counter", "gauge", "histogram".
std::string_view metric_type_name(MetricType type);

// A monotonically increasing count. Thread-safe and lock-free; owned by the
// registry that made it, which outlives every user of the reference.
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // Adds `n` (relaxed atomic add).
  void inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// A value that goes up and down. Thread-safe and lock-free; owned by its registry.
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  // Adds `d` (may be negative).
  void add(double d) noexcept { value_.fetch_add(d, std::memory_order_relaxed); }
  void inc() noexcept { add(1); }
  void dec() noexcept { add(-1); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Counts observations into fixed buckets (each bucket counts the values <= its
// upper bound and above the previous one; one more bucket takes the rest) and
// keeps their sum. Thread-safe and lock-free; owned by its registry.
class Histogram {
 public:
  // `bounds`: the upper bounds, strictly increasing and finite (the registry
  // sorts them and drops duplicates and non-finite values).
  explicit Histogram(std::vector<double> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Records one value (two relaxed atomic adds).
  void observe(double v) noexcept;
  // Records a duration in seconds.
  template <typename Rep, typename Period>
  void observe(std::chrono::duration<Rep, Period> d) noexcept {
    observe(std::chrono::duration<double>(d).count());
  }

  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative counts per bound and then +Inf (bounds().size() + 1 entries; the
  // last is the number of observations), and the sum of the values. Taken
  // without stopping writers, so a concurrent observe() may be half seen.
  void read(std::vector<std::uint64_t>& cumulative, double& sum) const;

  // Bucket sets for latencies in seconds (100 µs .. 10 s) and for small counts
  // (0 .. 64, e.g. lookup hops).
  static std::vector<double> latency_bounds();
  static std::vector<double> count_bounds();

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
};

// One series of a snapshot.
struct MetricSample {
  Labels labels;
  double value = 0;  // counter and gauge
  // Histogram: cumulative counts per bound, then +Inf; and the sum.
  std::vector<std::uint64_t> buckets;
  double sum = 0;
};

// One metric family of a snapshot: every series of one name.
struct MetricFamily {
  std::string name;
  std::string help;
  MetricType type = MetricType::kGauge;
  std::vector<double> bounds;  // histograms only
  std::vector<MetricSample> samples;
};

// What a collector writes its values to (implemented by the registry; only
// valid during the collector's call).
class MetricWriter {
 public:
  virtual ~MetricWriter() = default;
  // One series of a counter or gauge family. A family of that name registered
  // with another type or label names, or a malformed name, drops the sample
  // and records an error (MetricsRegistry::errors()).
  virtual void counter(std::string_view name, std::string_view help, const Labels& labels,
                       double value) = 0;
  virtual void gauge(std::string_view name, std::string_view help, const Labels& labels,
                     double value) = 0;
};

// Computes values at snapshot time. Runs on the snapshotting thread with no
// registry lock held; must be quick, must not block on the network and must
// not call MetricsRegistry::snapshot() or reset its own handle.
using Collector = std::function<void(MetricWriter&)>;

namespace detail {
struct CollectorSlot;
}

// Keeps a collector registered. Destroying or reset()ting it unregisters the
// collector, waiting for a call of it in progress, and destroys the function,
// so a plugin drops its handles in stop() (or with its plugin object) and no
// code of its library runs later. Movable; not thread-safe itself.
class CollectorHandle {
 public:
  CollectorHandle() = default;
  explicit CollectorHandle(std::shared_ptr<detail::CollectorSlot> slot);
  CollectorHandle(CollectorHandle&&) noexcept = default;
  CollectorHandle& operator=(CollectorHandle&& other) noexcept;
  ~CollectorHandle();

  // Unregisters now. Idempotent.
  void reset();
  explicit operator bool() const { return slot_ != nullptr; }

 private:
  std::shared_ptr<detail::CollectorSlot> slot_;
};

// The statistics of one node (Host::metrics()). Thread-safe: every method may
// be called from any thread. The metrics it hands out live as long as the
// registry.
//
// Registration never fails: asking again for the same name and labels returns
// the same metric; a malformed name or label, or a name registered before with
// another type or other label names, returns a working metric that is not
// exported and records the problem in errors().
class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // The counter `name` with `labels`, created on first use. `help` is kept from
  // the first registration of the name.
  Counter& counter(std::string_view name, std::string_view help, const Labels& labels = {});
  // The gauge `name` with `labels`, created on first use.
  Gauge& gauge(std::string_view name, std::string_view help, const Labels& labels = {});
  // The histogram `name` with `labels`, created on first use. `bounds` are the
  // bucket upper bounds (see Histogram); the first registration of the name
  // fixes them for every series.
  Histogram& histogram(std::string_view name, std::string_view help, std::vector<double> bounds,
                       const Labels& labels = {});

  // Registers a collector; it runs at every snapshot() until the handle goes.
  [[nodiscard]] CollectorHandle add_collector(Collector collector);

  // Every family, sorted by name, each series sorted by label values; the
  // registered metrics' current values merged with what the collectors write.
  // Families without series are left out.
  std::vector<MetricFamily> snapshot() const;

  // Registration problems so far (at most the first 100), oldest first.
  std::vector<std::string> errors() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True when `name` is a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*).
bool valid_metric_name(std::string_view name);
// True when `name` is a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not "__..."),
// "le" excluded.
bool valid_label_name(std::string_view name);

}  // namespace dendrite
