// The node's configuration: defaults, the JSON file, and command-line overrides
// (docs/config.md). Errors name the field and the problem in one line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "dendrite/host.h"
#include "dendrite/logger.h"
#include "dendrite/status.h"
#include "host/access_policy.h"
#include "host/membership.h"
#include "host/plugin_loader.h"
#include "host/zmq_transport.h"

namespace dendrite::host {

struct Config {
  std::string listen = "127.0.0.1:5000";
  std::string advertise;  // empty = same as listen
  std::vector<std::string> join;
  int vnodes = 3;
  int num_successors = 8;
  int replicas = 2;
  Milliseconds stabilize_min{1000};
  Milliseconds stabilize_max{3000};
  Milliseconds timeout{5000};
  WorkerPoolConfig workers;
  // Limits on what a peer can make this node hold (see TransportConfig).
  struct Limits {
    std::int64_t max_frame_bytes = 64 << 20;
    std::int64_t max_pending = 10000;
    std::int64_t max_pending_bytes = 256 << 20;
  } limits;
  // Remembered hosts: how lost ones are probed and when they are forgotten
  // (docs/config.md "membership").
  MembershipConfig membership;
  LogLevel log_level = LogLevel::kInfo;
  std::optional<std::string> plugin_dir;  // null = ../lib/dendrite/plugins beside the executable
  std::vector<PluginSpec> plugins;
  SecurityConfig security;  // docs/security.md

  // The advertised address (advertise, or listen when empty).
  std::string advertised() const { return advertise.empty() ? listen : advertise; }
};

// The embedded default: one node on 127.0.0.1:5000 creating a ring, with the
// dtable plugin and the metrics plugin on 127.0.0.1:9464.
Config default_config();

// Applies a JSON document over `base`. Unknown keys fail with
// "config: unknown key '<path>' (did you mean '<nearest>'?)"; wrong types or
// values fail with "config: '<path>' <problem>".
Result<Config> apply_json(Config base, const nlohmann::json& doc);

// Parses JSON text (comments allowed) and applies it over `base`. Errors as
// apply_json(), or "config: '<source>' is not valid JSON: <where and why>".
Result<Config> parse_config(Config base, std::string_view text, const std::string& source);

// Reads and applies the JSON file at `path` over `base` (parse_config).
Result<Config> load_config_file(Config base, const std::string& path);

// Checks cross-field rules (ranges, min <= max, "ip:port" forms).
Status validate(const Config& config);

// The config as JSON (--print-config and `status`), in the file's format.
nlohmann::json to_json(const Config& config);

// Parses "debug", "info", ... Errors: InvalidArgument.
Result<LogLevel> parse_log_level(const std::string& name);
std::string log_level_name(LogLevel level);

}  // namespace dendrite::host
