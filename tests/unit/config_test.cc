// Config: defaults, JSON overrides, every error line, to_json round trip.

#include "host/config.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include <gtest/gtest.h>

namespace dendrite::host {
namespace {

using nlohmann::json;

// The error line apply_json gives for `text` over the defaults ("" when it succeeds).
std::string error_for(const std::string& text) {
  auto r = apply_json(default_config(), json::parse(text));
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  return r.status().message();
}

TEST(ConfigTest, DefaultsMatchDesign) {
  const Config c = default_config();
  EXPECT_EQ(c.listen, "127.0.0.1:5000");
  EXPECT_EQ(c.advertised(), "127.0.0.1:5000");
  EXPECT_TRUE(c.join.empty());
  EXPECT_EQ(c.vnodes, 3);
  EXPECT_EQ(c.num_successors, 8);
  EXPECT_EQ(c.replicas, 2);
  EXPECT_EQ(c.stabilize_min, Milliseconds(1000));
  EXPECT_EQ(c.stabilize_max, Milliseconds(3000));
  EXPECT_EQ(c.timeout, Milliseconds(5000));
  EXPECT_EQ(c.workers.min, 10);
  EXPECT_EQ(c.workers.max, 1024);
  EXPECT_EQ(c.workers.idle, Milliseconds(10000));
  EXPECT_EQ(c.limits.max_frame_bytes, 64 << 20);
  EXPECT_EQ(c.limits.max_pending, 10000);
  EXPECT_EQ(c.limits.max_pending_bytes, 256 << 20);
  EXPECT_EQ(c.log_level, LogLevel::kInfo);
  EXPECT_FALSE(c.plugin_dir.has_value());
  // The embedded default loads dtable, metrics (on 127.0.0.1:9464) and resp
  // (on 127.0.0.1:6380) from the default plugin directory.
  ASSERT_EQ(c.plugins.size(), 3u);
  EXPECT_EQ(c.plugins[0].name, "dtable");
  EXPECT_FALSE(c.plugins[0].path.has_value());
  EXPECT_EQ(c.plugins[1].name, "metrics");
  EXPECT_FALSE(c.plugins[1].path.has_value());
  EXPECT_EQ(json::parse(c.plugins[1].config_json), json::parse(R"({"listen": "127.0.0.1:9464"})"));
  EXPECT_EQ(c.plugins[2].name, "resp");
  EXPECT_EQ(json::parse(c.plugins[2].config_json), json::parse(R"({"listen": "127.0.0.1:6380"})"));
  EXPECT_TRUE(validate(c).ok());
}

TEST(ConfigTest, JsonOverridesEveryField) {
  auto r = apply_json(default_config(), json::parse(R"({
    "listen": "0.0.0.0:6000", "advertise": "10.0.0.1:6000",
    "join": ["10.0.0.2:5000", "10.0.0.3:5000"],
    "vnodes": 5, "num_successors": 12, "replicas": 0,
    "stabilize": {"min_ms": 50, "max_ms": 150}, "timeout_ms": 700,
    "workers": {"min": 2, "max": 8, "idle_ms": 500},
    "log": {"level": "debug"},
    "plugin_dir": "/opt/plugins",
    "plugins": [{"name": "a"}, {"name": "b", "path": "/x/libb.so", "config": {"k": [1, 2]}}]
  })"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const Config& c = *r;
  EXPECT_EQ(c.listen, "0.0.0.0:6000");
  EXPECT_EQ(c.advertised(), "10.0.0.1:6000");
  EXPECT_EQ(c.join, (std::vector<std::string>{"10.0.0.2:5000", "10.0.0.3:5000"}));
  EXPECT_EQ(c.vnodes, 5);
  EXPECT_EQ(c.num_successors, 12);
  EXPECT_EQ(c.replicas, 0);
  EXPECT_EQ(c.stabilize_min, Milliseconds(50));
  EXPECT_EQ(c.stabilize_max, Milliseconds(150));
  EXPECT_EQ(c.timeout, Milliseconds(700));
  EXPECT_EQ(c.workers.min, 2);
  EXPECT_EQ(c.workers.max, 8);
  EXPECT_EQ(c.workers.idle, Milliseconds(500));
  EXPECT_EQ(c.log_level, LogLevel::kDebug);
  EXPECT_EQ(c.plugin_dir, "/opt/plugins");
  ASSERT_EQ(c.plugins.size(), 2u);
  EXPECT_EQ(c.plugins[0].name, "a");
  EXPECT_FALSE(c.plugins[0].path.has_value());
  EXPECT_EQ(c.plugins[0].config_json, "{}");
  EXPECT_EQ(c.plugins[1].path, "/x/libb.so");
  EXPECT_EQ(json::parse(c.plugins[1].config_json), json::parse(R"({"k": [1, 2]})"));
  EXPECT_TRUE(validate(c).ok());
}

TEST(ConfigTest, PartialDocumentKeepsTheRest) {
  Config base = default_config();
  base.vnodes = 7;
  auto r = apply_json(base, json::parse(R"({"workers": {"max": 20}, "advertise": null})"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->vnodes, 7);
  EXPECT_EQ(r->workers.min, 10);
  EXPECT_EQ(r->workers.max, 20);
  EXPECT_EQ(r->advertise, "");
}

TEST(ConfigTest, UnknownKeysNameTheNearestValidKey) {
  EXPECT_EQ(error_for(R"({"stabilise": {}})"),
            "config: unknown key 'stabilise' (did you mean 'stabilize'?)");
  EXPECT_EQ(error_for(R"({"vnode": 3})"), "config: unknown key 'vnode' (did you mean 'vnodes'?)");
  EXPECT_EQ(error_for(R"({"workers": {"mx": 3}})"),
            "config: unknown key 'workers.mx' (did you mean 'workers.max'?)");
  EXPECT_EQ(error_for(R"({"stabilize": {"min": 3}})"),
            "config: unknown key 'stabilize.min' (did you mean 'stabilize.min_ms'?)");
  EXPECT_EQ(error_for(R"({"membership": {"probe_max": 3}})"),
            "config: unknown key 'membership.probe_max' (did you mean "
            "'membership.probe_max_ms'?)");
  EXPECT_EQ(error_for(R"({"log": {"lvl": "info"}})"),
            "config: unknown key 'log.lvl' (did you mean 'log.level'?)");
  EXPECT_EQ(error_for(R"({"plugins": [{"name": "a"}, {"nmae": "b"}]})"),
            "config: unknown key 'plugins[1].nmae' (did you mean 'plugins[1].name'?)");
  // A plugin's own config is the plugin's business.
  EXPECT_EQ(error_for(R"({"plugins": [{"name": "a", "config": {"anything": 1}}]})"), "");
}

TEST(ConfigTest, TheSecuritySectionTakesCurveFilesOrInsecure) {
  auto r = apply_json(default_config(), json::parse(R"({"security": {"curve": {
      "secret_key_file": "/k/secret.key", "public_key_file": "/k/public.key",
      "nodes": ["/k/nodes.txt"], "clients": ["/k/clients.txt", "/k/more.txt"]}}})"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_TRUE(r->security.curve.has_value());
  EXPECT_EQ(r->security.curve->secret_key_file, "/k/secret.key");
  EXPECT_EQ(r->security.curve->public_key_file, "/k/public.key");
  EXPECT_EQ(r->security.curve->nodes, std::vector<std::string>{"/k/nodes.txt"});
  EXPECT_EQ(r->security.curve->clients.size(), 2u);
  EXPECT_FALSE(r->security.insecure);
  EXPECT_EQ(to_json(*r)["security"]["curve"]["nodes"][0], "/k/nodes.txt");
  EXPECT_FALSE(default_config().security.curve.has_value());

  auto open = apply_json(default_config(), json::parse(R"({"security": {"insecure": true}})"));
  ASSERT_TRUE(open.ok());
  EXPECT_TRUE(open->security.insecure);

  EXPECT_EQ(error_for(R"({"security": {"curv": {}}})"),
            "config: unknown key 'security.curv' (did you mean 'security.curve'?)");
  EXPECT_EQ(error_for(R"({"security": {"curve": {"secret_key_file": "s", "public_key_file": "p",
                          "nodes": ["n"], "client": []}}})"),
            "config: unknown key 'security.curve.client' (did you mean 'security.curve.clients'?)");
  EXPECT_EQ(error_for(R"({"security": {"curve": {"public_key_file": "p", "nodes": ["n"]}}})"),
            "config: 'security.curve.secret_key_file' is required");
  EXPECT_EQ(
      error_for(R"({"security": {"curve": {"secret_key_file": "s", "public_key_file": "p"}}})"),
      "config: 'security.curve.nodes' is required");
  EXPECT_EQ(error_for(R"({"security": {"curve": {"secret_key_file": "s", "public_key_file": "p",
                          "nodes": "n"}}})"),
            "config: 'security.curve.nodes' must be a list of strings");
  EXPECT_EQ(error_for(R"({"security": {"insecure": "yes"}})"),
            "config: 'security.insecure' must be true or false");
  EXPECT_NE(error_for(R"({"security": {"insecure": true, "curve": {"secret_key_file": "s",
                          "public_key_file": "p", "nodes": ["n"]}}})")
                .find("give one"),
            std::string::npos);
}

TEST(ConfigTest, MembershipSettings) {
  auto r = apply_json(default_config(), json::parse(R"({"membership": {"forget_after_s": 60}})"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->membership.forget_after, std::chrono::seconds(60));
  EXPECT_EQ(r->membership.probe_max, Milliseconds(8000));
  EXPECT_EQ(error_for(R"({"membership": {"forget_after_s": 0}})"),
            "config: 'membership.forget_after_s' must be an integer from 1 to 315360000");
  Config c = default_config();
  c.membership.probe_min = Milliseconds(9000);
  EXPECT_EQ(validate(c).message(),
            "config: 'membership.probe_min_ms' (9000) must not exceed 'membership.probe_max_ms' "
            "(8000)");
}

TEST(ConfigTest, TypeAndRangeErrorsNameTheField) {
  EXPECT_EQ(error_for(R"({"vnodes": 0})"), "config: 'vnodes' must be an integer from 1 to 1024");
  EXPECT_EQ(error_for(R"({"vnodes": "3"})"), "config: 'vnodes' must be an integer from 1 to 1024");
  EXPECT_EQ(error_for(R"({"vnodes": 2.5})"), "config: 'vnodes' must be an integer from 1 to 1024");
  EXPECT_EQ(error_for(R"({"vnodes": 18446744073709551615})"),
            "config: 'vnodes' must be an integer from 1 to 1024");
  EXPECT_EQ(error_for(R"({"num_successors": 0})"),
            "config: 'num_successors' must be an integer from 1 to 256");
  EXPECT_EQ(error_for(R"({"replicas": -1})"), "config: 'replicas' must be an integer from 0 to 64");
  EXPECT_EQ(error_for(R"({"timeout_ms": 0})"),
            "config: 'timeout_ms' must be an integer from 1 to 600000");
  EXPECT_EQ(error_for(R"({"stabilize": {"max_ms": true}})"),
            "config: 'stabilize.max_ms' must be an integer from 1 to 3600000");
  EXPECT_EQ(error_for(R"({"workers": {"min": 0}})"),
            "config: 'workers.min' must be an integer from 1 to 4096");
  EXPECT_EQ(error_for(R"({"workers": 3})"), "config: 'workers' must be an object");
  EXPECT_EQ(error_for(R"({"listen": "localhost"})"),
            "config: 'listen' must be a host:port string with a port from 0 to 65535");
  EXPECT_EQ(error_for(R"({"listen": 5000})"),
            "config: 'listen' must be a host:port string with a port from 0 to 65535");
  EXPECT_EQ(error_for(R"({"advertise": "1.2.3.4:0"})"),
            "config: 'advertise' must be a host:port string with a port from 1 to 65535");
  EXPECT_EQ(error_for(R"({"join": "1.2.3.4:5"})"),
            "config: 'join' must be a list of host:port strings");
  EXPECT_EQ(error_for(R"({"join": ["1.2.3.4:5", "x:99999"]})"),
            "config: 'join[1]' must be a host:port string with a port from 1 to 65535");
  EXPECT_EQ(error_for(R"({"log": {"level": "loud"}})"),
            "config: 'log.level' must be one of trace, debug, info, warn, error, off");
  EXPECT_EQ(error_for(R"({"plugin_dir": 3})"),
            "config: 'plugin_dir' must be a non-empty string or null");
  EXPECT_EQ(error_for(R"({"plugins": {}})"), "config: 'plugins' must be a list of objects");
  EXPECT_EQ(error_for(R"({"plugins": ["dtable"]})"), "config: 'plugins[0]' must be an object");
  EXPECT_EQ(error_for(R"({"plugins": [{"path": "/x.so"}]})"),
            "config: 'plugins[0].name' is required");
  EXPECT_EQ(error_for(R"({"plugins": [{"name": ""}]})"),
            "config: 'plugins[0].name' must be a non-empty string");
  EXPECT_EQ(error_for(R"({"plugins": [{"name": "a", "config": "x"}]})"),
            "config: 'plugins[0].config' must be an object");
  EXPECT_EQ(error_for("[]"), "config: the document must be a JSON object");
}

TEST(ConfigTest, ValidateChecksCrossFieldRules) {
  Config c = default_config();
  c.stabilize_min = Milliseconds(5000);
  EXPECT_EQ(validate(c).message(),
            "config: 'stabilize.min_ms' (5000) must not exceed 'stabilize.max_ms' (3000)");
  c = default_config();
  c.workers.min = 20;
  c.workers.max = 10;
  EXPECT_EQ(validate(c).message(), "config: 'workers.min' (20) must not exceed 'workers.max' (10)");
  c = default_config();
  c.vnodes = 0;
  EXPECT_EQ(validate(c).message(), "config: 'vnodes' must be an integer from 1 to 1024");
  c = default_config();
  c.num_successors = 0;
  EXPECT_EQ(validate(c).message(), "config: 'num_successors' must be an integer from 1 to 256");
  c = default_config();
  c.replicas = -1;
  EXPECT_EQ(validate(c).message(), "config: 'replicas' must be an integer from 0 to 64");
  c = default_config();
  c.listen = "nope";
  EXPECT_EQ(validate(c).message(),
            "config: 'listen' must be a host:port string with a port from 0 to 65535");
  c = default_config();
  c.join = {"1.2.3.4:0"};
  EXPECT_EQ(validate(c).message(),
            "config: 'join[0]' must be a host:port string with a port from 1 to 65535");
  c = default_config();
  c.plugins = {PluginSpec{"a", {}, "{}"}, PluginSpec{"a", {}, "{}"}};
  EXPECT_EQ(validate(c).message(), "config: 'plugins[1].name': plugin 'a' is listed twice");
}

TEST(ConfigTest, Limits) {
  auto r = apply_json(default_config(), json::parse(R"({"limits": {"max_pending": 64}})"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->limits.max_pending, 64);
  EXPECT_EQ(r->limits.max_frame_bytes, 64 << 20);  // the rest keeps its default
  EXPECT_EQ(error_for(R"({"limits": {"max_pending": 0}})"),
            "config: 'limits.max_pending' must be an integer from 1 to 10000000");
  EXPECT_EQ(error_for(R"({"limits": {"max_frame_bytes": 10}})"),
            "config: 'limits.max_frame_bytes' must be an integer from 1024 to 1073741824");
  EXPECT_EQ(error_for(R"({"limits": {"max_pendng": 5}})"),
            "config: unknown key 'limits.max_pendng' (did you mean 'limits.max_pending'?)");
}

TEST(ConfigTest, ToJsonIsTheFileFormatAndRoundTrips) {
  const json d = to_json(default_config());
  EXPECT_EQ(d, json::parse(R"({
    "listen": "127.0.0.1:5000", "advertise": "127.0.0.1:5000", "join": [],
    "vnodes": 3, "num_successors": 8, "replicas": 2,
    "stabilize": {"min_ms": 1000, "max_ms": 3000}, "timeout_ms": 5000,
    "workers": {"min": 10, "max": 1024, "idle_ms": 10000},
    "limits": {"max_frame_bytes": 67108864, "max_pending": 10000, "max_pending_bytes": 268435456},
    "membership": {"probe_min_ms": 1000, "probe_max_ms": 8000, "verify_ms": 30000,
                   "forget_after_s": 86400},
    "log": {"level": "info"}, "plugin_dir": null,
    "plugins": [{"name": "dtable"}, {"name": "metrics", "config": {"listen": "127.0.0.1:9464"}},
                {"name": "resp", "config": {"listen": "127.0.0.1:6380"}}],
    "security": {"insecure": false}
  })"));

  const json custom = json::parse(R"({
    "listen": "0.0.0.0:6000", "advertise": "10.0.0.1:6000", "join": ["10.0.0.2:5000"],
    "vnodes": 5, "num_successors": 12, "replicas": 1,
    "stabilize": {"min_ms": 50, "max_ms": 150}, "timeout_ms": 700,
    "workers": {"min": 2, "max": 8, "idle_ms": 500},
    "limits": {"max_frame_bytes": 1048576, "max_pending": 50, "max_pending_bytes": 8388608},
    "membership": {"probe_min_ms": 200, "probe_max_ms": 4000, "verify_ms": 10000,
                   "forget_after_s": 3600},
    "log": {"level": "warn"}, "plugin_dir": "/opt/p",
    "plugins": [{"name": "a"}, {"name": "b", "path": "/x/libb.so", "config": {"k": "v"}}],
    "security": {"insecure": false, "curve": {"secret_key_file": "/k/s", "public_key_file": "/k/p",
                 "nodes": ["/k/nodes.txt"], "clients": []}}
  })");
  auto c = apply_json(default_config(), custom);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(to_json(*c), custom);
  auto again = apply_json(default_config(), to_json(*c));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(to_json(*again), custom);
}

TEST(ConfigTest, LoadConfigFile) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("dendrite_config_test_" + std::to_string(::getpid()) + ".json");
  {
    std::ofstream out(path);
    out << "// comments are allowed\n{\"vnodes\": 4}\n";
  }
  auto c = load_config_file(default_config(), path.string());
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->vnodes, 4);
  {
    std::ofstream out(path);
    out << "{\"vnodes\": }";
  }
  auto bad = load_config_file(default_config(), path.string());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().rfind("config: '" + path.string() + "' is not valid JSON: ", 0),
            0u)
      << bad.status().message();
  EXPECT_EQ(bad.status().message().find('\n'), std::string::npos);
  std::filesystem::remove(path);
  auto missing = load_config_file(default_config(), path.string());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "config: cannot read '" + path.string() + "'");
}

TEST(ConfigTest, LogLevels) {
  for (auto level : {LogLevel::kTrace, LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn,
                     LogLevel::kError, LogLevel::kOff}) {
    auto parsed = parse_log_level(log_level_name(level));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, level);
  }
  EXPECT_EQ(parse_log_level("verbose").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dendrite::host
