#include "host/config.h"

#include <algorithm>
#include <cassert>
#include <cctype>
#include <cstdint>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <set>
#include <sstream>
#include <string_view>

#include "dendrite/address.h"
#include "dendrite/config_reader.h"

namespace dendrite::host {
namespace {

using nlohmann::json;

// Limits of the integer fields. One table for the file and for validate(), so
// both report the same line.
constexpr IntRange kVnodes{1, 1024};
constexpr IntRange kNumSuccessors{1, 256};
constexpr IntRange kReplicas{0, 64};
constexpr IntRange kIntervalMs{1, 3'600'000};
constexpr IntRange kTimeoutMs{1, 600'000};
constexpr IntRange kForgetAfterS{1, 10 * 365 * 86'400};
constexpr IntRange kWorkers{1, 4096};
constexpr IntRange kFrameBytes{1024, std::int64_t{1} << 30};
constexpr IntRange kPending{1, 10'000'000};
constexpr IntRange kPendingBytes{1 << 16, std::int64_t{1} << 40};

constexpr std::string_view kLogLevels[] = {"trace", "debug", "info", "warn", "error", "off"};

Status config_error(const std::string& text) {
  return Status::InvalidArgument("config: " + text);
}

// "config: '<path>' <problem>".
Status field_error(const std::string& path, const std::string& problem) {
  return config_error("'" + path + "' " + problem);
}

Status range_error(const std::string& path, IntRange r) {
  return field_error(
      path, "must be an integer from " + std::to_string(r.min) + " to " + std::to_string(r.max));
}

Status check_range(const std::string& path, std::int64_t v, IntRange r) {
  if (v < r.min || v > r.max) return range_error(path, r);
  return Status::Ok();
}

// A reader of one object of the node's config: errors start "config: ".
class ObjectReader : public ConfigReader {
 public:
  // `prefix` is the path of the object ("" at top level, "workers." inside).
  ObjectReader(const json& obj, std::string prefix, std::initializer_list<std::string_view> valid)
      : ConfigReader(obj, "config: ", std::move(prefix), valid) {}
};

Status check_address(const std::string& field, const std::string& value, int min_port) {
  if (!parse_host_port(value, min_port).ok()) {
    return field_error(field, "must be a host:port string with a port from " +
                                  std::to_string(min_port) + " to 65535");
  }
  return Status::Ok();
}

// Reads a host:port member; with `null_clears`, null means "unset" (empty).
Status take_address(const ObjectReader& r, std::string_view key, int min_port, bool null_clears,
                    std::string& out) {
  const json* v = r.find(key);
  if (v == nullptr) return Status::Ok();
  if (null_clears && v->is_null()) {
    out.clear();
    return Status::Ok();
  }
  if (!v->is_string()) return check_address(r.path(key), "", min_port);
  if (Status s = check_address(r.path(key), v->get<std::string>(), min_port); !s.ok()) return s;
  out = v->get<std::string>();
  return Status::Ok();
}

Status take_join(const ObjectReader& r, std::vector<std::string>& out) {
  const json* v = r.find("join");
  if (v == nullptr) return Status::Ok();
  if (!v->is_array()) return field_error("join", "must be a list of host:port strings");
  std::vector<std::string> seeds;
  for (std::size_t i = 0; i < v->size(); ++i) {
    const std::string field = "join[" + std::to_string(i) + "]";
    const json& e = (*v)[i];
    if (Status s = check_address(field, e.is_string() ? e.get<std::string>() : "", 1); !s.ok()) {
      return s;
    }
    seeds.push_back(e.get<std::string>());
  }
  out = std::move(seeds);
  return Status::Ok();
}

Status take_stabilize(const ObjectReader& top, Config& c) {
  const json* obj;
  if (Status s = top.take_object("stabilize", obj); !s.ok() || obj == nullptr) return s;
  ObjectReader r(*obj, "stabilize.", {"min_ms", "max_ms"});
  if (Status s = r.keys(); !s.ok()) return s;
  if (Status s = r.take_ms("min_ms", kIntervalMs, c.stabilize_min); !s.ok()) return s;
  if (Status s = r.take_ms("max_ms", kIntervalMs, c.stabilize_max); !s.ok()) return s;
  return Status::Ok();
}

Status take_workers(const ObjectReader& top, Config& c) {
  const json* obj;
  if (Status s = top.take_object("workers", obj); !s.ok() || obj == nullptr) return s;
  ObjectReader r(*obj, "workers.", {"min", "max", "idle_ms"});
  if (Status s = r.keys(); !s.ok()) return s;
  if (Status s = r.take_int("min", kWorkers, c.workers.min); !s.ok()) return s;
  if (Status s = r.take_int("max", kWorkers, c.workers.max); !s.ok()) return s;
  if (Status s = r.take_ms("idle_ms", kIntervalMs, c.workers.idle); !s.ok()) return s;
  return Status::Ok();
}

Status take_membership(const ObjectReader& top, Config& c) {
  const json* obj;
  if (Status s = top.take_object("membership", obj); !s.ok() || obj == nullptr) return s;
  ObjectReader r(*obj, "membership.",
                 {"probe_min_ms", "probe_max_ms", "verify_ms", "forget_after_s"});
  if (Status s = r.keys(); !s.ok()) return s;
  MembershipConfig& m = c.membership;
  if (Status s = r.take_ms("probe_min_ms", kIntervalMs, m.probe_min); !s.ok()) return s;
  if (Status s = r.take_ms("probe_max_ms", kIntervalMs, m.probe_max); !s.ok()) return s;
  if (Status s = r.take_ms("verify_ms", kIntervalMs, m.verify); !s.ok()) return s;
  std::int64_t forget_s = std::chrono::duration_cast<std::chrono::seconds>(m.forget_after).count();
  if (Status s = r.take_int64("forget_after_s", kForgetAfterS, forget_s); !s.ok()) return s;
  m.forget_after = std::chrono::duration_cast<Milliseconds>(std::chrono::seconds(forget_s));
  return Status::Ok();
}

Status take_limits(const ObjectReader& top, Config& c) {
  const json* obj;
  if (Status s = top.take_object("limits", obj); !s.ok() || obj == nullptr) return s;
  ObjectReader r(*obj, "limits.", {"max_frame_bytes", "max_pending", "max_pending_bytes"});
  if (Status s = r.keys(); !s.ok()) return s;
  Config::Limits& l = c.limits;
  if (Status s = r.take_int64("max_frame_bytes", kFrameBytes, l.max_frame_bytes); !s.ok()) {
    return s;
  }
  if (Status s = r.take_int64("max_pending", kPending, l.max_pending); !s.ok()) return s;
  if (Status s = r.take_int64("max_pending_bytes", kPendingBytes, l.max_pending_bytes); !s.ok()) {
    return s;
  }
  return Status::Ok();
}

Status take_log(const ObjectReader& top, Config& c) {
  const json* obj;
  if (Status s = top.take_object("log", obj); !s.ok() || obj == nullptr) return s;
  ObjectReader r(*obj, "log.", {"level"});
  if (Status s = r.keys(); !s.ok()) return s;
  if (const json* v = r.find("level")) {
    auto level = v->is_string() ? parse_log_level(v->get<std::string>())
                                : Result<LogLevel>(Status::InvalidArgument(""));
    if (!level.ok()) {
      return field_error("log.level", "must be one of trace, debug, info, warn, error, off");
    }
    c.log_level = *level;
  }
  return Status::Ok();
}

Status take_plugin_dir(const ObjectReader& r, Config& c) {
  const json* v = r.find("plugin_dir");
  if (v == nullptr) return Status::Ok();
  if (v->is_null()) {
    c.plugin_dir.reset();
  } else if (v->is_string() && !v->get<std::string>().empty()) {
    c.plugin_dir = v->get<std::string>();
  } else {
    return field_error("plugin_dir", "must be a non-empty string or null");
  }
  return Status::Ok();
}

Result<PluginSpec> read_plugin(const json& e, const std::string& field) {
  if (!e.is_object()) return field_error(field, "must be an object");
  ObjectReader r(e, field + ".", {"name", "path", "config"});
  if (Status s = r.keys(); !s.ok()) return s;
  PluginSpec spec;
  const json* name = r.find("name");
  if (name == nullptr) return field_error(field + ".name", "is required");
  if (!name->is_string() || name->get<std::string>().empty()) {
    return field_error(field + ".name", "must be a non-empty string");
  }
  spec.name = name->get<std::string>();
  if (const json* path = r.find("path")) {
    if (!path->is_string() || path->get<std::string>().empty()) {
      return field_error(field + ".path", "must be a non-empty string");
    }
    spec.path = path->get<std::string>();
  }
  if (const json* cfg = r.find("config")) {
    if (!cfg->is_object()) return field_error(field + ".config", "must be an object");
    spec.config_json = cfg->dump();
  }
  return spec;
}

Status take_plugins(const ObjectReader& r, Config& c) {
  const json* v = r.find("plugins");
  if (v == nullptr) return Status::Ok();
  if (!v->is_array()) return field_error("plugins", "must be a list of objects");
  std::vector<PluginSpec> plugins;
  for (std::size_t i = 0; i < v->size(); ++i) {
    auto spec = read_plugin((*v)[i], "plugins[" + std::to_string(i) + "]");
    if (!spec.ok()) return spec.status();
    plugins.push_back(std::move(spec).value());
  }
  c.plugins = std::move(plugins);
  return Status::Ok();
}

Status take_string_list(const json& v, const std::string& field, std::vector<std::string>& out) {
  if (!v.is_array()) return field_error(field, "must be a list of strings");
  std::vector<std::string> items;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string() || v[i].get<std::string>().empty()) {
      return field_error(field + "[" + std::to_string(i) + "]", "must be a non-empty string");
    }
    items.push_back(v[i].get<std::string>());
  }
  out = std::move(items);
  return Status::Ok();
}

Status take_curve(const ObjectReader& top, SecurityConfig& sec) {
  const json* obj;
  if (Status s = top.take_object("curve", obj); !s.ok()) return s;
  if (obj == nullptr) return Status::Ok();
  ObjectReader r(*obj, "security.curve.",
                 {"secret_key_file", "public_key_file", "nodes", "clients"});
  if (Status s = r.keys(); !s.ok()) return s;
  CurveConfig curve;
  for (auto [key, out] : {std::pair{"secret_key_file", &curve.secret_key_file},
                          std::pair{"public_key_file", &curve.public_key_file}}) {
    const json* v = r.find(key);
    if (v == nullptr) return field_error(r.path(key), "is required");
    if (!v->is_string() || v->get<std::string>().empty()) {
      return field_error(r.path(key), "must be a non-empty string (a file's path)");
    }
    *out = v->get<std::string>();
  }
  const json* nodes = r.find("nodes");
  if (nodes == nullptr) return field_error(r.path("nodes"), "is required");
  if (Status s = take_string_list(*nodes, r.path("nodes"), curve.nodes); !s.ok()) return s;
  if (const json* clients = r.find("clients")) {
    if (Status s = take_string_list(*clients, r.path("clients"), curve.clients); !s.ok()) return s;
  }
  sec.curve = std::move(curve);
  return Status::Ok();
}

Status take_security(const ObjectReader& top, Config& c) {
  const json* obj;
  if (Status s = top.take_object("security", obj); !s.ok() || obj == nullptr) return s;
  ObjectReader r(*obj, "security.", {"curve", "insecure"});
  if (Status s = r.keys(); !s.ok()) return s;
  SecurityConfig sec;
  if (Status s = take_curve(r, sec); !s.ok()) return s;
  if (const json* v = r.find("insecure")) {
    if (!v->is_boolean()) return field_error("security.insecure", "must be true or false");
    sec.insecure = v->get<bool>();
  }
  if (sec.curve && sec.insecure) {
    return config_error(
        "'security.insecure' says the ring is open, and 'security.curve' secures it: give one");
  }
  c.security = std::move(sec);
  return Status::Ok();
}

}  // namespace

Config default_config() {
  // The embedded default (docs/contract.md "Config file", docs/config.md).
  Config c;
  c.plugins.push_back(PluginSpec{"dtable", std::nullopt, "{}"});
  c.plugins.push_back(PluginSpec{"metrics", std::nullopt, R"({"listen":"127.0.0.1:9464"})"});
  c.plugins.push_back(PluginSpec{"resp", std::nullopt, R"({"listen":"127.0.0.1:6380"})"});
  return c;
}

Result<Config> apply_json(Config c, const nlohmann::json& doc) {
  if (!doc.is_object()) return config_error("the document must be a JSON object");
  ObjectReader r(doc, "",
                 {"listen", "advertise", "join", "vnodes", "num_successors", "replicas",
                  "stabilize", "timeout_ms", "workers", "limits", "membership", "log", "plugin_dir",
                  "plugins", "security"});
  if (Status s = r.keys(); !s.ok()) return s;
  if (Status s = take_address(r, "listen", 0, false, c.listen); !s.ok()) return s;
  if (Status s = take_address(r, "advertise", 1, true, c.advertise); !s.ok()) return s;
  if (Status s = take_join(r, c.join); !s.ok()) return s;
  if (Status s = r.take_int("vnodes", kVnodes, c.vnodes); !s.ok()) return s;
  if (Status s = r.take_int("num_successors", kNumSuccessors, c.num_successors); !s.ok()) return s;
  if (Status s = r.take_int("replicas", kReplicas, c.replicas); !s.ok()) return s;
  if (Status s = take_stabilize(r, c); !s.ok()) return s;
  if (Status s = r.take_ms("timeout_ms", kTimeoutMs, c.timeout); !s.ok()) return s;
  if (Status s = take_workers(r, c); !s.ok()) return s;
  if (Status s = take_limits(r, c); !s.ok()) return s;
  if (Status s = take_membership(r, c); !s.ok()) return s;
  if (Status s = take_log(r, c); !s.ok()) return s;
  if (Status s = take_plugin_dir(r, c); !s.ok()) return s;
  if (Status s = take_plugins(r, c); !s.ok()) return s;
  if (Status s = take_security(r, c); !s.ok()) return s;
  return c;
}

Result<Config> parse_config(Config base, std::string_view text, const std::string& source) {
  json doc;
  try {
    doc = json::parse(text, /*cb=*/nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const json::exception& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line L, column C: ...".
    std::string what = e.what();
    if (auto pos = what.find("] "); what.rfind("[json.exception", 0) == 0 && pos != what.npos) {
      what = what.substr(pos + 2);
    }
    return config_error("'" + source + "' is not valid JSON: " + what);
  }
  return apply_json(std::move(base), doc);
}

Result<Config> load_config_file(Config base, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return config_error("cannot read '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return config_error("cannot read '" + path + "'");
  return parse_config(std::move(base), text.str(), path);
}

Status validate(const Config& c) {
  if (Status s = check_address("listen", c.listen, 0); !s.ok()) return s;
  if (!c.advertise.empty()) {
    if (Status s = check_address("advertise", c.advertise, 1); !s.ok()) return s;
  }
  for (std::size_t i = 0; i < c.join.size(); ++i) {
    if (Status s = check_address("join[" + std::to_string(i) + "]", c.join[i], 1); !s.ok()) {
      return s;
    }
  }
  if (Status s = check_range("vnodes", c.vnodes, kVnodes); !s.ok()) return s;
  if (Status s = check_range("num_successors", c.num_successors, kNumSuccessors); !s.ok()) {
    return s;
  }
  if (Status s = check_range("replicas", c.replicas, kReplicas); !s.ok()) return s;
  if (Status s = check_range("stabilize.min_ms", c.stabilize_min.count(), kIntervalMs); !s.ok()) {
    return s;
  }
  if (Status s = check_range("stabilize.max_ms", c.stabilize_max.count(), kIntervalMs); !s.ok()) {
    return s;
  }
  if (c.stabilize_min > c.stabilize_max) {
    return config_error("'stabilize.min_ms' (" + std::to_string(c.stabilize_min.count()) +
                        ") must not exceed 'stabilize.max_ms' (" +
                        std::to_string(c.stabilize_max.count()) + ")");
  }
  if (Status s = check_range("timeout_ms", c.timeout.count(), kTimeoutMs); !s.ok()) return s;
  if (Status s = check_range("workers.min", c.workers.min, kWorkers); !s.ok()) return s;
  if (Status s = check_range("workers.max", c.workers.max, kWorkers); !s.ok()) return s;
  if (Status s = check_range("workers.idle_ms", c.workers.idle.count(), kIntervalMs); !s.ok()) {
    return s;
  }
  if (c.workers.min > c.workers.max) {
    return config_error("'workers.min' (" + std::to_string(c.workers.min) +
                        ") must not exceed 'workers.max' (" + std::to_string(c.workers.max) + ")");
  }
  const Config::Limits& l = c.limits;
  if (Status s = check_range("limits.max_frame_bytes", l.max_frame_bytes, kFrameBytes); !s.ok()) {
    return s;
  }
  if (Status s = check_range("limits.max_pending", l.max_pending, kPending); !s.ok()) return s;
  if (Status s = check_range("limits.max_pending_bytes", l.max_pending_bytes, kPendingBytes);
      !s.ok()) {
    return s;
  }
  const MembershipConfig& m = c.membership;
  if (Status s = check_range("membership.probe_min_ms", m.probe_min.count(), kIntervalMs);
      !s.ok()) {
    return s;
  }
  if (Status s = check_range("membership.probe_max_ms", m.probe_max.count(), kIntervalMs);
      !s.ok()) {
    return s;
  }
  if (Status s = check_range("membership.verify_ms", m.verify.count(), kIntervalMs); !s.ok()) {
    return s;
  }
  if (m.probe_min > m.probe_max) {
    return config_error("'membership.probe_min_ms' (" + std::to_string(m.probe_min.count()) +
                        ") must not exceed 'membership.probe_max_ms' (" +
                        std::to_string(m.probe_max.count()) + ")");
  }
  if (Status s = check_range(
          "membership.forget_after_s",
          std::chrono::duration_cast<std::chrono::seconds>(m.forget_after).count(), kForgetAfterS);
      !s.ok()) {
    return s;
  }
  if (c.plugin_dir && c.plugin_dir->empty()) {
    return field_error("plugin_dir", "must be a non-empty string or null");
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < c.plugins.size(); ++i) {
    const std::string field = "plugins[" + std::to_string(i) + "]";
    const PluginSpec& p = c.plugins[i];
    if (p.name.empty()) return field_error(field + ".name", "must be a non-empty string");
    if (!names.insert(p.name).second) {
      return config_error("'" + field + ".name': plugin '" + p.name + "' is listed twice");
    }
    if (p.path && p.path->empty()) {
      return field_error(field + ".path", "must be a non-empty string");
    }
    auto cfg = json::parse(p.config_json, nullptr, /*allow_exceptions=*/false);
    if (!cfg.is_object()) return field_error(field + ".config", "must be an object");
  }
  return Status::Ok();
}

nlohmann::json to_json(const Config& c) {
  json security = {{"insecure", c.security.insecure}};
  if (c.security.curve) {
    const CurveConfig& k = *c.security.curve;
    security["curve"] = {{"secret_key_file", k.secret_key_file},
                         {"public_key_file", k.public_key_file},
                         {"nodes", k.nodes},
                         {"clients", k.clients}};
  }
  json plugins = json::array();
  for (const PluginSpec& p : c.plugins) {
    json e = {{"name", p.name}};
    if (p.path) e["path"] = *p.path;
    auto cfg = json::parse(p.config_json, nullptr, /*allow_exceptions=*/false);
    if (!cfg.is_discarded() && !(cfg.is_object() && cfg.empty())) e["config"] = cfg;
    plugins.push_back(std::move(e));
  }
  return json{
      {"listen", c.listen},
      {"advertise", c.advertised()},
      {"join", c.join},
      {"vnodes", c.vnodes},
      {"num_successors", c.num_successors},
      {"replicas", c.replicas},
      {"stabilize", {{"min_ms", c.stabilize_min.count()}, {"max_ms", c.stabilize_max.count()}}},
      {"timeout_ms", c.timeout.count()},
      {"workers",
       {{"min", c.workers.min}, {"max", c.workers.max}, {"idle_ms", c.workers.idle.count()}}},
      {"limits",
       {{"max_frame_bytes", c.limits.max_frame_bytes},
        {"max_pending", c.limits.max_pending},
        {"max_pending_bytes", c.limits.max_pending_bytes}}},
      {"membership",
       {{"probe_min_ms", c.membership.probe_min.count()},
        {"probe_max_ms", c.membership.probe_max.count()},
        {"verify_ms", c.membership.verify.count()},
        {"forget_after_s",
         std::chrono::duration_cast<std::chrono::seconds>(c.membership.forget_after).count()}}},
      {"log", {{"level", log_level_name(c.log_level)}}},
      {"plugin_dir", c.plugin_dir ? json(*c.plugin_dir) : json(nullptr)},
      {"plugins", std::move(plugins)},
      {"security", std::move(security)},
  };
}

Result<LogLevel> parse_log_level(const std::string& name) {
  for (std::size_t i = 0; i < std::size(kLogLevels); ++i) {
    if (name == kLogLevels[i]) return static_cast<LogLevel>(i);
  }
  return Status::InvalidArgument("unknown log level '" + name +
                                 "' (expected trace, debug, info, warn, error or off)");
}

std::string log_level_name(LogLevel level) {
  const auto i = static_cast<std::size_t>(level);
  return i < std::size(kLogLevels) ? std::string(kLogLevels[i]) : "info";
}

}  // namespace dendrite::host
