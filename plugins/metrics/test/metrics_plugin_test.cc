// The metrics plugin in real nodes (dtable + metrics, ZeroMQ and HTTP on
// 127.0.0.1, ephemeral ports): the exposition (checked by promtool), counters
// that move with the work done, /ring against the status document, the page,
// HTTP errors, a slow client, and bad configs.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <regex>

#include <gtest/gtest.h>
#include <httplib.h>
#include <zmq.hpp>

#include "dendrite/metrics/http.h"
#include "support/dtable_cluster.h"
#include "support/metric_sums.h"
#include "support/process.h"
#include "support/programs.h"
#include "support/promtool.h"
#include "support/tls_files.h"

namespace dendrite::test {
namespace {

using nlohmann::json;

host::PluginSpec metrics_plugin(const std::string& config = R"({"listen": "127.0.0.1:0"})") {
  return host::PluginSpec{"metrics", std::nullopt, config};
}

class MetricsPluginTest : public ::testing::Test {
 protected:
  std::size_t add_node() { return cluster_.add(dtable_test_settings(), {metrics_plugin()}); }

  // The HTTP address of node i's metrics plugin.
  std::string http_of(std::size_t i) {
    auto ep =
        cluster_.node(i).host_services().get_service<metrics::HttpEndpoint>(metrics::kServiceName);
    EXPECT_TRUE(ep.ok()) << ep.status().to_string();
    return ep.ok() ? (*ep)->address() : "";
  }

  httplib::Result get(std::size_t i, const std::string& path) {
    const std::string address = http_of(i);
    const auto colon = address.rfind(':');
    httplib::Client client(address.substr(0, colon), std::stoi(address.substr(colon + 1)));
    client.set_connection_timeout(5);
    client.set_read_timeout(10);
    return client.Get(path);
  }

  double total(const std::string& name, const Labels& match = {}) {
    double t = 0;
    for (std::size_t i : cluster_.live())
      t += sum_of(cluster_.node(i).metrics().snapshot(), name, match);
    return t;
  }

  DtableCluster cluster_;
};

TEST_F(MetricsPluginTest, ExpositionHasTheSeriesAndPassesPromtool) {
  add_node();
  ASSERT_TRUE(cluster_.table(0).query().set("k", "v").ok());
  auto res = get(0, "/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  const std::string& text = res->body;
  for (const char* needle : {"# TYPE dendrite_transport_requests_received_total counter",
                             "# TYPE dendrite_transport_request_duration_seconds histogram",
                             "dendrite_transport_workers ",
                             "dendrite_transport_workers_busy ",
                             "dendrite_transport_malformed_frames_total 0",
                             "dendrite_ring_vnodes 3",
                             "dendrite_ring_stabilize_rounds_total ",
                             "dendrite_ring_lookup_hops_bucket{le=",
                             "dendrite_ring_events_total{type=\"predecessor_joined\"}",
                             "dendrite_dtable_writes_total{op=\"set\",consistency=\"1\"} 1",
                             "dendrite_dtable_items{vnode=",
                             "dendrite_process_resident_memory_bytes ",
                             "dendrite_process_cpu_seconds_total ",
                             "dendrite_process_open_fds ",
                             "dendrite_process_start_time_seconds ",
                             "dendrite_plugin_info{name=\"dtable\",version=",
                             "dendrite_plugin_info{name=\"metrics\",version=",
                             "dendrite_node_info{address=",
                             "type=\"dtable.set_item\"",
                             "type=\"find_successors\""}) {
    EXPECT_NE(text.find(needle), std::string::npos) << "missing " << needle;
  }
  DENDRITE_REQUIRE_TOOL(promtool, "promtool");
  auto check = promtool_check_metrics(promtool, text);
  EXPECT_EQ(check.exit_code, 0) << check.output;
}

TEST_F(MetricsPluginTest, WriteAndReadCountersRiseByTheRequestsDone) {
  add_node();
  add_node();
  ASSERT_EQ(cluster_.wait_converged(), "");
  const double sets = total("dendrite_dtable_writes_total", {{"op", "set"}});
  const double dels = total("dendrite_dtable_writes_total", {{"op", "delete"}});
  const double reads = total("dendrite_dtable_reads_total");
  constexpr int kN = 25;
  for (int i = 0; i < kN; ++i) {
    ASSERT_TRUE(cluster_.table(i % 2).query().set("key" + std::to_string(i), "v").ok());
  }
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(cluster_.table(0).query().get("key" + std::to_string(i)).ok());
  }
  ASSERT_TRUE(cluster_.table(1).query().consistency(2).del("key0").ok());
  EXPECT_EQ(total("dendrite_dtable_writes_total", {{"op", "set"}}) - sets, kN);
  EXPECT_EQ(total("dendrite_dtable_writes_total", {{"op", "delete"}, {"consistency", "2"}}) - dels,
            1);
  EXPECT_EQ(total("dendrite_dtable_reads_total") - reads, 5);

  // Mutations count what they decided to write: a declined set-if-absent
  // nothing, an increment a set, a delete of a present key a delete.
  const double sets_before = total("dendrite_dtable_writes_total", {{"op", "set"}});
  const double dels_before = total("dendrite_dtable_writes_total", {{"op", "delete"}});
  dtable::Mutation nx;
  nx.condition = dtable::Mutation::If::kAbsent;
  nx.operand = "x";
  auto declined = cluster_.table(0).query().mutate("key1", nx);
  ASSERT_TRUE(declined.ok()) << declined.status().to_string();
  EXPECT_FALSE(declined->applied);
  dtable::Mutation incr;
  incr.op = dtable::Mutation::Op::kIncrBy;
  incr.delta = 1;
  incr.expiry = dtable::Mutation::Expiry::kKeep;
  ASSERT_TRUE(cluster_.table(1).query().mutate("counter", incr).ok());
  dtable::Mutation del;
  del.op = dtable::Mutation::Op::kDelete;
  ASSERT_TRUE(cluster_.table(0).query().mutate("key2", del).ok());
  EXPECT_EQ(total("dendrite_dtable_writes_total", {{"op", "set"}}) - sets_before, 1);
  EXPECT_EQ(total("dendrite_dtable_writes_total", {{"op", "delete"}}) - dels_before, 1);
  // Primary copies: 24 live keys over both nodes, as items; replicas hold more.
  EXPECT_TRUE(wait_until([&] {
    return total("dendrite_dtable_items", {{"table", "primary"}}) == kN - 1;
  })) << total("dendrite_dtable_items", {{"table", "primary"}});
  EXPECT_GT(total("dendrite_dtable_bytes", {{"table", "primary"}}), 0);
  // Requests went over the network, were answered and timed.
  EXPECT_GT(total("dendrite_transport_requests_sent_total"), 0);
  EXPECT_GT(total("dendrite_transport_requests_received_total", {{"type", "dtable.set_replica"}}),
            0);
  EXPECT_GT(total("dendrite_transport_request_duration_seconds"), 0);
  EXPECT_EQ(total("dendrite_dtable_replication_in_flight"), 0);
}

TEST_F(MetricsPluginTest, JoinRaisesRingEventCounters) {
  add_node();
  ASSERT_EQ(cluster_.wait_converged(), "");
  const double joined = total("dendrite_ring_events_total", {{"type", "predecessor_joined"}});
  const double replicas = total("dendrite_ring_events_total", {{"type", "replicas_changed"}});
  const double rounds = total("dendrite_ring_stabilize_rounds_total");
  add_node();
  ASSERT_EQ(cluster_.wait_converged(), "");
  auto snap = cluster_.node(0).metrics().snapshot();
  EXPECT_GT(sum_of(snap, "dendrite_ring_events_total", {{"type", "predecessor_joined"}}), joined);
  EXPECT_GT(sum_of(snap, "dendrite_ring_events_total", {{"type", "replicas_changed"}}), replicas);
  EXPECT_GT(sum_of(snap, "dendrite_ring_stabilize_rounds_total"), rounds);
  EXPECT_EQ(sum_of(snap, "dendrite_ring_predecessor_known"), 3);
  EXPECT_GT(sum_of(snap, "dendrite_ring_lookups_total"), 0);
}

TEST_F(MetricsPluginTest, MalformedFrameBumpsItsCounter) {
  add_node();
  auto malformed = [&] {
    return sum_of(cluster_.node(0).metrics().snapshot(),
                  "dendrite_transport_malformed_frames_total");
  };
  EXPECT_EQ(malformed(), 0);
  zmq::context_t ctx;
  zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect("tcp://" + cluster_.node(0).address());
  // [empty delimiter][empty payload]: "empty frame", answered with Err.
  dealer.send(zmq::message_t(), zmq::send_flags::sndmore);
  dealer.send(zmq::message_t(), zmq::send_flags::none);
  // No delimiter at all: dropped.
  dealer.send(zmq::str_buffer("x"), zmq::send_flags::none);
  EXPECT_TRUE(wait_until([&] { return malformed() == 2; })) << malformed();
}

TEST_F(MetricsPluginTest, RingMatchesTheStatusDocumentAndTheWalk) {
  add_node();
  add_node();
  ASSERT_EQ(cluster_.wait_converged(), "");
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(cluster_.table(0).query().set("k" + std::to_string(i), "v").ok());
  }
  for (std::size_t n : {0u, 1u}) {
    auto res = get(n, "/ring");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200);
    json ring = json::parse(res->body);
    const json status = cluster_.node(n).status_json();  // what dendrite-cli status prints
    EXPECT_EQ(ring["address"], status["address"]);
    ASSERT_EQ(ring["vnodes"].size(), status["vnodes"].size());
    for (std::size_t k = 0; k < ring["vnodes"].size(); ++k) {
      const json& a = ring["vnodes"][k];
      const json& b = status["vnodes"][k];
      EXPECT_EQ(a["id"], b["id"]);
      EXPECT_EQ(a["host"], b["host"]);
      EXPECT_EQ(a["predecessor"], b["predecessor"]);
      EXPECT_EQ(a["successors"], b["successors"]);
      EXPECT_TRUE(a["fingers"].is_array());
      EXPECT_TRUE(a["keys"].is_number_integer());
    }
    EXPECT_FALSE(ring.contains("ring"));
  }
  auto res = get(1, "/ring?walk=1");
  ASSERT_TRUE(res);
  json walked = json::parse(res->body)["ring"];
  const std::vector<Vnode> all = cluster_.ring().all_vnodes();
  ASSERT_EQ(walked.size(), all.size()) << res->body;
  double keys = 0;
  for (std::size_t k = 0; k < all.size(); ++k) {
    EXPECT_EQ(walked[k]["id"], all[k].id.hex());
    EXPECT_EQ(walked[k]["host"], all[k].host);
    ASSERT_TRUE(walked[k]["keys"].is_number_integer()) << walked[k];  // from both nodes
    keys += walked[k]["keys"].get<double>();
  }
  EXPECT_EQ(keys, 10);
}

TEST_F(MetricsPluginTest, PageDrawsOneVnodePerRingVnode) {
  add_node();
  add_node();
  ASSERT_EQ(cluster_.wait_converged(), "");
  auto res = get(0, "/");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  const std::string& page = res->body;
  EXPECT_NE(page.find("<svg"), std::string::npos);
  EXPECT_NE(page.find("<script>"), std::string::npos);
  EXPECT_EQ(page.find("src=\"http"), std::string::npos);  // no external assets
  EXPECT_EQ(page.find("href=\"http"), std::string::npos);
  std::set<std::string> drawn;
  const std::regex vnode_re("<g class=\"vnode\" data-id=\"([0-9a-f]{40})\" data-host=\"([^\"]+)\"");
  for (auto it = std::sregex_iterator(page.begin(), page.end(), vnode_re);
       it != std::sregex_iterator(); ++it) {
    drawn.insert((*it)[1].str() + "@" + (*it)[2].str());
  }
  std::set<std::string> want;
  for (const Vnode& v : cluster_.ring().all_vnodes()) want.insert(v.id.hex() + "@" + v.host);
  EXPECT_EQ(drawn, want);
  std::size_t arrows = 0;
  for (std::size_t p = page.find("class=\"succ\""); p != std::string::npos;
       p = page.find("class=\"succ\"", p + 1)) {
    ++arrows;
  }
  EXPECT_EQ(arrows, want.size());
  auto svg = get(0, "/ring.svg?walk=1");
  ASSERT_TRUE(svg);
  EXPECT_EQ(svg->get_header_value("Content-Type"), "image/svg+xml");
  EXPECT_NE(svg->body.find("data-vnodes=\"6\""), std::string::npos);
}

TEST_F(MetricsPluginTest, BadPathIs404AndBadQueryIs400) {
  add_node();
  for (const char* path : {"/nope", "/metrics/x", "/ring/"}) {
    auto res = get(0, path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 404) << path;
  }
  for (const char* path : {"/ring?walk=2", "/ring?x=1", "/metrics?walk=1", "/?a=b"}) {
    auto res = get(0, path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 400) << path;
  }
}

TEST_F(MetricsPluginTest, ASlowClientDoesNotStallScrapesOrTheNode) {
  add_node();
  const std::string address = http_of(0);
  const int port = std::stoi(address.substr(address.rfind(':') + 1));
  // A client that sends half a request and then nothing.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const char partial[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
  ASSERT_GT(::write(fd, partial, sizeof partial - 1), 0);
  for (int i = 0; i < 3; ++i) {
    auto res = get(0, "/metrics");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
  }
  EXPECT_TRUE(cluster_.table(0).query().set("still", "works").ok());
  ::close(fd);
}

TEST_F(MetricsPluginTest, InvalidConfigFailsStartWithTheKeyNamed) {
  struct Case {
    const char* config;
    const char* key;
  };
  for (const Case& c :
       {Case{R"({"lisen": "127.0.0.1:0"})", "'lisen'"},
        Case{R"({"listen": "localhost"})", "'listen'"}, Case{R"({"threads": -1})", "'threads'"}}) {
    host::Config config = test_config();
    config.plugin_dir = plugin_dir();
    config.plugins = {metrics_plugin(c.config)};
    host::Node node(config);
    Status s = node.start();
    ASSERT_FALSE(s.ok()) << c.config;
    EXPECT_EQ(node.failure(), host::StartFailure::kPlugin);
    EXPECT_NE(s.message().find("plugin 'metrics'"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(c.key), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();
  }
}

TEST_F(MetricsPluginTest, ASecuredEndpointSpeaksTlsAndAsksEveryRequestForTheToken) {
  TempDir dir;
  const TlsFiles tls = make_tls_files(dir.path());
  ASSERT_EQ(tls.error, "");
  const std::string token = "s3cret-" + std::to_string(::getpid());
  const std::string token_file = dir.write("token", token + "\n");
  ASSERT_EQ(::chmod(token_file.c_str(), 0600), 0);
  const json config = {{"listen", "127.0.0.1:0"},
                       {"bearer_token_file", token_file},
                       {"tls", {{"cert_file", tls.cert}, {"key_file", tls.key}}}};
  cluster_.add(dtable_test_settings(), {metrics_plugin(config.dump())});
  const std::string address = http_of(0);
  const auto colon = address.rfind(':');
  const int port = std::stoi(address.substr(colon + 1));

  httplib::SSLClient https("127.0.0.1", port);
  https.set_ca_cert_path(tls.cert.c_str());
  https.enable_server_certificate_verification(true);
  https.set_connection_timeout(5);
  https.set_read_timeout(10);
  for (const char* path : {"/metrics", "/ring", "/"}) {
    auto none = https.Get(path);
    ASSERT_TRUE(none) << httplib::to_string(none.error());
    EXPECT_EQ(none->status, 401) << path;
    EXPECT_EQ(none->get_header_value("WWW-Authenticate"), "Bearer realm=\"dendrite\"");
    auto longer = https.Get(path, httplib::Headers{{"Authorization", "Bearer " + token + "x"}});
    ASSERT_TRUE(longer);
    EXPECT_EQ(longer->status, 401) << path;
    std::string same_length = token;
    same_length.back() = same_length.back() == 'z' ? 'y' : 'z';
    auto wrong = https.Get(path, httplib::Headers{{"Authorization", "Bearer " + same_length}});
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 401) << path;
  }
  auto basic = https.Get("/metrics", httplib::Headers{{"Authorization", "Basic " + token}});
  ASSERT_TRUE(basic);
  EXPECT_EQ(basic->status, 401);
  auto ok = https.Get("/metrics", httplib::Headers{{"Authorization", "Bearer " + token}});
  ASSERT_TRUE(ok) << httplib::to_string(ok.error());
  EXPECT_EQ(ok->status, 200);
  EXPECT_NE(ok->body.find("dendrite_ring_vnodes 3"), std::string::npos);

  // Plain HTTP gets no answer from the TLS port.
  httplib::Client http("127.0.0.1", port);
  http.set_connection_timeout(5);
  http.set_read_timeout(5);
  auto plain = http.Get("/metrics", httplib::Headers{{"Authorization", "Bearer " + token}});
  EXPECT_TRUE(!plain || plain->status != 200);
}

TEST_F(MetricsPluginTest, TokenAndTlsFilesOthersMayReadOrThatDoNotLoadFailStart) {
  TempDir dir;
  const TlsFiles tls = make_tls_files(dir.path());
  ASSERT_EQ(tls.error, "");
  const std::string open_token = dir.write("open-token", "t\n");
  ASSERT_EQ(::chmod(open_token.c_str(), 0644), 0);
  const std::string empty_token = dir.write("empty-token", "\n");
  ASSERT_EQ(::chmod(empty_token.c_str(), 0600), 0);
  const std::string open_key = dir.write("open-key.pem", read_file(tls.key));
  ASSERT_EQ(::chmod(open_key.c_str(), 0644), 0);
  const std::string not_a_cert = dir.write("not-a-cert.pem", "hello\n");
  struct Case {
    json config;
    std::string says;
  };
  for (const Case& c : {
           Case{{{"bearer_token_file", open_token}}, "has mode 0644"},
           Case{{{"bearer_token_file", empty_token}}, "must hold one token"},
           Case{{{"bearer_token_file", dir.path() + "/missing"}}, "cannot read"},
           Case{{{"tls", {{"cert_file", tls.cert}, {"key_file", open_key}}}}, "has mode 0644"},
           Case{{{"tls", {{"cert_file", not_a_cert}, {"key_file", tls.key}}}},
                "cannot load the certificate"},
           Case{{{"tls", {{"cert_file", tls.cert}}}}, "'tls' must be an object"},
       }) {
    json config = c.config;
    config["listen"] = "127.0.0.1:0";
    host::Config node_config = test_config();
    node_config.plugin_dir = plugin_dir();
    node_config.plugins = {metrics_plugin(config.dump())};
    host::Node node(node_config);
    Status s = node.start();
    ASSERT_FALSE(s.ok()) << config;
    EXPECT_EQ(node.failure(), host::StartFailure::kPlugin);
    EXPECT_NE(s.message().find(c.says), std::string::npos) << s.message();
  }
}

TEST_F(MetricsPluginTest, PortInUseFailsStart) {
  add_node();
  const std::string taken = http_of(0);
  host::Config config = test_config();
  config.plugin_dir = plugin_dir();
  config.plugins = {metrics_plugin(json{{"listen", taken}}.dump())};
  host::Node node(config);
  Status s = node.start();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cannot listen on " + taken), std::string::npos) << s.message();
}

}  // namespace
}  // namespace dendrite::test
