// dendrite-bench: a load generator for dtable through the client library,
// modelled on redis-benchmark so the two can be compared like with like.
//   dendrite-bench [--node H:P] [-n N] [-c C] [-P P] [-t set,get,del] [-d BYTES]
//                  [-r KEYSPACE] [--consistency N] [--csv] [-q]
// C x P requests are kept in flight through one client (one connection per
// node, requests multiplexed), each routed to its key's primary.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <CLI/CLI.hpp>

#include "dendrite/client/dtable_client.h"

namespace {

using Clock = std::chrono::steady_clock;

// Nonzero while this thread is inside a client call: a completion callback that
// runs then ran synchronously and must not start the next operation itself.
thread_local int t_call_depth = 0;

struct Options {
  std::string node = "127.0.0.1:5000";
  long requests = 100000;
  int clients = 50;
  int pipeline = 1;
  std::string tests = "set,get";
  int value_size = 3;
  long keyspace = 0;  // 0 = one fixed key per test, as redis-benchmark without -r
  int consistency = 1;
  int timeout_ms = 5000;
  bool csv = false;
  bool quiet = false;
};

struct Report {
  std::string test;
  double rps = 0;
  double avg_ms = 0, min_ms = 0, p50_ms = 0, p95_ms = 0, p99_ms = 0, max_ms = 0;
  long errors = 0;
  std::string first_error;
};

// Runs `total` operations of one kind with `in_flight` outstanding at a time.
class Run {
 public:
  Run(dendrite::client::DtableClient& client, const Options& o, std::string test)
      : client_(client),
        o_(o),
        test_(std::move(test)),
        value_(o.value_size, 'x'),
        latencies_us_(o.requests),
        rng_(12345) {}

  Report go() {
    const long in_flight = std::min<long>(o_.requests, long{o_.clients} * o_.pipeline);
    start_ = Clock::now();
    for (long i = 0; i < in_flight; ++i) issue();
    {
      std::unique_lock lock(mu_);
      while (completed_ < o_.requests) {
        done_cv_.wait(lock, [&] { return completed_ == o_.requests || deferred_ > 0; });
        // Operations whose callback ran on the issuing thread (an immediate
        // failure) are restarted here, so the stack never grows without bound.
        while (deferred_ > 0) {
          --deferred_;
          lock.unlock();
          issue();
          lock.lock();
        }
      }
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    if (progress_shown_) std::fprintf(stderr, "\r%60s\r", "");
    return summarize(seconds);
  }

 private:
  std::string next_key() {
    std::lock_guard lock(mu_);
    if (o_.keyspace <= 0) return "key:__rand_int__";
    char buf[32];
    std::snprintf(buf, sizeof buf, "key:%012ld",
                  static_cast<long>(rng_() % static_cast<unsigned long>(o_.keyspace)));
    return buf;
  }

  // Starts one more operation if any are left; called again from its callback.
  void issue() {
    long index = issued_.fetch_add(1);
    if (index >= o_.requests) return;
    auto began = Clock::now();
    auto finish = [this, index, began](const dendrite::Status& s) {
      latencies_us_[index] =
          std::chrono::duration<double, std::micro>(Clock::now() - began).count();
      bool last = false;
      {
        std::lock_guard lock(mu_);
        // A get of a key never written is "not found": a valid answer.
        if (!s.ok() && s.code() != dendrite::StatusCode::kNotFound) {
          if (errors_++ == 0) first_error_ = s.to_string();
        }
        last = ++completed_ == o_.requests;
        maybe_progress();
      }
      if (last) {
        done_cv_.notify_all();
      } else if (t_call_depth > 0) {
        {
          std::lock_guard lock(mu_);
          ++deferred_;
        }
        done_cv_.notify_all();
      } else {
        issue();
      }
    };
    std::string key = next_key();
    struct Depth {
      Depth() { ++t_call_depth; }
      ~Depth() { --t_call_depth; }
    } in_call;
    if (test_ == "set") {
      client_.set_async(std::move(key), value_, o_.consistency, finish);
    } else if (test_ == "get") {
      client_.get_async(std::move(key), o_.consistency,
                        [finish](dendrite::Result<std::string> r) { finish(r.status()); });
    } else {
      client_.del_async(std::move(key), o_.consistency, finish);
    }
  }

  // REQUIRES: mu_ held. A live progress line on a terminal, at most 4 a second.
  void maybe_progress() {
    if (o_.quiet || o_.csv || !isatty_) return;
    auto now = Clock::now();
    if (now - last_progress_ < std::chrono::milliseconds(250)) return;
    last_progress_ = now;
    double s = std::chrono::duration<double>(now - start_).count();
    std::fprintf(stderr, "\r%s: rps=%.0f (%ld of %ld)", test_.c_str(), completed_ / s, completed_,
                 o_.requests);
    progress_shown_ = true;
  }

  Report summarize(double seconds) {
    std::vector<double> v = latencies_us_;
    std::sort(v.begin(), v.end());
    auto pct = [&](double p) {
      std::size_t i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1));
      return v[i] / 1000.0;
    };
    double sum = 0;
    for (double x : v) sum += x;
    Report r;
    r.test = test_;
    r.rps = static_cast<double>(o_.requests) / seconds;
    r.avg_ms = sum / static_cast<double>(v.size()) / 1000.0;
    r.min_ms = v.front() / 1000.0;
    r.p50_ms = pct(50);
    r.p95_ms = pct(95);
    r.p99_ms = pct(99);
    r.max_ms = v.back() / 1000.0;
    r.errors = errors_;
    r.first_error = first_error_;
    return r;
  }

  dendrite::client::DtableClient& client_;
  const Options& o_;
  const std::string test_;
  const std::string value_;
  std::vector<double> latencies_us_;  // one slot per operation, written once
  std::atomic<long> issued_{0};
  Clock::time_point start_;

  std::mutex mu_;
  std::condition_variable done_cv_;
  long completed_ = 0;       // GUARDED_BY(mu_)
  long errors_ = 0;          // GUARDED_BY(mu_)
  long deferred_ = 0;        // GUARDED_BY(mu_): operations to start from go()
  std::string first_error_;  // GUARDED_BY(mu_)
  std::mt19937_64 rng_;      // GUARDED_BY(mu_)
  Clock::time_point last_progress_{};
  bool progress_shown_ = false;
  const bool isatty_ = ::isatty(2) != 0;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string t; std::getline(in, t, ',');) {
    if (!t.empty()) out.push_back(t);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"dendrite-bench: dtable load generator (like redis-benchmark)"};
  app.add_option("--node", o.node, "a node of the ring, H:P")->capture_default_str();
  app.add_option("-n", o.requests, "total requests per test")->check(CLI::PositiveNumber);
  app.add_option("-c", o.clients, "concurrent clients")->check(CLI::PositiveNumber);
  app.add_option("-P", o.pipeline, "requests in flight per client")->check(CLI::PositiveNumber);
  app.add_option("-t", o.tests, "tests: comma-separated of set,get,del");
  app.add_option("-d", o.value_size, "value size in bytes")->check(CLI::NonNegativeNumber);
  app.add_option("-r", o.keyspace, "random keys in [0, r) instead of one key");
  app.add_option("--consistency", o.consistency, "copies acknowledged/read")
      ->check(CLI::PositiveNumber);
  app.add_option("--timeout", o.timeout_ms, "request timeout in ms")->check(CLI::PositiveNumber);
  app.add_flag("--csv", o.csv, "CSV output with redis-benchmark's columns");
  app.add_flag("-q", o.quiet, "one summary line per test");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "dendrite-bench: %s\n", e.what());
    return 2;
  }
  std::vector<std::string> tests = split(o.tests);
  for (const auto& t : tests) {
    if (t != "set" && t != "get" && t != "del") {
      std::fprintf(stderr, "dendrite-bench: unknown test '%s' (tests: set, get, del)\n", t.c_str());
      return 2;
    }
  }
  dendrite::client::DtableClientOptions copts;
  copts.timeout = std::chrono::milliseconds(o.timeout_ms);
  auto client = dendrite::client::DtableClient::connect(o.node, copts);
  if (!client.ok()) {
    std::fprintf(stderr, "dendrite-bench: cannot reach %s: %s\n", o.node.c_str(),
                 client.status().to_string().c_str());
    return 3;
  }
  if (o.csv) {
    std::printf(
        "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\","
        "\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n");
  }
  int exit_code = 0;
  for (const auto& t : tests) {
    Report r = Run(**client, o, t).go();
    std::string name = t == "set" ? "SET" : t == "get" ? "GET" : "DEL";
    if (o.csv) {
      std::printf("\"%s\",\"%.2f\",\"%.3f\",\"%.3f\",\"%.3f\",\"%.3f\",\"%.3f\",\"%.3f\"\n",
                  name.c_str(), r.rps, r.avg_ms, r.min_ms, r.p50_ms, r.p95_ms, r.p99_ms, r.max_ms);
    } else if (o.quiet) {
      std::printf("%s: %.2f requests per second, p50=%.3f msec\n", name.c_str(), r.rps, r.p50_ms);
    } else {
      std::printf(
          "====== %s ======\n  %ld requests completed in %.2f seconds\n  %d clients x %d in "
          "flight, %d bytes payload, consistency %d\n  throughput: %.2f requests per second\n"
          "  latency (msec): avg %.3f min %.3f p50 %.3f p95 %.3f p99 %.3f max %.3f\n",
          name.c_str(), o.requests, static_cast<double>(o.requests) / r.rps, o.clients, o.pipeline,
          o.value_size, o.consistency, r.rps, r.avg_ms, r.min_ms, r.p50_ms, r.p95_ms, r.p99_ms,
          r.max_ms);
    }
    std::fflush(stdout);
    if (r.errors > 0) {
      std::fprintf(stderr, "dendrite-bench: %s: %ld of %ld requests failed (first: %s)\n",
                   name.c_str(), r.errors, o.requests, r.first_error.c_str());
      exit_code = 1;
    }
  }
  return exit_code;
}
