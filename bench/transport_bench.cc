// Request round trips through ZmqTransport to a server in a separate process,
// beside bare cppzmq REQ/REP and DEALER/ROUTER echoes measured the same way.
//
//   transport_bench [--seconds S] [--rounds N] [--size BYTES] [--only ROW]
//
// Each row runs S seconds in all (default 3), split into N interleaved rounds
// (default 3); --only runs one row (1-6) alone, e.g. under perf.
// The process forks before any ZeroMQ context exists: the child serves (a
// ZmqTransport with an inline and a worker-pool echo type, a bare REP echo and
// a bare ROUTER echo) until the parent closes a pipe; the parent measures.

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "bare_echo.h"
#include "dendrite/message.h"
#include "host/logging.h"
#include "host/zmq_transport.h"

namespace {

using Clock = std::chrono::steady_clock;
using dendrite::Message;
using dendrite::MessageType;
using dendrite::Result;
using dendrite::bench::bare_echo;
using namespace std::chrono_literals;

constexpr MessageType kInlineEcho = 0x50;  // answered on the server's I/O thread
constexpr MessageType kPoolEcho = 0x51;    // answered by a worker
constexpr int kDeep = 64;

class EchoHandler final : public dendrite::host::RequestHandler {
 public:
  bool runs_inline(MessageType type) const override { return type == kInlineEcho; }
  Message handle(const Message& request) override { return request; }
};

// ---- server (child process) --------------------------------------------

int serve(int control_fd, int report_fd) {
  EchoHandler handler;
  dendrite::host::TransportConfig config;
  config.listen = "127.0.0.1:0";
  dendrite::host::ZmqTransport transport(config, handler);
  if (auto s = transport.start(); !s.ok()) {
    std::fprintf(stderr, "server: %s\n", s.to_string().c_str());
    return 1;
  }
  zmq::context_t ctx;
  zmq::socket_t rep(ctx, zmq::socket_type::rep), router(ctx, zmq::socket_type::router);
  for (auto* s : {&rep, &router}) {
    s->set(zmq::sockopt::linger, 0);
    s->bind("tcp://127.0.0.1:0");
  }
  std::atomic<bool> stop{false};
  std::thread rep_thread([&] { bare_echo(rep, stop); });
  std::thread router_thread([&] { bare_echo(router, stop); });

  const std::string line = transport.address() + " " + rep.get(zmq::sockopt::last_endpoint) + " " +
                           router.get(zmq::sockopt::last_endpoint) + "\n";
  [[maybe_unused]] auto w = ::write(report_fd, line.data(), line.size());
  ::close(report_fd);
  char byte;
  while (::read(control_fd, &byte, 1) > 0) {
  }  // until the parent closes its end
  stop = true;
  rep_thread.join();
  router_thread.join();
  std::printf("server: %zu transport workers at the end\n", transport.worker_count());
  std::fflush(stdout);
  transport.stop();
  return 0;
}

// ---- measurement (parent) ----------------------------------------------

// Latencies (us) of the round trips completed in `seconds` of measurement.
struct Sample {
  std::vector<double> lat_us;
  double seconds = 0;
};

Clock::duration span(double seconds) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

double us_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

constexpr auto kWarmUp = 200ms;

// Runs `once()` (one round trip) in a loop: warm-up, then `seconds` measured.
template <typename F>
Sample sequential(double seconds, F once) {
  const auto warm_end = Clock::now() + kWarmUp;
  while (Clock::now() < warm_end) once();
  Sample out;
  out.lat_us.reserve(1 << 18);
  const auto start = Clock::now();
  const auto end = start + span(seconds);
  Clock::time_point t;
  while ((t = Clock::now()) < end) {
    once();
    out.lat_us.push_back(us_between(t, Clock::now()));
  }
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return out;
}

Sample bare_req_rep(zmq::socket_t& req, const std::string& frame, double seconds) {
  return sequential(seconds, [&] {
    req.send(zmq::buffer(frame), zmq::send_flags::none);
    zmq::message_t reply;
    if (!req.recv(reply)) std::abort();
  });
}

// kDeep requests in flight on one DEALER; each reply's slot is re-sent at once.
Sample bare_dealer_router(zmq::socket_t& dealer, const std::string& frame, double seconds) {
  std::vector<Clock::time_point> sent(kDeep);
  auto send = [&](std::uint32_t slot) {
    sent[slot] = Clock::now();
    dealer.send(zmq::buffer(&slot, sizeof slot), zmq::send_flags::sndmore);
    dealer.send(zmq::message_t(), zmq::send_flags::sndmore);
    dealer.send(zmq::buffer(frame), zmq::send_flags::none);
  };
  Sample out;
  out.lat_us.reserve(1 << 20);
  for (std::uint32_t i = 0; i < kDeep; ++i) send(i);
  const auto warm_end = Clock::now() + kWarmUp;
  const auto end = warm_end + span(seconds);
  auto start = warm_end;
  bool measuring = false;
  int outstanding = kDeep;
  while (outstanding > 0) {
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(dealer, std::back_inserter(frames))) std::abort();
    std::uint32_t slot;
    std::memcpy(&slot, frames[0].data(), sizeof slot);
    const auto now = Clock::now();
    if (!measuring && now >= warm_end) {
      measuring = true;
      start = now;
    }
    if (measuring) out.lat_us.push_back(us_between(sent[slot], now));
    if (now < end) {
      send(slot);
    } else {
      --outstanding;
    }
  }
  out.seconds = std::chrono::duration<double>(end - start).count();
  return out;
}

Sample transport_sequential(dendrite::host::ZmqTransport& client, const std::string& server,
                            const Message& request, double seconds) {
  return sequential(seconds, [&] {
    auto r = client.call(server, request, 10s);
    if (!r.ok()) {
      std::fprintf(stderr, "call failed: %s\n", r.status().to_string().c_str());
      std::abort();
    }
  });
}

// Keeps kDeep call_async() in flight; each `done` (on the I/O thread) records
// the latency and issues the next request.
Sample transport_pipelined(dendrite::host::ZmqTransport& client, const std::string& server,
                           const Message& request, double seconds) {
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    Sample sample;
    bool measuring = false;
    int outstanding = kDeep;
    Clock::time_point warm_end, end, start;
  } st;
  st.sample.lat_us.reserve(1 << 20);
  st.warm_end = Clock::now() + kWarmUp;
  st.end = st.warm_end + span(seconds);
  st.start = st.warm_end;

  std::function<void()> issue = [&] {
    const auto sent = Clock::now();
    client.call_async(server, request, 10s, [&, sent](Result<Message> r) {
      if (!r.ok()) {
        std::fprintf(stderr, "call failed: %s\n", r.status().to_string().c_str());
        std::abort();
      }
      const auto now = Clock::now();
      bool again;
      {
        std::lock_guard lock(st.mu);
        if (!st.measuring && now >= st.warm_end) {
          st.measuring = true;
          st.start = now;
        }
        if (st.measuring) st.sample.lat_us.push_back(us_between(sent, now));
        again = now < st.end;
        if (!again && --st.outstanding == 0) st.cv.notify_all();
      }
      if (again) issue();
    });
  };
  for (int i = 0; i < kDeep; ++i) issue();
  std::unique_lock lock(st.mu);
  st.cv.wait(lock, [&] { return st.outstanding == 0; });
  st.sample.seconds = std::chrono::duration<double>(st.end - st.start).count();
  return std::move(st.sample);
}

struct Scenario {
  std::string name;
  int in_flight;
  std::function<Sample(double)> run;
  Sample total;
};

int measure(const std::string& server, const std::string& rep, const std::string& router,
            double seconds, int rounds, std::size_t size, int only) {
  const std::string payload(size, 'p');
  const Message inline_req{kInlineEcho, payload};
  const Message pool_req{kPoolEcho, payload};
  const std::string frame = inline_req.to_frame();

  zmq::context_t ctx;
  zmq::socket_t req(ctx, zmq::socket_type::req), dealer(ctx, zmq::socket_type::dealer);
  req.set(zmq::sockopt::linger, 0);
  req.connect(rep);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect(router);

  EchoHandler handler;
  dendrite::host::TransportConfig config;
  config.listen = "127.0.0.1:0";
  dendrite::host::ZmqTransport client(config, handler);
  if (auto s = client.start(); !s.ok()) {
    std::fprintf(stderr, "client: %s\n", s.to_string().c_str());
    return 1;
  }

  std::vector<Scenario> table;
  table.push_back(
      {"bare cppzmq REQ/REP", 1, [&](double s) { return bare_req_rep(req, frame, s); }, {}});
  table.push_back({"bare cppzmq DEALER/ROUTER",
                   kDeep,
                   [&](double s) { return bare_dealer_router(dealer, frame, s); },
                   {}});
  table.push_back({"ZmqTransport, inline handler",
                   1,
                   [&](double s) { return transport_sequential(client, server, inline_req, s); },
                   {}});
  table.push_back({"ZmqTransport, inline handler",
                   kDeep,
                   [&](double s) { return transport_pipelined(client, server, inline_req, s); },
                   {}});
  table.push_back({"ZmqTransport, worker-pool handler",
                   1,
                   [&](double s) { return transport_sequential(client, server, pool_req, s); },
                   {}});
  table.push_back({"ZmqTransport, worker-pool handler",
                   kDeep,
                   [&](double s) { return transport_pipelined(client, server, pool_req, s); },
                   {}});

  // Rounds interleave the rows, so a noisy neighbour on a shared machine hits
  // them alike.
  for (int r = 0; r < rounds; ++r) {
    for (std::size_t i = 0; i < table.size(); ++i) {
      if (only != 0 && static_cast<int>(i) + 1 != only) continue;
      Sample s = table[i].run(seconds / rounds);
      auto& t = table[i].total;
      t.lat_us.insert(t.lat_us.end(), s.lat_us.begin(), s.lat_us.end());
      t.seconds += s.seconds;
    }
  }
  client.stop();

  std::printf("payload %zu bytes, %.1f s per row in %d rounds, server in another process\n\n", size,
              seconds, rounds);
  std::printf("%-4s %-34s %9s %12s %10s %10s\n", "row", "round trip", "in flight", "ops/s",
              "p50 us", "p99 us");
  for (std::size_t i = 0; i < table.size(); ++i) {
    auto& t = table[i].total;
    if (t.lat_us.empty()) continue;
    std::sort(t.lat_us.begin(), t.lat_us.end());
    auto pct = [&](double p) {
      return t.lat_us[std::min(t.lat_us.size() - 1, static_cast<std::size_t>(p * t.lat_us.size()))];
    };
    std::printf("%-4zu %-34s %9d %12.0f %10.1f %10.1f\n", i + 1, table[i].name.c_str(),
                table[i].in_flight, t.lat_us.size() / t.seconds, pct(0.50), pct(0.99));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3.0;
  int rounds = 3;
  int only = 0;
  std::size_t size = 64;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (arg == "--rounds" && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--only" && i + 1 < argc) {
      only = std::atoi(argv[++i]);
    } else if (arg == "--size" && i + 1 < argc) {
      size = static_cast<std::size_t>(std::atol(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: %s [--seconds S] [--rounds N] [--size BYTES] [--only ROW]\n",
                   argv[0]);
      return 2;
    }
  }
  dendrite::host::set_log_level(dendrite::LogLevel::kWarn);

  int control[2], report[2];
  if (::pipe(control) != 0 || ::pipe(report) != 0) {
    std::perror("pipe");
    return 1;
  }
  const pid_t child = ::fork();  // before any ZeroMQ context exists
  if (child < 0) {
    std::perror("fork");
    return 1;
  }
  if (child == 0) {
    ::close(control[1]);
    ::close(report[0]);
    std::_Exit(serve(control[0], report[1]));
  }
  ::close(control[0]);
  ::close(report[1]);
  std::string line;
  char buf[256];
  ssize_t n;
  while ((n = ::read(report[0], buf, sizeof buf)) > 0) line.append(buf, static_cast<size_t>(n));
  ::close(report[0]);
  char server[128], rep[128], router[128];
  int rc = 1;
  if (std::sscanf(line.c_str(), "%127s %127s %127s", server, rep, router) == 3) {
    rc = measure(server, rep, router, seconds, rounds, size, only);
  } else {
    std::fprintf(stderr, "server did not start\n");
  }
  std::fflush(stdout);
  ::close(control[1]);
  int status = 0;
  ::waitpid(child, &status, 0);
  return rc;
}
