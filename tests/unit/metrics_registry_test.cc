// The SDK's statistics registry: counters, gauges, histograms, labels,
// collectors, registration errors, and concurrent updates (run under TSan).
#include <atomic>
#include <cmath>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "dendrite/metrics.h"

namespace dendrite {
namespace {

const MetricFamily* find(const std::vector<MetricFamily>& snap, const std::string& name) {
  for (const auto& f : snap) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

TEST(MetricsRegistryTest, SameNameAndLabelsGiveTheSameMetric) {
  MetricsRegistry r;
  Counter& a = r.counter("dendrite_x_total", "x", {{"type", "a"}});
  Counter& a2 = r.counter("dendrite_x_total", "other help", {{"type", "a"}});
  Counter& b = r.counter("dendrite_x_total", "x", {{"type", "b"}});
  EXPECT_EQ(&a, &a2);
  EXPECT_NE(&a, &b);
  a.inc();
  a2.inc(4);
  b.inc();
  auto snap = r.snapshot();
  const MetricFamily* f = find(snap, "dendrite_x_total");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->help, "x");  // the first registration's
  EXPECT_EQ(f->type, MetricType::kCounter);
  ASSERT_EQ(f->samples.size(), 2u);
  EXPECT_EQ(f->samples[0].labels, (Labels{{"type", "a"}}));
  EXPECT_EQ(f->samples[0].value, 5);
  EXPECT_EQ(f->samples[1].labels, (Labels{{"type", "b"}}));
  EXPECT_EQ(f->samples[1].value, 1);
  EXPECT_TRUE(r.errors().empty());
}

TEST(MetricsRegistryTest, FamiliesAreSortedByNameAndSamplesByLabelValues) {
  MetricsRegistry r;
  r.gauge("dendrite_b", "b", {{"k", "z"}}).set(1);
  r.gauge("dendrite_b", "b", {{"k", "a"}}).set(2);
  r.counter("dendrite_a_total", "a").inc();
  auto snap = r.snapshot();
  ASSERT_EQ(snap.size(), 2u);
  EXPECT_EQ(snap[0].name, "dendrite_a_total");
  EXPECT_EQ(snap[1].name, "dendrite_b");
  EXPECT_EQ(snap[1].samples[0].labels[0].second, "a");
  EXPECT_EQ(snap[1].samples[1].labels[0].second, "z");
}

TEST(MetricsRegistryTest, GaugesGoUpAndDown) {
  MetricsRegistry r;
  Gauge& g = r.gauge("dendrite_g", "g");
  g.set(10);
  g.add(2.5);
  g.dec();
  g.inc();
  g.add(-0.5);
  EXPECT_DOUBLE_EQ(g.value(), 12);
  EXPECT_DOUBLE_EQ(find(r.snapshot(), "dendrite_g")->samples[0].value, 12);
}

TEST(MetricsRegistryTest, HistogramBucketsAreCumulativeWithInf) {
  MetricsRegistry r;
  // Unsorted, duplicated and non-finite bounds are cleaned up.
  Histogram& h = r.histogram("dendrite_h_seconds", "h", {1, 0.1, 1, 0.5, INFINITY});
  EXPECT_EQ(h.bounds(), (std::vector<double>{0.1, 0.5, 1}));
  for (double v : {0.05, 0.1, 0.2, 0.5, 0.7, 1.0, 3.0, 100.0}) h.observe(v);
  h.observe(std::chrono::milliseconds(300));
  auto snap = r.snapshot();
  const MetricFamily* f = find(snap, "dendrite_h_seconds");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->type, MetricType::kHistogram);
  EXPECT_EQ(f->bounds, (std::vector<double>{0.1, 0.5, 1}));
  ASSERT_EQ(f->samples.size(), 1u);
  // <=0.1: 0.05 0.1; <=0.5: +0.2 0.5 0.3; <=1: +0.7 1.0; +Inf: +3 100.
  EXPECT_EQ(f->samples[0].buckets, (std::vector<std::uint64_t>{2, 5, 7, 9}));
  EXPECT_NEAR(f->samples[0].sum, 0.05 + 0.1 + 0.2 + 0.5 + 0.7 + 1.0 + 3.0 + 100.0 + 0.3, 1e-9);
}

TEST(MetricsRegistryTest, HistogramSeriesShareTheFirstRegistrationsBounds) {
  MetricsRegistry r;
  r.histogram("dendrite_h", "h", {1, 2}, {{"t", "a"}});
  Histogram& b = r.histogram("dendrite_h", "h", {5, 6, 7}, {{"t", "b"}});
  EXPECT_EQ(b.bounds(), (std::vector<double>{1, 2}));
}

TEST(MetricsRegistryTest, BadRegistrationsGiveWorkingUnexportedMetricsAndErrors) {
  MetricsRegistry r;
  r.counter("dendrite_c_total", "c").inc();
  Gauge& wrong_type = r.gauge("dendrite_c_total", "c");
  wrong_type.set(5);
  Counter& wrong_labels = r.counter("dendrite_c_total", "c", {{"x", "1"}});
  wrong_labels.inc();
  Counter& bad_name = r.counter("dendrite-bad", "b");
  bad_name.inc();
  Counter& bad_label = r.counter("dendrite_d_total", "d", {{"le", "1"}});
  bad_label.inc();
  r.counter("dendrite_e_total", "e", {{"__x", "1"}});
  r.counter("dendrite_f_total", "f", {{"a", "1"}, {"a", "2"}});
  EXPECT_EQ(wrong_type.value(), 5);
  EXPECT_EQ(bad_name.value(), 1u);

  auto snap = r.snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0].name, "dendrite_c_total");
  ASSERT_EQ(snap[0].samples.size(), 1u);
  EXPECT_EQ(snap[0].samples[0].value, 1);
  const auto errors = r.errors();
  ASSERT_EQ(errors.size(), 6u);
  EXPECT_NE(errors[0].find("registered as counter and as gauge"), std::string::npos) << errors[0];
  EXPECT_NE(errors[1].find("different label names"), std::string::npos) << errors[1];
  EXPECT_NE(errors[2].find("invalid metric name 'dendrite-bad'"), std::string::npos) << errors[2];
  EXPECT_NE(errors[3].find("invalid label name 'le'"), std::string::npos) << errors[3];
  EXPECT_NE(errors[4].find("invalid label name '__x'"), std::string::npos) << errors[4];
  EXPECT_NE(errors[5].find("label 'a' given twice"), std::string::npos) << errors[5];
}

TEST(MetricsRegistryTest, NameRules) {
  EXPECT_TRUE(valid_metric_name("dendrite_x:y_total"));
  EXPECT_TRUE(valid_metric_name("_x"));
  EXPECT_FALSE(valid_metric_name(""));
  EXPECT_FALSE(valid_metric_name("1x"));
  EXPECT_FALSE(valid_metric_name("x y"));
  EXPECT_TRUE(valid_label_name("vnode_1"));
  EXPECT_FALSE(valid_label_name("a:b"));
  EXPECT_FALSE(valid_label_name("le"));
  EXPECT_FALSE(valid_label_name("__name__"));
  EXPECT_FALSE(valid_label_name("1a"));
}

TEST(MetricsRegistryTest, CollectorsRunAtSnapshotUntilTheirHandleGoes) {
  MetricsRegistry r;
  r.counter("dendrite_c_total", "c").inc(2);
  int calls = 0;
  CollectorHandle h = r.add_collector([&calls](MetricWriter& w) {
    ++calls;
    w.gauge("dendrite_q", "queue", {{"vnode", "a"}}, 7);
    w.gauge("dendrite_q", "queue", {{"vnode", "b"}}, 8);
    w.counter("dendrite_cpu_seconds_total", "cpu", {}, 1.5);
    w.counter("dendrite_c_total", "c", {}, 1);        // merged into the registered family
    w.gauge("dendrite_c_total", "clash", {}, 1);      // wrong type: dropped
    w.gauge("dendrite_q", "queue", {{"x", "1"}}, 1);  // other labels: dropped
  });
  auto snap = r.snapshot();
  EXPECT_EQ(calls, 1);
  const MetricFamily* q = find(snap, "dendrite_q");
  ASSERT_NE(q, nullptr);
  ASSERT_EQ(q->samples.size(), 2u);
  EXPECT_EQ(q->samples[1].value, 8);
  EXPECT_EQ(find(snap, "dendrite_cpu_seconds_total")->samples[0].value, 1.5);
  EXPECT_EQ(find(snap, "dendrite_c_total")->samples.size(), 2u);
  EXPECT_EQ(r.errors().size(), 2u);

  h.reset();
  EXPECT_FALSE(h);
  snap = r.snapshot();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(find(snap, "dendrite_q"), nullptr);
}

TEST(MetricsRegistryTest, ACollectorThatThrowsIsReportedNotFatal) {
  MetricsRegistry r;
  CollectorHandle h = r.add_collector([](MetricWriter&) { throw std::runtime_error("boom"); });
  EXPECT_TRUE(r.snapshot().empty());
  ASSERT_EQ(r.errors().size(), 1u);
  EXPECT_NE(r.errors()[0].find("boom"), std::string::npos);
}

TEST(MetricsRegistryTest, MovedHandleKeepsTheCollector) {
  MetricsRegistry r;
  CollectorHandle outer;
  {
    CollectorHandle inner =
        r.add_collector([](MetricWriter& w) { w.gauge("dendrite_g", "g", {}, 1); });
    outer = std::move(inner);
  }
  EXPECT_NE(find(r.snapshot(), "dendrite_g"), nullptr);
  outer = CollectorHandle();
  EXPECT_EQ(find(r.snapshot(), "dendrite_g"), nullptr);
}

// Many writers and snapshotting readers at once: exact totals, no data race
// (this test is meant for the TSan build too).
TEST(MetricsRegistryTest, ConcurrentUpdatesAreExact) {
  MetricsRegistry r;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::atomic<bool> stop{false};
  std::atomic<int> collector_value{0};
  CollectorHandle h = r.add_collector([&collector_value](MetricWriter& w) {
    w.gauge("dendrite_collected", "c", {}, collector_value.load());
  });
  std::thread reader([&] {
    for (int i = 0; i < 1000 && !stop.load(); ++i) {
      auto snap = r.snapshot();
      ASSERT_FALSE(snap.empty());
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&r, &collector_value, t] {
      // Each thread looks its metrics up itself, racing with the others.
      Counter& shared = r.counter("dendrite_shared_total", "s");
      Counter& own = r.counter("dendrite_own_total", "o", {{"t", std::to_string(t)}});
      Gauge& g = r.gauge("dendrite_gauge", "g");
      Histogram& h = r.histogram("dendrite_h_seconds", "h", Histogram::latency_bounds());
      for (int i = 0; i < kPerThread; ++i) {
        shared.inc();
        own.inc();
        g.add(1);
        h.observe(0.001 * (i % 10));
        if (i % 1000 == 0) collector_value.fetch_add(1);
      }
    });
  }
  for (auto& w : writers) w.join();
  stop.store(true);
  reader.join();

  auto snap = r.snapshot();
  EXPECT_EQ(find(snap, "dendrite_shared_total")->samples[0].value, kThreads * kPerThread);
  const MetricFamily* own = find(snap, "dendrite_own_total");
  ASSERT_EQ(own->samples.size(), static_cast<std::size_t>(kThreads));
  for (const auto& s : own->samples) EXPECT_EQ(s.value, kPerThread);
  EXPECT_EQ(find(snap, "dendrite_gauge")->samples[0].value, kThreads * kPerThread);
  EXPECT_EQ(find(snap, "dendrite_h_seconds")->samples[0].buckets.back(),
            static_cast<std::uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(find(snap, "dendrite_collected")->samples[0].value, kThreads * kPerThread / 1000);
}

// reset() waits for a collector call in progress on another thread.
TEST(MetricsRegistryTest, ResetWaitsForARunningCollector) {
  MetricsRegistry r;
  std::atomic<bool> entered{false}, release{false};
  std::atomic<bool> finished{false};
  CollectorHandle h = r.add_collector([&](MetricWriter& w) {
    entered.store(true);
    for (int i = 0; i < 5000 && !release.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    w.gauge("dendrite_g", "g", {}, 1);
    finished.store(true);
  });
  std::thread snapper([&] { r.snapshot(); });
  for (int i = 0; i < 5000 && !entered.load(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(entered.load());
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    release.store(true);
  });
  h.reset();
  EXPECT_TRUE(finished.load());
  releaser.join();
  snapper.join();
}

}  // namespace
}  // namespace dendrite
