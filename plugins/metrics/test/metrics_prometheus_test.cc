// A real Prometheus server (Debian package `prometheus`) scrapes the metrics
// plugins of two in-process nodes every second; its HTTP API must report both
// targets up and a dendrite_ series with the expected value. The server binds
// 127.0.0.1 only, keeps its data in a temporary directory and is killed at the end.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <gtest/gtest.h>
#include <httplib.h>

#include "dendrite/metrics/http.h"
#include "support/child_process.h"
#include "support/dtable_cluster.h"
#include "support/process.h"
#include "support/promtool.h"
#include "support/tls_files.h"

namespace dendrite::test {
namespace {

using nlohmann::json;

TEST(MetricsPrometheusTest, PrometheusScrapesTwoNodes) {
  DENDRITE_REQUIRE_TOOL(prometheus, "prometheus");
  DtableCluster cluster;
  const host::PluginSpec metrics{"metrics", std::nullopt, R"({"listen": "127.0.0.1:0"})"};
  cluster.add(dtable_test_settings(), {metrics});
  cluster.add(dtable_test_settings(), {metrics});
  ASSERT_EQ(cluster.wait_converged(), "");
  std::vector<std::string> targets;
  for (std::size_t i : {0u, 1u}) {
    auto ep =
        cluster.node(i).host_services().get_service<metrics::HttpEndpoint>(metrics::kServiceName);
    ASSERT_TRUE(ep.ok());
    targets.push_back((*ep)->address());
  }
  constexpr int kSets = 17;
  for (int i = 0; i < kSets; ++i) {
    ASSERT_TRUE(cluster.table(i % 2).query().set("p" + std::to_string(i), "v").ok());
  }

  const auto dir = std::filesystem::temp_directory_path() /
                   ("dendrite-prometheus-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "data");
  {
    std::ofstream cfg(dir / "prometheus.yml");
    cfg << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        << "scrape_configs:\n  - job_name: dendrite\n    static_configs:\n"
        << "      - targets: ['" << targets[0] << "', '" << targets[1] << "']\n";
  }
  const int port = free_port();
  ASSERT_GT(port, 0);
  const std::string log = (dir / "prometheus.log").string();
  ChildProcess server({prometheus, "--config.file=" + (dir / "prometheus.yml").string(),
                       "--web.listen-address=127.0.0.1:" + std::to_string(port),
                       "--storage.tsdb.path=" + (dir / "data").string(), "--log.level=warn"},
                      log + ".out", log);
  ASSERT_GT(server.pid(), 0);

  httplib::Client api("127.0.0.1", port);
  api.set_connection_timeout(2);
  api.set_read_timeout(5);
  auto query = [&](const std::string& q) -> json {
    auto res = api.Get("/api/v1/query", httplib::Params{{"query", q}}, httplib::Headers{});
    if (!res || res->status != 200) return json();
    json doc = json::parse(res->body, nullptr, false);
    return doc.is_object() && doc["status"] == "success" ? doc["data"]["result"] : json();
  };

  // Both targets up.
  bool up = wait_until(
      [&] {
        if (!server.running()) return true;  // reported below
        auto res = api.Get("/api/v1/targets");
        if (!res || res->status != 200) return false;
        json doc = json::parse(res->body, nullptr, false);
        if (!doc.is_object()) return false;
        int healthy = 0;
        for (const json& t : doc["data"]["activeTargets"]) healthy += t["health"] == "up";
        return healthy == 2;
      },
      std::chrono::seconds(60));
  ASSERT_TRUE(server.running()) << read_file(log);
  ASSERT_TRUE(up) << read_file(log);
  // The targets page turns healthy a moment before the scrape's samples can be
  // queried: wait (bounded) for both `up` series too.
  json up_series;
  ASSERT_TRUE(wait_until([&] { return (up_series = query("up{job=\"dendrite\"}")).size() == 2; },
                         std::chrono::seconds(30)))
      << up_series;
  for (const json& s : up_series) EXPECT_EQ(s["value"][1], "1") << s;

  // A dendrite_ series with the expected value: 3 vnodes per node, and the
  // writes done above summed over both nodes.
  json vnodes;
  ASSERT_TRUE(wait_until([&] { return (vnodes = query("dendrite_ring_vnodes")).size() == 2; },
                         std::chrono::seconds(30)))
      << vnodes;
  for (const json& s : vnodes) EXPECT_EQ(s["value"][1], "3") << s;
  json writes;
  EXPECT_TRUE(wait_until(
      [&] {
        writes = query("sum(dendrite_dtable_writes_total{op=\"set\"})");
        return writes.size() == 1 && writes[0]["value"][1] == std::to_string(kSets);
      },
      std::chrono::seconds(30)))
      << writes;

  server.signal(SIGTERM);
  EXPECT_TRUE(server.wait_for(std::chrono::seconds(10)).has_value());
  std::filesystem::remove_all(dir);
}

// The scrape config Prometheus's documentation gives for an endpoint with TLS
// and a bearer token: scheme https, tls_config.ca_file, authorization with a
// credentials_file.
TEST(MetricsPrometheusTest, PrometheusScrapesOverTlsWithABearerToken) {
  DENDRITE_REQUIRE_TOOL(prometheus, "prometheus");
  TempDir dir;
  const TlsFiles tls = make_tls_files(dir.path());
  ASSERT_EQ(tls.error, "");
  const std::string token_file = dir.write("token", "scrape-" + std::to_string(::getpid()) + "\n");
  ASSERT_EQ(::chmod(token_file.c_str(), 0600), 0);
  DtableCluster cluster;
  const json config = {{"listen", "127.0.0.1:0"},
                       {"bearer_token_file", token_file},
                       {"tls", {{"cert_file", tls.cert}, {"key_file", tls.key}}}};
  cluster.add(dtable_test_settings(), {host::PluginSpec{"metrics", std::nullopt, config.dump()}});
  auto ep =
      cluster.node(0).host_services().get_service<metrics::HttpEndpoint>(metrics::kServiceName);
  ASSERT_TRUE(ep.ok());
  const std::string target = (*ep)->address();

  std::filesystem::create_directories(dir.path() + "/data");
  const std::string yml =
      dir.write("prometheus.yml",
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n"
                "  - job_name: secured\n    scheme: https\n"
                "    authorization:\n      type: Bearer\n      credentials_file: " +
                    token_file +
                    "\n"
                    "    tls_config:\n      ca_file: " +
                    tls.cert +
                    "\n"
                    "    static_configs:\n      - targets: ['" +
                    target +
                    "']\n"
                    "  - job_name: without_token\n    scheme: https\n"
                    "    tls_config:\n      ca_file: " +
                    tls.cert + "\n    static_configs:\n      - targets: ['" + target + "']\n");
  const int port = free_port();
  ASSERT_GT(port, 0);
  const std::string log = dir.path() + "/prometheus.log";
  ChildProcess server(
      {prometheus, "--config.file=" + yml, "--web.listen-address=127.0.0.1:" + std::to_string(port),
       "--storage.tsdb.path=" + dir.path() + "/data", "--log.level=warn"},
      log + ".out", log);
  ASSERT_GT(server.pid(), 0);
  httplib::Client api("127.0.0.1", port);
  api.set_connection_timeout(2);
  api.set_read_timeout(5);
  // The job with the token is up; the one without is down (401).
  std::map<std::string, std::string> health;
  const bool settled = wait_until(
      [&] {
        if (!server.running()) return true;
        auto res = api.Get("/api/v1/targets");
        if (!res || res->status != 200) return false;
        json doc = json::parse(res->body, nullptr, false);
        if (!doc.is_object()) return false;
        health.clear();
        for (const json& t : doc["data"]["activeTargets"]) {
          health[t["labels"]["job"].get<std::string>()] =
              t["health"].get<std::string>() + " " + t.value("lastError", std::string());
        }
        return health.size() == 2 && health["secured"].rfind("up", 0) == 0 &&
               health["without_token"].rfind("down", 0) == 0;
      },
      std::chrono::seconds(60));
  ASSERT_TRUE(server.running()) << read_file(log);
  EXPECT_TRUE(settled) << json(health).dump() << "\n" << read_file(log);
  EXPECT_NE(health["without_token"].find("401"), std::string::npos) << health["without_token"];
  server.signal(SIGTERM);
  server.wait_for(std::chrono::seconds(30));
}

}  // namespace
}  // namespace dendrite::test
