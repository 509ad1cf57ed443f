// The resp plugin's config (docs/resp.md "Config"):
//   {"listen": "127.0.0.1:6380", "consistency": 1, "workers": 16,
//    "max_clients": 10000, "max_bulk_bytes": 536870912,
//    "max_query_buffer_bytes": 1073741824, "output_buffer_bytes": 33554432,
//    "allow_flushall": false, "protected_mode": true,
//    "users": [{"name": "app", "password_file": "/etc/dendrite/app.pass"}],
//    "tls": {"cert_file": "...", "key_file": "...", "ca_file": "...",
//            "client_certs": "required"}}
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dendrite/status.h"

namespace dendrite::resp {

// A user AUTH accepts.
struct User {
  std::string name;
  std::string password;
};

// Whether a TLS client must present a certificate signed by the CA file.
enum class ClientCerts { kNone, kOptional, kRequired };

// The front end speaks TLS only (docs/resp.md "TLS").
struct TlsSettings {
  std::string cert_file;  // PEM chain, the server's certificate first
  std::string key_file;   // PEM private key, no passphrase; others may not read it
  std::string ca_file;    // PEM CAs that sign client certificates; "" = none
  ClientCerts client_certs = ClientCerts::kNone;  // kRequired by default with a ca_file
};

struct Settings {
  std::string host = "127.0.0.1";  // listen address (IP)
  int port = 6380;                 // 0 = ephemeral
  int consistency = 1;             // a new connection's consistency level
  int workers = 16;                // threads running commands on keys
  std::size_t max_clients = 10000;
  std::size_t max_bulk_bytes = 512u << 20;  // one argument (Redis: proto-max-bulk-len)
  // Unparsed bytes kept for one connection (Redis: client-query-buffer-limit);
  // beyond it the connection is closed.
  std::size_t max_query_buffer_bytes = std::size_t{1} << 30;
  // Replies waiting for a client to read them: above this the connection's
  // input is not read until they drain (the client gets no new work done).
  std::size_t output_buffer_bytes = 32u << 20;
  bool allow_flushall = false;
  // Users AUTH (and HELLO AUTH) accept; when there are any, a connection must
  // authenticate before any command but AUTH, HELLO, QUIT and RESET.
  std::vector<User> users;
  // Without users, refuse clients from other hosts when listening on a
  // non-loopback address (as Redis's protected mode).
  bool protected_mode = true;
  // TLS on the listener; nullopt = plaintext.
  std::optional<TlsSettings> tls;
};

// True when a client from `peer_ip` must be refused: protected mode is on,
// there are no users and no required client certificates, the front end
// listens on a non-loopback address and the peer is not on loopback. Pure.
bool refused_by_protected_mode(const Settings& settings, std::string_view peer_ip);

// The user named `name` whose password is `password` (compared in time
// independent of where they differ), or nullptr. Pure.
const User* find_user(const Settings& settings, std::string_view name, std::string_view password);

// Parses the plugin's config object (an absent key keeps its default) and
// reads the users' password files (which others must not be able to read).
// Errors are InvalidArgument, one line naming the key: "resp config:
// 'workers' must be an integer from 1 to 1024".
Result<Settings> parse_settings(const std::string& config_json);

}  // namespace dendrite::resp
