// zmq_echo: the transport floor beside redis-benchmark and dendrite-bench. A
// bare cppzmq ROUTER echo server, and a load generator of DEALER clients that
// measures it the way redis-benchmark measures Redis and prints the same
// --csv / -q output (test name "ECHO").
//   zmq_echo --serve H:P                        echo until SIGINT/SIGTERM
//   zmq_echo [--node H:P] [-n N] [-c C] [-P P] [-d BYTES] [--timeout MS] [--csv] [-q]
// Each of the C clients is its own DEALER socket (its own connection); it sends
// P requests at once ([correlation][empty][payload], as the Dendrite transport
// frames them), waits for the P echoes, then sends the next P. One thread
// drives every client, as redis-benchmark does. A request's latency runs from
// the moment its group was sent to its echo.
// Exit: 0 ok · 2 usage · 3 no echo within the timeout (nothing listening).
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "bare_echo.h"
#include "report.h"

namespace {

using Clock = std::chrono::steady_clock;

std::atomic<bool> g_stop{false};  // lock-free: safe to set from a signal handler

void on_signal(int) {
  g_stop = true;
}

int serve(const std::string& address) {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  zmq::context_t ctx(1);
  zmq::socket_t router(ctx, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  try {
    router.bind("tcp://" + address);
  } catch (const zmq::error_t& e) {
    std::fprintf(stderr, "zmq_echo: cannot bind %s: %s\n", address.c_str(), e.what());
    return 1;
  }
  while (!g_stop) {
    try {
      dendrite::bench::bare_echo(router, g_stop);
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;  // a signal interrupted the poll: look at g_stop
    }
  }
  return 0;
}

struct Options {
  std::string node = "127.0.0.1:5000";
  long requests = 100000;
  int clients = 50;
  int pipeline = 1;
  int value_size = 3;
  int timeout_ms = 5000;
  bool csv = false;
  bool quiet = false;
};

int measure(const Options& o) {
  zmq::context_t ctx(1);
  std::vector<zmq::socket_t> sockets;
  std::vector<zmq::pollitem_t> items;
  sockets.reserve(static_cast<std::size_t>(o.clients));
  for (int c = 0; c < o.clients; ++c) {
    sockets.emplace_back(ctx, zmq::socket_type::dealer);
    sockets.back().set(zmq::sockopt::linger, 0);
    sockets.back().connect("tcp://" + o.node);
  }
  for (auto& s : sockets) items.push_back({s.handle(), 0, ZMQ_POLLIN, 0});

  const std::string payload(static_cast<std::size_t>(o.value_size), 'x');
  std::vector<double> latencies_us(static_cast<std::size_t>(o.requests));
  std::vector<Clock::time_point> group_sent(sockets.size());
  std::vector<long> outstanding(sockets.size(), 0);
  long issued = 0, completed = 0;
  dendrite::bench::Progress progress("ECHO", o.requests, !o.csv);

  auto send_group = [&](std::size_t c) {
    const long count = std::min<long>(o.pipeline, o.requests - issued);
    group_sent[c] = Clock::now();
    for (long i = 0; i < count; ++i) {
      const std::uint64_t index = static_cast<std::uint64_t>(issued++);
      sockets[c].send(zmq::buffer(&index, sizeof index), zmq::send_flags::sndmore);
      sockets[c].send(zmq::message_t(), zmq::send_flags::sndmore);
      sockets[c].send(zmq::buffer(payload), zmq::send_flags::none);
    }
    outstanding[c] = count;
  };

  const auto start = Clock::now();
  for (std::size_t c = 0; c < sockets.size() && issued < o.requests; ++c) send_group(c);
  auto last_answer = Clock::now();
  while (completed < o.requests) {
    zmq::poll(items.data(), items.size(), std::chrono::milliseconds(100));
    const auto now = Clock::now();
    bool any = false;
    for (std::size_t c = 0; c < sockets.size(); ++c) {
      if (!(items[c].revents & ZMQ_POLLIN)) continue;
      std::vector<zmq::message_t> frames;
      while (
          zmq::recv_multipart(sockets[c], std::back_inserter(frames), zmq::recv_flags::dontwait)) {
        std::uint64_t index = 0;
        if (frames.empty() || frames[0].size() != sizeof index) {
          std::fprintf(stderr, "zmq_echo: malformed echo\n");
          return 1;
        }
        std::memcpy(&index, frames[0].data(), sizeof index);
        latencies_us[index] =
            std::chrono::duration<double, std::micro>(now - group_sent[c]).count();
        ++completed;
        any = true;
        frames.clear();
        if (--outstanding[c] == 0 && issued < o.requests) send_group(c);
      }
    }
    if (any) {
      last_answer = now;
      progress.update(completed);
    } else if (now - last_answer > std::chrono::milliseconds(o.timeout_ms)) {
      progress.clear();
      std::fprintf(stderr, "zmq_echo: no echo from %s within %d ms\n", o.node.c_str(),
                   o.timeout_ms);
      return 3;
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  progress.clear();
  const auto report = dendrite::bench::summarize("ECHO", std::move(latencies_us), seconds);
  if (o.csv) {
    dendrite::bench::print_csv_header();
    dendrite::bench::print_csv_row(report);
  } else if (o.quiet) {
    dendrite::bench::print_quiet_line(report);
    std::printf("\n");
  } else {
    dendrite::bench::print_full(report, std::to_string(o.clients) + " parallel clients, " +
                                            std::to_string(o.pipeline) + " in flight each, " +
                                            std::to_string(o.value_size) + " bytes payload");
  }
  return 0;
}

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s --serve H:P\n"
               "       %s [--node H:P] [-n N] [-c C] [-P P] [-d BYTES] [--timeout MS] [--csv] "
               "[-q]\n",
               argv0, argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string serve_at;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    auto number = [&](long min) {
      char* end = nullptr;
      const long v = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || v < min) {
        std::fprintf(stderr, "zmq_echo: %s: bad number '%s'\n", arg.c_str(), argv[i]);
        std::exit(2);
      }
      return v;
    };
    if (arg == "--serve" && has_value) {
      serve_at = argv[++i];
    } else if (arg == "--node" && has_value) {
      o.node = argv[++i];
    } else if (arg == "-n" && has_value) {
      o.requests = number(1);
    } else if (arg == "-c" && has_value) {
      o.clients = static_cast<int>(number(1));
    } else if (arg == "-P" && has_value) {
      o.pipeline = static_cast<int>(number(1));
    } else if (arg == "-d" && has_value) {
      o.value_size = static_cast<int>(number(0));
    } else if (arg == "--timeout" && has_value) {
      o.timeout_ms = static_cast<int>(number(1));
    } else if (arg == "--csv") {
      o.csv = true;
    } else if (arg == "-q") {
      o.quiet = true;
    } else {
      return usage(argv[0]);
    }
  }
  try {
    return serve_at.empty() ? measure(o) : serve(serve_at);
  } catch (const zmq::error_t& e) {
    std::fprintf(stderr, "zmq_echo: %s\n", e.what());
    return 1;
  }
}
