// A bare cppzmq echo server loop, the transport floor the benchmarks compare
// against (transport_bench, zmq_echo).
#pragma once

#include <atomic>
#include <chrono>
#include <iterator>
#include <vector>

#include <zmq.hpp>
#include <zmq_addon.hpp>

namespace dendrite::bench {

// Sends every message received on `s` back as it came until `stop` (checked
// every 50 ms): a ROUTER returns it to its sender, a REP answers it.
inline void bare_echo(zmq::socket_t& s, const std::atomic<bool>& stop) {
  while (!stop.load()) {
    zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(50));
    if (!(item.revents & ZMQ_POLLIN)) continue;
    for (int i = 0; i < 64; ++i) {
      std::vector<zmq::message_t> frames;
      if (!zmq::recv_multipart(s, std::back_inserter(frames), zmq::recv_flags::dontwait)) break;
      zmq::send_multipart(s, frames);
    }
  }
}

}  // namespace dendrite::bench
