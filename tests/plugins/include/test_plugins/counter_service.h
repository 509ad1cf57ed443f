// The service the `counter_provider` test plugin publishes and
// `counter_consumer` uses.
#pragma once

#include <cstdint>

namespace dendrite::test_plugins {

// The service name of the counter.
inline constexpr const char* kCounterService = "counter";

// A shared counter starting at 0. Thread-safe.
class CounterService {
 public:
  virtual ~CounterService() = default;
  // Adds one and returns the new value.
  virtual std::int64_t increment() = 0;
  // The current value.
  virtual std::int64_t value() const = 0;
};

}  // namespace dendrite::test_plugins
