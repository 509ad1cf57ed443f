#include "dendrite/metrics.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace dendrite {

namespace detail {
// A registered collector. The registry lists it; the handle unregisters it.
// A snapshot announces a call in `running` before it checks `active`, and
// reset() clears `active` before it waits for `running` to drop to zero, so
// after reset() no call is in progress or can start (seq_cst atomics).
struct CollectorSlot {
  explicit CollectorSlot(Collector f) : fn(std::move(f)) {}
  Collector fn;  // cleared by reset() once no call can run
  std::atomic<bool> active{true};
  std::atomic<int> running{0};
};
}  // namespace detail

namespace {

constexpr std::size_t kMaxErrors = 100;

bool name_char(char c, bool first, bool colon_ok) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (colon_ok && c == ':') return true;
  return !first && c >= '0' && c <= '9';
}

std::vector<double> clean_bounds(std::vector<double> b) {
  b.erase(std::remove_if(b.begin(), b.end(), [](double x) { return !std::isfinite(x); }), b.end());
  std::sort(b.begin(), b.end());
  b.erase(std::unique(b.begin(), b.end()), b.end());
  return b;
}

std::vector<std::string> label_names(const Labels& labels) {
  std::vector<std::string> out;
  out.reserve(labels.size());
  for (const auto& [k, v] : labels) out.push_back(k);
  return out;
}

std::vector<std::string> label_values(const Labels& labels) {
  std::vector<std::string> out;
  out.reserve(labels.size());
  for (const auto& [k, v] : labels) out.push_back(v);
  return out;
}

// Empty when `name` and `labels` are well-formed, else the problem.
std::string check_names(std::string_view name, const Labels& labels) {
  if (!valid_metric_name(name)) return "invalid metric name '" + std::string(name) + "'";
  std::set<std::string_view> seen;
  for (const auto& [k, v] : labels) {
    if (!valid_label_name(k)) {
      return "metric '" + std::string(name) + "': invalid label name '" + k + "'";
    }
    if (!seen.insert(k).second) {
      return "metric '" + std::string(name) + "': label '" + k + "' given twice";
    }
  }
  return "";
}

Labels zip(const std::vector<std::string>& names, const std::vector<std::string>& values) {
  Labels out;
  out.reserve(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) out.emplace_back(names[i], values[i]);
  return out;
}

}  // namespace

std::string_view metric_type_name(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

bool valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!name_char(name[i], i == 0, true)) return false;
  }
  return true;
}

bool valid_label_name(std::string_view name) {
  if (name.empty() || name == "le" || name.substr(0, 2) == "__") return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!name_char(name[i], i == 0, false)) return false;
  }
  return true;
}

// ---- Histogram ----

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(clean_bounds(std::move(bounds))),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) noexcept {
  // Few buckets: a linear scan beats a binary search and keeps NaN in +Inf.
  std::size_t i = 0;
  while (i < bounds_.size() && !(v <= bounds_[i])) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

void Histogram::read(std::vector<std::uint64_t>& cumulative, double& sum) const {
  cumulative.assign(bounds_.size() + 1, 0);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    cumulative[i] = total;
  }
  sum = sum_.load(std::memory_order_relaxed);
}

std::vector<double> Histogram::latency_bounds() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

std::vector<double> Histogram::count_bounds() {
  return {0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32, 64};
}

// ---- CollectorHandle ----

CollectorHandle::CollectorHandle(std::shared_ptr<detail::CollectorSlot> slot)
    : slot_(std::move(slot)) {}

CollectorHandle& CollectorHandle::operator=(CollectorHandle&& other) noexcept {
  if (this != &other) {
    reset();
    slot_ = std::move(other.slot_);
  }
  return *this;
}

CollectorHandle::~CollectorHandle() {
  reset();
}

void CollectorHandle::reset() {
  if (!slot_) return;
  slot_->active.store(false);
  for (int i = 0; slot_->running.load() > 0; ++i) {
    if (i < 100) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  slot_->fn = nullptr;  // the collector's code and captures go now
  slot_.reset();
}

// ---- MetricsRegistry ----

struct MetricsRegistry::Impl {
  struct Family {
    std::string help;
    MetricType type = MetricType::kGauge;
    std::vector<std::string> label_names;
    std::vector<double> bounds;
    std::map<std::vector<std::string>, std::unique_ptr<Counter>> counters;
    std::map<std::vector<std::string>, std::unique_ptr<Gauge>> gauges;
    std::map<std::vector<std::string>, std::unique_ptr<Histogram>> histograms;
  };

  // REQUIRES: mu held.
  void error_locked(std::string text) {
    if (errors.size() >= kMaxErrors) return;
    if (std::find(errors.begin(), errors.end(), text) != errors.end()) return;
    errors.push_back(std::move(text));
  }

  // The family for a registration, or nullptr (error recorded) when it does
  // not fit. REQUIRES: mu held.
  Family* family_locked(std::string_view name, std::string_view help, MetricType type,
                        const Labels& labels, const std::vector<double>* bounds) {
    if (std::string e = check_names(name, labels); !e.empty()) {
      error_locked(std::move(e));
      return nullptr;
    }
    auto it = families.find(name);
    if (it == families.end()) {
      Family f;
      f.help = std::string(help);
      f.type = type;
      f.label_names = label_names(labels);
      if (bounds) f.bounds = clean_bounds(*bounds);
      it = families.emplace(std::string(name), std::move(f)).first;
    }
    Family& f = it->second;
    if (f.type != type) {
      error_locked("metric '" + std::string(name) + "' registered as " +
                   std::string(metric_type_name(f.type)) + " and as " +
                   std::string(metric_type_name(type)));
      return nullptr;
    }
    if (f.label_names != label_names(labels)) {
      error_locked("metric '" + std::string(name) + "' registered with different label names");
      return nullptr;
    }
    return &f;
  }

  mutable std::mutex mu;
  std::map<std::string, Family, std::less<>> families;  // GUARDED_BY(mu)
  // Metrics handed out for bad registrations: working, never exported.
  std::vector<std::unique_ptr<Counter>> stray_counters;            // GUARDED_BY(mu)
  std::vector<std::unique_ptr<Gauge>> stray_gauges;                // GUARDED_BY(mu)
  std::vector<std::unique_ptr<Histogram>> stray_histograms;        // GUARDED_BY(mu)
  std::vector<std::shared_ptr<detail::CollectorSlot>> collectors;  // GUARDED_BY(mu)
  std::vector<std::string> errors;                                 // GUARDED_BY(mu)
};

MetricsRegistry::MetricsRegistry() : impl_(std::make_unique<Impl>()) {}
MetricsRegistry::~MetricsRegistry() = default;

Counter& MetricsRegistry::counter(std::string_view name, std::string_view help,
                                  const Labels& labels) {
  std::lock_guard lock(impl_->mu);
  Impl::Family* f = impl_->family_locked(name, help, MetricType::kCounter, labels, nullptr);
  if (f == nullptr) return *impl_->stray_counters.emplace_back(std::make_unique<Counter>());
  auto& slot = f->counters[label_values(labels)];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& MetricsRegistry::gauge(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard lock(impl_->mu);
  Impl::Family* f = impl_->family_locked(name, help, MetricType::kGauge, labels, nullptr);
  if (f == nullptr) return *impl_->stray_gauges.emplace_back(std::make_unique<Gauge>());
  auto& slot = f->gauges[label_values(labels)];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& MetricsRegistry::histogram(std::string_view name, std::string_view help,
                                      std::vector<double> bounds, const Labels& labels) {
  std::lock_guard lock(impl_->mu);
  Impl::Family* f = impl_->family_locked(name, help, MetricType::kHistogram, labels, &bounds);
  if (f == nullptr) {
    return *impl_->stray_histograms.emplace_back(std::make_unique<Histogram>(std::move(bounds)));
  }
  auto& slot = f->histograms[label_values(labels)];
  if (!slot) slot = std::make_unique<Histogram>(f->bounds);
  return *slot;
}

CollectorHandle MetricsRegistry::add_collector(Collector collector) {
  auto slot = std::make_shared<detail::CollectorSlot>(std::move(collector));
  std::lock_guard lock(impl_->mu);
  auto& list = impl_->collectors;
  list.erase(std::remove_if(list.begin(), list.end(), [](const auto& s) { return !s->active; }),
             list.end());
  list.push_back(slot);
  return CollectorHandle(std::move(slot));
}

namespace {

// Gathers the series collectors write into the families of one snapshot.
class SnapshotWriter final : public MetricWriter {
 public:
  SnapshotWriter(std::map<std::string, MetricFamily, std::less<>>& out,
                 std::map<std::string, std::vector<std::string>, std::less<>>& names,
                 std::vector<std::string>& errors)
      : out_(out), names_(names), errors_(errors) {}

  void counter(std::string_view name, std::string_view help, const Labels& labels,
               double value) override {
    add(MetricType::kCounter, name, help, labels, value);
  }
  void gauge(std::string_view name, std::string_view help, const Labels& labels,
             double value) override {
    add(MetricType::kGauge, name, help, labels, value);
  }

 private:
  void add(MetricType type, std::string_view name, std::string_view help, const Labels& labels,
           double value) {
    if (std::string e = check_names(name, labels); !e.empty()) {
      errors_.push_back(std::move(e));
      return;
    }
    auto it = out_.find(name);
    if (it == out_.end()) {
      MetricFamily f;
      f.name = std::string(name);
      f.help = std::string(help);
      f.type = type;
      it = out_.emplace(f.name, std::move(f)).first;
      names_[std::string(name)] = label_names(labels);
    }
    if (it->second.type != type) {
      errors_.push_back("collected metric '" + std::string(name) + "' is a " +
                        std::string(metric_type_name(type)) + " but was registered as " +
                        std::string(metric_type_name(it->second.type)));
      return;
    }
    if (names_[std::string(name)] != label_names(labels)) {
      errors_.push_back("collected metric '" + std::string(name) +
                        "' written with different label names");
      return;
    }
    MetricSample s;
    s.labels = labels;
    s.value = value;
    it->second.samples.push_back(std::move(s));
  }

  std::map<std::string, MetricFamily, std::less<>>& out_;
  std::map<std::string, std::vector<std::string>, std::less<>>& names_;
  std::vector<std::string>& errors_;
};

}  // namespace

std::vector<MetricFamily> MetricsRegistry::snapshot() const {
  std::map<std::string, MetricFamily, std::less<>> out;
  std::map<std::string, std::vector<std::string>, std::less<>> names;
  std::vector<std::shared_ptr<detail::CollectorSlot>> collectors;
  {
    std::lock_guard lock(impl_->mu);
    for (const auto& [name, f] : impl_->families) {
      MetricFamily mf;
      mf.name = name;
      mf.help = f.help;
      mf.type = f.type;
      mf.bounds = f.bounds;
      for (const auto& [values, c] : f.counters) {
        mf.samples.push_back(
            MetricSample{zip(f.label_names, values), static_cast<double>(c->value()), {}, 0});
      }
      for (const auto& [values, g] : f.gauges) {
        mf.samples.push_back(MetricSample{zip(f.label_names, values), g->value(), {}, 0});
      }
      for (const auto& [values, h] : f.histograms) {
        MetricSample s;
        s.labels = zip(f.label_names, values);
        h->read(s.buckets, s.sum);
        mf.samples.push_back(std::move(s));
      }
      names[name] = f.label_names;
      out.emplace(name, std::move(mf));
    }
    collectors = impl_->collectors;
  }

  std::vector<std::string> errors;
  SnapshotWriter writer(out, names, errors);
  for (const auto& slot : collectors) {
    slot->running.fetch_add(1);
    if (slot->active.load()) {
      try {
        slot->fn(writer);
      } catch (const std::exception& e) {
        errors.push_back(std::string("a collector threw: ") + e.what());
      } catch (...) {
        errors.push_back("a collector threw a non-standard exception");
      }
    }
    slot->running.fetch_sub(1);
  }
  if (!errors.empty()) {
    std::lock_guard lock(impl_->mu);
    for (auto& e : errors) impl_->error_locked(std::move(e));
  }

  std::vector<MetricFamily> result;
  result.reserve(out.size());
  for (auto& [name, f] : out) {
    if (f.samples.empty()) continue;
    std::stable_sort(f.samples.begin(), f.samples.end(),
                     [](const MetricSample& a, const MetricSample& b) {
                       return label_values(a.labels) < label_values(b.labels);
                     });
    result.push_back(std::move(f));
  }
  return result;
}

std::vector<std::string> MetricsRegistry::errors() const {
  std::lock_guard lock(impl_->mu);
  return impl_->errors;
}

}  // namespace dendrite
