// A TCP port on 127.0.0.1 held bound but not listening, for tests of what a
// caller does when nobody answers: connecting to it is refused, and no other
// socket (not even the code under test binding port 0) gets the port while
// this object lives.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace dendrite::test {

class RefusingPort {
 public:
  // Binds `port`, or any free port when 0; port() is 0 when that failed (the
  // port is taken, or in TIME_WAIT: no SO_REUSEADDR).
  explicit RefusingPort(int port = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    socklen_t len = sizeof addr;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
    port_ = ntohs(addr.sin_port);
    address_ = "127.0.0.1:" + std::to_string(port_);
  }
  ~RefusingPort() {
    if (fd_ >= 0) ::close(fd_);
  }
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;

  // "127.0.0.1:<port>", or "" when no port could be bound.
  const std::string& address() const { return address_; }
  // The port, or 0 when none could be bound.
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::string address_;
};

}  // namespace dendrite::test
