// The metrics plugin's config (docs/config.md, "metrics"):
//   {"listen": "127.0.0.1:9464", "threads": 2, "timeout_ms": 5000,
//    "bearer_token_file": "/etc/dendrite/metrics.token",
//    "tls": {"cert_file": "/etc/dendrite/metrics.crt", "key_file": "/etc/dendrite/metrics.key"}}
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
  // A file holding the token every request must bring as "Authorization:
  // Bearer <token>"; "" = none asked.
  std::string bearer_token_file;
  // HTTPS with this certificate (chain, PEM) and private key; "" = HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;
};

// Parses the plugin's config object. Errors are InvalidArgument with one line
// naming the key: "config key 'listen' must be ...", "unknown config key 'x'
// (valid keys: listen, threads, timeout_ms, bearer_token_file, tls)". Only
// the shape is checked here; the files are read by the plugin.
Result<Settings> parse_settings(const std::string& config_json);

}  // namespace dendrite::metrics
