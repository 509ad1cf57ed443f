// ZeroMQ socket monitors, as the node's ROUTER and every request channel use
// them to learn how handshakes end: a PAIR socket that receives the events of
// a watched socket. Not thread-safe: the watched socket's thread owns both.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <zmq.hpp>

namespace dendrite::wire {

// One event of a monitor: ZMQ_EVENT_* and its value (an errno, a ZeroMQ
// protocol error code, a ZAP status code or a descriptor, by event).
struct SocketEvent {
  std::uint16_t event = 0;
  std::uint32_t value = 0;
};

// Starts a monitor of `events` (ZMQ_EVENT_* bits) on `watched` and returns
// the connected PAIR socket that receives them. Throws zmq::error_t.
zmq::socket_t watch_socket(zmq::context_t& ctx, zmq::socket_t& watched, int events);

// The next event that has arrived on `monitor`, without blocking; nullopt
// when none has. Throws zmq::error_t.
std::optional<SocketEvent> next_socket_event(zmq::socket_t& monitor);

// Stops the monitor of `watched` and closes `monitor`, in the order that
// cannot block (the monitor's last event needs a reader). Either may be
// closed already.
void unwatch_socket(zmq::socket_t& watched, zmq::socket_t& monitor);

// `value` as "0x" and lower-case hex digits, for messages.
std::string hex_text(std::uint32_t value);

}  // namespace dendrite::wire
