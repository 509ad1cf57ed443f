#include "dendrite/wire/zmq_frames.h"

#include <algorithm>
#include <cstring>
#include <limits>

// Defined in ThreadSanitizer builds (GCC and clang spell it differently).
#if defined(__SANITIZE_THREAD__)
#define DENDRITE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DENDRITE_TSAN 1
#endif
#endif

namespace dendrite::wire {
namespace {

#ifdef DENDRITE_TSAN
constexpr bool kThreadSanitizer = true;
#else
constexpr bool kThreadSanitizer = false;
#endif

// Frames at least this big are handed to ZeroMQ without a copy; smaller ones
// are copied, which spares ZeroMQ's allocation for a borrowed buffer and its
// free on ZeroMQ's own I/O thread (measured no slower: docs/transport.md).
constexpr std::size_t kZeroCopyBytes = 64u << 10;

}  // namespace

zmq::message_t message_of(std::string&& frame) {
  if (kThreadSanitizer || frame.size() < kZeroCopyBytes) {
    return zmq::message_t(frame.data(), frame.size());
  }
  auto* held = new std::string(std::move(frame));
  return zmq::message_t(
      held->data(), held->size(), [](void*, void* hint) { delete static_cast<std::string*>(hint); },
      held);
}

zmq::message_t frame_of(const Message& m) {
  zmq::message_t f(m.payload.size() + 1);
  auto* p = static_cast<char*>(f.data());
  p[0] = static_cast<char>(m.type);
  if (!m.payload.empty()) std::memcpy(p + 1, m.payload.data(), m.payload.size());
  return f;
}

std::int64_t max_message_size(std::size_t max_frame_bytes) {
  constexpr std::uint64_t kCap = std::numeric_limits<std::int64_t>::max() / 4;
  const std::uint64_t m = std::min<std::uint64_t>(max_frame_bytes, kCap);
  return static_cast<std::int64_t>(2 * m + (64u << 10));
}

}  // namespace dendrite::wire

#ifdef DENDRITE_TSAN
// libzmq (not built with TSan) hands messages and commands between the
// application's threads and its own I/O threads through lock-free queues that
// TSan cannot see, so it reports races on every message buffer. Suppress those
// whose stacks run through libzmq; races in our own code are still reported.
// Weak, so a program that brings its own suppressions keeps them.
extern "C" __attribute__((weak)) const char* __tsan_default_suppressions() {
  return "race:libzmq.so\n";
}
#endif
