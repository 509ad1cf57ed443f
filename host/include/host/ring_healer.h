// Keeps a node's ring whole across partitions: remembers the hosts it has seen
// (Membership), probes the lost ones with a growing pause, checks now and then
// that hosts it reaches are in its ring, and merges rings (ring_merge.h) when
// a probe finds a live host in another one. One thread of its own.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dendrite/metrics.h"
#include "host/membership.h"
#include "host/network.h"
#include "host/ring.h"

namespace dendrite::host {

struct HealerConfig {
  Milliseconds timeout{5000};  // per request (probes, walks, Notifies)
  int list_len = 8;            // successor list length asked for while walking a ring
  std::size_t max_walk = std::size_t{1} << 16;  // vnodes one ring walk may collect
};

// Thread-safe. start()/stop() from the node's controlling thread; tick() from
// one thread at a time (the healer's own once started, or a test's).
class RingHealer {
 public:
  using Clock = std::chrono::steady_clock;

  // Probes and records into `membership` (seeds added by the caller).
  // `merged` runs after a merge sent Notifies (the node asks for a prompt
  // stabilisation of every local vnode); it must not block. `ring`, `net`,
  // `membership` and `metrics` must outlive the healer.
  RingHealer(Ring& ring, Network& net, Membership& membership, HealerConfig config,
             MetricsRegistry& metrics, std::function<void()> merged);
  ~RingHealer();  // stop()
  RingHealer(const RingHealer&) = delete;
  RingHealer& operator=(const RingHealer&) = delete;

  void start();
  // Waits for the pass under way (bounded by a few request timeouts). Idempotent.
  void stop();

  // One pass: takes in the ring view, probes every host that is due (in
  // parallel), merges with those in another ring, forgets long-down hosts.
  // Blocking (network).
  void tick(Clock::time_point now);

  Membership& membership() { return membership_; }

 private:
  struct Probe;
  void run();
  ProbeOutcome check(const std::string& host, const std::vector<Vnode>& theirs);

  Ring& ring_;
  Network& net_;
  Membership& membership_;
  const HealerConfig cfg_;
  std::function<void()> merged_;

  Counter& probes_same_;
  Counter& probes_other_;
  Counter& probes_none_;
  Counter& merges_started_;
  Counter& merges_finished_;
  Counter& merge_notifies_;
  CollectorHandle gauges_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace dendrite::host
