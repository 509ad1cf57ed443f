// The service the `events` test plugin publishes: every ring event it received.
#pragma once

#include <vector>

#include "dendrite/hooks.h"

namespace dendrite::test_plugins {

// The service name of the recorder.
inline constexpr const char* kEventRecorderService = "test.event_recorder";

// Thread-safe.
class EventRecorder {
 public:
  virtual ~EventRecorder() = default;
  // A copy of every event received so far, in arrival order.
  virtual std::vector<RingEvent> events() const = 0;
};

}  // namespace dendrite::test_plugins
