// dendrite-bench: a load generator for dtable through the client library,
// modelled on redis-benchmark so the two can be compared like with like.
//   dendrite-bench [--node H:P] [-n N] [-c C] [-P P] [-t set,get,del,mset,mget]
//                  [-d BYTES] [-r KEYSPACE] [--sequential] [--multi-keys K]
//                  [--consistency N] [--timeout MS] [--csv] [-q]
// As in redis-benchmark, each of the C clients sends P requests at once, waits
// for all P answers, then sends the next P; a request's latency runs from the
// moment its group was sent to its answer. All clients share one DtableClient
// (one connection per node, requests multiplexed, each routed to its key's
// primary). Keys are "key:" + 12 digits (16 bytes), as redis-benchmark makes
// them with -r; without -r every request uses the key "key:__rand_int__".
// mset/mget send K keys per request (default 10, as redis-benchmark's MSET) and
// count one request per K keys.
// Exit: 0 ok · 1 other request errors · 2 usage or bad input · 3 unreachable or
// timed out · 4 consistency not met (docs/contract.md "Exit codes"). A test
// whose requests time out or find nothing to talk to stops at once.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "dendrite/client/dtable_client.h"
#include "report.h"

namespace {

using Clock = std::chrono::steady_clock;
using dendrite::Status;
using dendrite::StatusCode;

// Nonzero while this thread is inside a client call: a completion callback that
// runs then ran synchronously and must not start the next group itself.
thread_local int t_call_depth = 0;

struct Options {
  std::string node = "127.0.0.1:5000";
  // A ring that runs CURVE (else the environment's, as dendrite-cli).
  std::string curve_secret_key_file;
  std::vector<std::string> curve_nodes;
  long requests = 100000;
  int clients = 50;
  int pipeline = 1;
  std::string tests = "set,get";
  int value_size = 3;
  long keyspace = 0;  // 0 = one fixed key, as redis-benchmark without -r
  bool sequential = false;
  int multi_keys = 10;
  int consistency = 1;
  int timeout_ms = 5000;
  bool csv = false;
  bool quiet = false;
};

// The exit code of a failed request (docs/contract.md "Exit codes").
int exit_code_of(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument:
      return 2;
    case StatusCode::kTimeout:
    case StatusCode::kUnavailable:
      return 3;
    case StatusCode::kConsistencyNotMet:
      return 4;
    default:
      return 1;
  }
}

struct Outcome {
  dendrite::bench::Report report;
  long errors = 0;
  Status first_error;
};

// One test: `o.requests` requests of one kind from `o.clients` clients with
// `o.pipeline` requests each in flight.
class Run {
 public:
  Run(dendrite::client::DtableClient& client, const Options& o, std::string test, std::string name)
      : client_(client),
        o_(o),
        test_(std::move(test)),
        keys_per_request_(test_ == "mset" || test_ == "mget" ? o.multi_keys : 1),
        value_(static_cast<std::size_t>(o.value_size), 'x'),
        name_(std::move(name)),
        latencies_us_(static_cast<std::size_t>(o.requests)),
        rng_(12345),
        progress_(name_, o.requests, !o.csv) {}

  Outcome go() {
    start_ = Clock::now();
    for (int c = 0; c < o_.clients; ++c) send_group(false);
    std::unique_lock lock(mu_);
    while (!finished()) {
      done_cv_.wait(lock, [&] { return finished() || !deferred_.empty(); });
      // Groups whose last callback ran on the issuing thread (an immediate
      // failure) are continued here, so the stack never grows without bound.
      while (!deferred_.empty()) {
        deferred_.pop_front();
        lock.unlock();
        send_group(true);
        lock.lock();
      }
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    progress_.clear();
    latencies_us_.resize(static_cast<std::size_t>(completed_));
    return Outcome{dendrite::bench::summarize(name_, std::move(latencies_us_), seconds), errors_,
                   first_error_};
  }

 private:
  // REQUIRES: mu_ held. Every request sent has been answered and no more will
  // be sent: go() may return (and this object go away).
  bool finished() const {
    return continuing_ == 0 && completed_ == issued_ && (issued_ == o_.requests || stopped_);
  }

  // Sends the next group of up to o_.pipeline requests of one client, if any
  // are left; `continuing`: a finished group's continuation (counted in
  // continuing_ so that go() waits for it).
  void send_group(bool continuing) {
    long first, count;
    {
      std::lock_guard lock(mu_);
      if (continuing) --continuing_;
      if (stopped_ || issued_ >= o_.requests) {
        // Notified under the lock: go() cannot return before it is released.
        if (finished()) done_cv_.notify_all();
        return;
      }
      first = issued_;
      count = std::min<long>(o_.pipeline, o_.requests - issued_);
      issued_ += count;
    }
    auto group = std::make_shared<std::atomic<long>>(count);
    const auto sent = Clock::now();
    for (long i = first; i < first + count; ++i) send(i, sent, group);
  }

  std::string key_at(long number) const {
    char buf[32];
    std::snprintf(buf, sizeof buf, "key:%012ld", number);
    return buf;
  }

  // The keys of request `index`.
  std::vector<std::string> keys_of(long index) {
    std::vector<std::string> keys;
    keys.reserve(static_cast<std::size_t>(keys_per_request_));
    for (int j = 0; j < keys_per_request_; ++j) {
      if (o_.keyspace <= 0) {
        keys.emplace_back("key:__rand_int__");
      } else if (o_.sequential) {
        keys.push_back(key_at((index * keys_per_request_ + j) % o_.keyspace));
      } else {
        std::lock_guard lock(mu_);
        keys.push_back(key_at(static_cast<long>(rng_() % static_cast<unsigned long>(o_.keyspace))));
      }
    }
    return keys;
  }

  void send(long index, Clock::time_point sent, std::shared_ptr<std::atomic<long>> group) {
    auto finish = [this, index, sent, group](const Status& s) {
      latencies_us_[static_cast<std::size_t>(index)] =
          std::chrono::duration<double, std::micro>(Clock::now() - sent).count();
      const bool group_done = group->fetch_sub(1) == 1;
      bool continue_here = false;
      {
        std::lock_guard lock(mu_);
        // A get of a key never written is "not found": a valid answer.
        if (!s.ok() && s.code() != StatusCode::kNotFound) {
          if (errors_++ == 0) first_error_ = s;
          // Nothing answers: stop rather than wait out every request.
          if (exit_code_of(s.code()) == 3) stopped_ = true;
        }
        ++completed_;
        progress_.update(completed_);
        if (group_done && !stopped_ && issued_ < o_.requests) {
          ++continuing_;
          if (t_call_depth > 0) {
            deferred_.push_back(index);
            done_cv_.notify_all();
          } else {
            continue_here = true;
          }
        } else if (finished()) {
          // Under the lock: go() cannot return before it is released.
          done_cv_.notify_all();
        }
      }
      if (continue_here) send_group(true);
    };
    std::vector<std::string> keys = keys_of(index);
    struct Depth {
      Depth() { ++t_call_depth; }
      ~Depth() { --t_call_depth; }
    } in_call;
    if (test_ == "set") {
      client_.set_async(std::move(keys[0]), value_, o_.consistency, finish);
    } else if (test_ == "get") {
      client_.get_async(std::move(keys[0]), o_.consistency,
                        [finish](dendrite::Result<std::string> r) { finish(r.status()); });
    } else if (test_ == "del") {
      client_.del_async(std::move(keys[0]), o_.consistency, finish);
    } else if (test_ == "mset") {
      std::vector<dendrite::client::KeyValue> items;
      items.reserve(keys.size());
      for (auto& k : keys) items.push_back({std::move(k), value_});
      client_.set_multi_async(std::move(items), o_.consistency,
                              [finish](std::vector<Status> all) { finish(first_failure(all)); });
    } else {
      client_.get_multi_async(std::move(keys), o_.consistency,
                              [finish](std::vector<dendrite::Result<std::string>> all) {
                                Status worst;
                                for (const auto& r : all) {
                                  if (!r.ok() && r.status().code() != StatusCode::kNotFound) {
                                    worst = r.status();
                                    break;
                                  }
                                }
                                finish(worst);
                              });
    }
  }

  static Status first_failure(const std::vector<Status>& all) {
    for (const auto& s : all) {
      if (!s.ok()) return s;
    }
    return Status();
  }

  dendrite::client::DtableClient& client_;
  const Options& o_;
  const std::string test_;
  const int keys_per_request_;
  const std::string value_;
  const std::string name_;
  std::vector<double> latencies_us_;  // one slot per request, written once
  Clock::time_point start_;

  std::mutex mu_;
  std::condition_variable done_cv_;
  long issued_ = 0;                     // GUARDED_BY(mu_)
  long completed_ = 0;                  // GUARDED_BY(mu_)
  long continuing_ = 0;                 // GUARDED_BY(mu_): groups about to be continued
  bool stopped_ = false;                // GUARDED_BY(mu_): send no more
  long errors_ = 0;                     // GUARDED_BY(mu_)
  Status first_error_;                  // GUARDED_BY(mu_)
  std::deque<long> deferred_;           // GUARDED_BY(mu_): groups to continue from go()
  std::mt19937_64 rng_;                 // GUARDED_BY(mu_)
  dendrite::bench::Progress progress_;  // GUARDED_BY(mu_)
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string t; std::getline(in, t, ',');) {
    if (!t.empty()) out.push_back(t);
  }
  return out;
}

// The test's name as redis-benchmark prints it.
std::string name_of(const std::string& test, int multi_keys) {
  std::string upper = test;
  for (auto& ch : upper) ch = static_cast<char>(ch - 'a' + 'A');
  if (test == "mset" || test == "mget") upper += " (" + std::to_string(multi_keys) + " keys)";
  return upper;
}

int usage_error(const std::string& what) {
  std::fprintf(stderr, "dendrite-bench: %s\n", what.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{
      "dendrite-bench: dtable load generator (like redis-benchmark)\n"
      "exit: 0 ok, 1 request errors, 2 usage, 3 unreachable or timed out, 4 consistency not met"};
  app.add_option("--node", o.node, "a node of the ring, H:P")->capture_default_str();
  app.add_option("--curve-secret-key", o.curve_secret_key_file,
                 "the client's CURVE secret key file (else $DENDRITE_CURVE_SECRET_KEY_FILE)");
  app.add_option("--curve-node", o.curve_nodes,
                 "a node's server key, 'KEY host:port' or a file of such lines; repeatable (else "
                 "$DENDRITE_CURVE_NODES)");
  app.add_option("-n", o.requests, "total requests per test")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("-c", o.clients, "parallel clients")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("-P", o.pipeline, "requests each client sends at once (pipelining)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("-t", o.tests, "tests, comma-separated: set,get,del,mset,mget")
      ->capture_default_str();
  app.add_option("-d", o.value_size, "value size in bytes")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("-r", o.keyspace, "keys key:000000000000 .. key:<r-1> (12 digits) instead of one")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--sequential", o.sequential,
               "with -r: request i uses key i mod r (mset/mget: keys iK .. iK+K-1) instead of "
               "random keys; -n r -r r writes every key once");
  app.add_option("--multi-keys", o.multi_keys, "keys per mset/mget request")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--consistency", o.consistency, "copies written/read")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--timeout", o.timeout_ms, "per-request timeout in ms (also bounds connecting)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_flag("--csv", o.csv, "CSV output, redis-benchmark's columns");
  app.add_flag("-q", o.quiet, "one summary line per test");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    return usage_error(e.what());
  }
  const std::vector<std::string> tests = split(o.tests);
  if (tests.empty()) return usage_error("-t: no test given (tests: set, get, del, mset, mget)");
  for (const auto& t : tests) {
    if (t != "set" && t != "get" && t != "del" && t != "mset" && t != "mget") {
      return usage_error("-t: unknown test '" + t + "' (tests: set, get, del, mset, mget)");
    }
  }
  if (o.sequential && o.keyspace <= 0) return usage_error("--sequential needs -r");

  dendrite::client::DtableClientOptions copts;
  copts.timeout = std::chrono::milliseconds(o.timeout_ms);
  auto credentials = dendrite::client::Credentials::from_flags_or_environment(
      o.curve_secret_key_file, o.curve_nodes);
  if (!credentials.ok()) return usage_error(credentials.status().message());
  copts.credentials = std::move(credentials).value();
  auto client = dendrite::client::DtableClient::connect(o.node, copts);
  if (!client.ok()) {
    std::fprintf(stderr, "dendrite-bench: cannot reach %s: %s\n", o.node.c_str(),
                 client.status().to_string().c_str());
    const int code = exit_code_of(client.status().code());
    return code == 1 ? 3 : code;
  }
  if (o.consistency > (*client)->max_consistency()) {
    return usage_error("--consistency " + std::to_string(o.consistency) +
                       " is out of range: the maximum is " +
                       std::to_string((*client)->max_consistency()) + " (replicas + 1)");
  }

  if (o.csv) dendrite::bench::print_csv_header();
  char setup[160];
  std::snprintf(setup, sizeof setup,
                "%d parallel clients, %d requests in flight each, %d bytes payload, "
                "consistency %d",
                o.clients, o.pipeline, o.value_size, o.consistency);
  int exit_code = 0;
  for (const auto& t : tests) {
    const std::string name = name_of(t, o.multi_keys);
    Outcome r = Run(**client, o, t, name).go();
    if (o.csv) {
      dendrite::bench::print_csv_row(r.report);
    } else if (o.quiet) {
      dendrite::bench::print_quiet_line(r.report);
    } else {
      dendrite::bench::print_full(r.report, setup);
    }
    std::fflush(stdout);
    if (r.errors > 0) {
      std::fprintf(stderr, "dendrite-bench: %s: %ld of %ld requests failed (first: %s)\n",
                   name.c_str(), r.errors, r.report.requests, r.first_error.to_string().c_str());
      exit_code = exit_code_of(r.first_error.code());
      break;
    }
  }
  if (o.quiet && !o.csv) std::printf("\n");
  return exit_code;
}
