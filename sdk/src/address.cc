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

bool is_loopback_host(std::string_view host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  if (host.substr(0, 4) != "127.") return false;
  // Three more decimal parts of 0..255 after "127.": `parts` counts "127"
  // and the one being read.
  int parts = 2;
  int value = -1;
  for (char c : host.substr(4)) {
    if (c == '.') {
      if (value < 0) return false;
      ++parts;
      value = -1;
    } else if (c >= '0' && c <= '9') {
      value = (value < 0 ? 0 : value * 10) + (c - '0');
      if (value > 255) return false;
    } else {
      return false;
    }
  }
  return parts == 4 && value >= 0;
}

}  // namespace dendrite
