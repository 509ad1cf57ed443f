// Message types and service names of the in-tree test plugins (tests/plugins),
// shared by the plugins and the tests that load them.
#pragma once

#include "dendrite/message.h"

namespace dendrite::test_plugins {

// echo: a request of kEchoRequest is answered with kEchoReply carrying the
// configured prefix (config {"prefix": "..."}, default kEchoDefaultPrefix)
// followed by the request's payload. The payload kEchoThrow makes the handler
// throw (the host must answer Err).
inline constexpr MessageType kEchoRequest = 0x40;
inline constexpr MessageType kEchoReply = 0x41;
inline constexpr const char* kEchoDefaultPrefix = "echo: ";
inline constexpr const char* kEchoThrow = "throw";

// counter_consumer: a request of kCounterRequest increments the "counter"
// service and is answered with kCounterReply carrying the new value in decimal.
inline constexpr MessageType kCounterRequest = 0x42;
inline constexpr MessageType kCounterReply = 0x43;

// The `slow` plugin answers kSlowRequest with kSlowReply (the request's size as
// text) `delay_ms` after it arrived, holding no thread meanwhile: a stand-in
// for handlers that wait on other nodes (flood and overload tests).
inline constexpr MessageType kSlowRequest = 0x44;
inline constexpr MessageType kSlowReply = 0x45;

}  // namespace dendrite::test_plugins
