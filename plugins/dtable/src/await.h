// Waiting for an asynchronous operation from a thread that may block.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

namespace dendrite::dtable {

// Calls `start` with a completion callback and waits until that callback ran,
// then returns the value it was given (the first one, should it run twice).
// The callback may run on any thread, before `start` returns or later. Must
// not be called from a thread the completion depends on (a host callback).
template <typename T>
T await(const std::function<void(std::function<void(T)>)>& start) {
  struct Wait {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<T> value;  // GUARDED_BY(mu)
  };
  auto wait = std::make_shared<Wait>();
  start([wait](T value) {
    std::lock_guard lock(wait->mu);
    if (!wait->value) wait->value.emplace(std::move(value));
    wait->cv.notify_all();
  });
  std::unique_lock lock(wait->mu);
  wait->cv.wait(lock, [&] { return wait->value.has_value(); });
  return std::move(*wait->value);
}

}  // namespace dendrite::dtable
