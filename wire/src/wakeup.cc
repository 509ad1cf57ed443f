#include "dendrite/wire/wakeup.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

namespace dendrite::wire {

Wakeup::~Wakeup() {
  if (fd_ >= 0) ::close(fd_);
}

Status Wakeup::open() {
  fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd_ < 0) return Status::Internal(std::string("eventfd: ") + std::strerror(errno));
  return Status::Ok();
}

void Wakeup::notify() {
  const std::uint64_t one = 1;
  // Fails (EAGAIN) only when the counter is saturated: the thread is awake anyway.
  [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
}

void Wakeup::drain() {
  std::uint64_t count;
  [[maybe_unused]] auto n = ::read(fd_, &count, sizeof count);
}

}  // namespace dendrite::wire
