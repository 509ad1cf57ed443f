// ZeroMQ message helpers shared by the node's transport and the peer channel:
// building a wire frame (type byte + payload) as a zmq::message_t, and the
// size limit a socket puts on what it receives. Pure; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <zmq.hpp>

#include "dendrite/message.h"

namespace dendrite::wire {

// A message holding the bytes of `frame`: a copy when the frame is small (or
// always under ThreadSanitizer, which cannot see libzmq free a borrowed buffer
// on its own thread); otherwise `frame`'s own buffer, taken over without a copy.
zmq::message_t message_of(std::string&& frame);

// The wire frame of `m` (type byte, then payload), built with one copy.
zmq::message_t frame_of(const Message& m);

// The bytes of `m`, valid while `m` lives and is not changed.
inline std::string_view view(const zmq::message_t& m) {
  return {static_cast<const char*>(m.data()), m.size()};
}

// ZMQ_MAXMSGSIZE for a socket whose peers may send frames up to
// `max_frame_bytes`: well above it (so an oversized request still reaches the
// code that answers it with an Err) but bounded, so a hostile peer cannot make
// us allocate at will.
std::int64_t max_message_size(std::size_t max_frame_bytes);

}  // namespace dendrite::wire
