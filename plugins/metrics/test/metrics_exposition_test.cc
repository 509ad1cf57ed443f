// The metrics plugin's pure parts: the Prometheus text format (escaping,
// histograms, values), checked by promtool too, and its config parsing.
#include <cmath>

#include <gtest/gtest.h>

#include "dendrite/metrics.h"
#include "exposition.h"
#include "settings.h"
#include "support/promtool.h"

namespace dendrite::metrics {
namespace {

TEST(MetricsExpositionTest, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(escape_label_value(R"(a\b"c)"
                               "\nd"),
            R"(a\\b\"c\nd)");
  EXPECT_EQ(escape_help("back\\slash \"quoted\"\nline"), "back\\\\slash \"quoted\"\\nline");
}

TEST(MetricsExpositionTest, FormatsValues) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(42), "42");
  EXPECT_EQ(format_value(-3), "-3");
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(NAN), "NaN");
  EXPECT_EQ(format_value(INFINITY), "+Inf");
  EXPECT_EQ(format_value(-INFINITY), "-Inf");
  EXPECT_EQ(std::stod(format_value(0.1 + 0.2)), 0.1 + 0.2);  // reads back exactly
}

TEST(MetricsExpositionTest, RendersFamiliesWithHelpTypeAndSeries) {
  MetricsRegistry r;
  r.counter("dendrite_requests_total", "Requests\nby type.", {{"type", "a\"b"}}).inc(3);
  r.gauge("dendrite_up", "Up.").set(1);
  Histogram& h = r.histogram("dendrite_latency_seconds", "Latency.", {0.1, 1}, {{"t", "x"}});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);
  const std::string text = render_exposition(r.snapshot());
  EXPECT_EQ(text,
            "# HELP dendrite_latency_seconds Latency.\n"
            "# TYPE dendrite_latency_seconds histogram\n"
            "dendrite_latency_seconds_bucket{t=\"x\",le=\"0.1\"} 1\n"
            "dendrite_latency_seconds_bucket{t=\"x\",le=\"1\"} 2\n"
            "dendrite_latency_seconds_bucket{t=\"x\",le=\"+Inf\"} 3\n"
            "dendrite_latency_seconds_sum{t=\"x\"} 5.55\n"
            "dendrite_latency_seconds_count{t=\"x\"} 3\n"
            "# HELP dendrite_requests_total Requests\\nby type.\n"
            "# TYPE dendrite_requests_total counter\n"
            "dendrite_requests_total{type=\"a\\\"b\"} 3\n"
            "# HELP dendrite_up Up.\n"
            "# TYPE dendrite_up gauge\n"
            "dendrite_up 1\n");
}

TEST(MetricsExpositionTest, PromtoolAcceptsTrickyLabels) {
  DENDRITE_REQUIRE_TOOL(promtool, "promtool");
  MetricsRegistry r;
  r.counter("dendrite_tricky_total", "Label values with every escape.",
            {{"v", "back\\slash \"quote\"\nnewline {braces}, commas=equals \u00e9"}})
      .inc();
  r.histogram("dendrite_wait_seconds", "A histogram.", Histogram::latency_bounds(), {{"t", "1"}})
      .observe(0.003);
  CollectorHandle c = r.add_collector(
      [](MetricWriter& w) { w.gauge("dendrite_collected_bytes", "Collected.", {}, 1e12); });
  const std::string text = render_exposition(r.snapshot());
  auto result = ::dendrite::test::promtool_check_metrics(promtool, text);
  EXPECT_EQ(result.exit_code, 0) << result.output << "\n" << text;
}

TEST(MetricsSettingsTest, DefaultsAndValues) {
  auto s = parse_settings("{}");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->host, "127.0.0.1");
  EXPECT_EQ(s->port, 9464);
  s = parse_settings(R"({"listen": "0.0.0.0:0", "threads": 4, "timeout_ms": 250})");
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(s->host, "0.0.0.0");
  EXPECT_EQ(s->port, 0);
  EXPECT_EQ(s->threads, 4);
  EXPECT_EQ(s->timeout, Milliseconds(250));
  s = parse_settings(R"({"listen": "[::1]:9000"})");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->host, "::1");
}

TEST(MetricsSettingsTest, ErrorsNameTheKey) {
  auto message = [](const std::string& json) {
    auto s = parse_settings(json);
    return s.ok() ? std::string("ok") : s.status().message();
  };
  EXPECT_EQ(message(R"({"lisen": "127.0.0.1:1"})"),
            "unknown config key 'lisen' (valid keys: listen, threads, timeout_ms, "
            "bearer_token_file, tls)");
  for (const char* bad : {R"({"listen": "nope"})", R"({"listen": "127.0.0.1:70000"})",
                          R"({"listen": ":80"})", R"({"listen": 80})", R"({"listen": "h:8x"})"}) {
    EXPECT_EQ(message(bad).rfind("config key 'listen' must be a host:port string", 0), 0u)
        << bad << ": " << message(bad);
  }
  EXPECT_EQ(message(R"({"threads": 0})"), "config key 'threads' must be an integer from 1 to 64");
  EXPECT_EQ(message(R"({"timeout_ms": "5"})"),
            "config key 'timeout_ms' must be an integer from 1 to 600000");
  EXPECT_EQ(message("[]"), "config must be a JSON object");
  for (const std::string& m : {message(R"({"x": 1})"), message(R"({"listen": "bad"})")}) {
    EXPECT_EQ(m.find('\n'), std::string::npos);
  }
}

}  // namespace
}  // namespace dendrite::metrics
