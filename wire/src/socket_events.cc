#include "dendrite/wire/socket_events.h"

#include <zmq.h>

#include <atomic>
#include <cstdio>
#include <cstring>

namespace dendrite::wire {

zmq::socket_t watch_socket(zmq::context_t& ctx, zmq::socket_t& watched, int events) {
  // Each monitor needs an inproc endpoint of its own.
  static std::atomic<std::uint64_t> monitors{0};
  const std::string endpoint =
      "inproc://dendrite-socket-events-" + std::to_string(monitors.fetch_add(1));
  if (zmq_socket_monitor(watched.handle(), endpoint.c_str(), events) != 0) throw zmq::error_t();
  zmq::socket_t monitor(ctx, zmq::socket_type::pair);
  monitor.set(zmq::sockopt::linger, 0);
  monitor.connect(endpoint);
  return monitor;
}

std::optional<SocketEvent> next_socket_event(zmq::socket_t& monitor) {
  for (;;) {
    zmq::message_t head;
    if (!monitor.recv(head, zmq::recv_flags::dontwait)) return std::nullopt;
    for (bool more = head.more(); more;) {  // the endpoint's frame
      zmq::message_t rest;
      if (!monitor.recv(rest, zmq::recv_flags::dontwait)) break;
      more = rest.more();
    }
    if (head.size() < 6) continue;  // no event of libzmq's
    SocketEvent e;
    std::memcpy(&e.event, head.data(), sizeof e.event);
    std::memcpy(&e.value, static_cast<const char*>(head.data()) + 2, sizeof e.value);
    return e;
  }
}

void unwatch_socket(zmq::socket_t& watched, zmq::socket_t& monitor) {
  if (watched && monitor) zmq_socket_monitor(watched.handle(), nullptr, 0);
  monitor.close();
}

std::string hex_text(std::uint32_t value) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%x", static_cast<unsigned>(value));
  return buf;
}

}  // namespace dendrite::wire
