// The metrics plugin's config (docs/config.md, "metrics"):
//   {"listen": "127.0.0.1:9464", "threads": 2, "timeout_ms": 5000}
#pragma once

#include <string>

#include "dendrite/host.h"
#include "dendrite/status.h"

namespace dendrite::metrics {

struct Settings {
  std::string host = "127.0.0.1";  // listen address (IP or name)
  int port = 9464;                 // 0 = ephemeral
  int threads = 2;                 // HTTP worker threads
  Milliseconds timeout{5000};      // read and write timeout of one HTTP exchange
};

// Parses the plugin's config object. Errors are InvalidArgument with one line
// naming the key: "config key 'listen' must be ...", "unknown config key 'x'
// (valid keys: listen, threads, timeout_ms)".
Result<Settings> parse_settings(const std::string& config_json);

}  // namespace dendrite::metrics
