// The workload: writer threads that each own their keys and record every
// write they attempt (acknowledged or not), and reader threads that check each
// value they read was written to that key. Runs against a ring through one
// DtableClient.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dendrite/client/dtable_client.h"

namespace dendrite::faults {

using Clock = std::chrono::steady_clock;

// One write a writer attempted.
struct WriteOp {
  std::uint64_t seq = 0;  // per writer, increasing
  bool deleted = false;   // a del (else a set of `value`)
  std::string value;
  int consistency = 1;
  bool acked = false;       // the client returned ok
  Clock::time_point done;   // when the call returned
  Clock::time_point start;  // when the call was made
};

// Every write of one key, in the order its (single) writer issued them.
struct KeyHistory {
  std::string key;
  std::vector<WriteOp> ops;
};

// Workload size and mix.
struct WorkloadOptions {
  int writers = 4;
  int readers = 1;
  int keys_per_writer = 40;
  double delete_fraction = 0.15;
  std::chrono::milliseconds pause_between_ops{5};
  std::uint64_t seed = 1;
};

// Counters of the run, readable while it runs.
struct WorkloadCounts {
  std::atomic<std::uint64_t> attempted{0};
  std::atomic<std::uint64_t> acked{0};
  std::atomic<std::uint64_t> reads{0};
  std::atomic<std::uint64_t> wrong_reads{0};  // a value never written to that key
};

// Starts its threads in start(), stops and joins them in stop() (or the
// destructor). The histories are read after stop().
class Workload {
 public:
  Workload(client::DtableClient& client, WorkloadOptions options);
  ~Workload();
  Workload(const Workload&) = delete;
  Workload& operator=(const Workload&) = delete;

  void start();
  // Asks every thread to finish its current call and joins them (each call is
  // bounded by the client's timeout and attempts).
  void stop();
  const WorkloadCounts& counts() const { return counts_; }
  // Every key's history. Only after stop().
  const std::vector<KeyHistory>& histories() const { return histories_; }

  // The value a writer writes: "<key>/<seq>", so a reader can tell which key
  // and write a value comes from.
  static std::string value_for(const std::string& key, std::uint64_t seq);

 private:
  void writer(int w);
  void reader(int r);

  client::DtableClient& client_;
  WorkloadOptions options_;
  std::vector<KeyHistory> histories_;                 // writer w owns [w*K, (w+1)*K)
  std::vector<std::atomic<std::uint64_t>> next_seq_;  // per writer: seqs issued so far
  WorkloadCounts counts_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

}  // namespace dendrite::faults
