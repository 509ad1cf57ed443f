// A wake-up descriptor for an I/O thread that sleeps in zmq_poll: other
// threads notify() it after queueing work; the I/O thread polls fd() and
// drain()s it when readable. An eventfd, so notifications coalesce.
#pragma once

#include "dendrite/status.h"

namespace dendrite::wire {

// notify() is thread-safe; open() and drain() belong to the owning thread.
class Wakeup {
 public:
  Wakeup() = default;
  ~Wakeup();  // closes the descriptor
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;

  // Creates the descriptor. Errors: Internal naming the system error.
  Status open();
  // The descriptor to poll for readability (-1 before open()).
  int fd() const { return fd_; }
  // Makes fd() readable. Never blocks.
  void notify();
  // Makes fd() unreadable again (consumes every notify() so far).
  void drain();

 private:
  int fd_ = -1;
};

}  // namespace dendrite::wire
