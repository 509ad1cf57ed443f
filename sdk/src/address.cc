#include "dendrite/address.h"

#include <algorithm>

namespace dendrite {

Result<HostPort> parse_host_port(std::string_view text, int min_port) {
  const auto bad = [&] {
    return Status::InvalidArgument("'" + std::string(text) +
                                   "' is not host:port with a port from " +
                                   std::to_string(min_port) + " to 65535");
  };
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) return bad();
  const std::string_view host = text.substr(0, colon);
  const bool odd_char = std::any_of(host.begin(), host.end(), [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == '/';
  });
  if (odd_char) return bad();
  const std::string_view digits = text.substr(colon + 1);
  if (digits.size() > 5) return bad();
  int port = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return bad();
    port = port * 10 + (c - '0');
  }
  if (port < min_port || port > 65535) return bad();
  return HostPort{std::string(host), port};
}

Status check_peer_address(std::string_view text) {
  auto parsed = parse_host_port(text, 1);
  return parsed.ok() ? Status::Ok() : parsed.status();
}

}  // namespace dendrite
