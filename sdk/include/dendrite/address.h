// Node addresses: "host:port", as in the config's listen/advertise/join, the
// transport's peer names and the client's --node. The one parser every part
// of the project uses.
#pragma once

#include <string>
#include <string_view>

#include "dendrite/status.h"

namespace dendrite {

// A parsed "host:port". The host is kept as written (a name, an IPv4 address,
// or an IPv6 address in brackets).
struct HostPort {
  std::string host;
  int port = 0;
};

// Splits `text` at its last ':'. The host must be non-empty and hold no
// whitespace or '/'; the port must be decimal digits alone, from `min_port`
// to 65535 (0 is accepted only where a caller binds, e.g. "listen").
// Errors: InvalidArgument "'<text>' is not host:port with a port from
// <min_port> to 65535". Pure; thread-safe.
Result<HostPort> parse_host_port(std::string_view text, int min_port = 1);

// parse_host_port(text, 1) without the result: the check for an address to
// connect to.
Status check_peer_address(std::string_view text);

// True when `host` (HostPort::host) is written as a loopback address:
// "localhost", an IPv4 address in 127.0.0.0/8 (dotted decimal), or ::1
// (with or without brackets). Any other name counts as not loopback (it may
// resolve to anything), as do wildcards ("*", 0.0.0.0). Pure; thread-safe.
bool is_loopback_host(std::string_view host);

}  // namespace dendrite
