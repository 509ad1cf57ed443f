// The ring simulator: many hosts, each running the host's own Ring
// (host/ring.h), in one process over the in-memory network of the tests
// (tests/support/mem_network.h). Nothing runs in the background: time is
// counted in stabilisation rounds, and a round calls Ring::stabilize() of every
// live vnode once, in a random order, on the calling thread. Everything is
// seeded, so a run is reproducible.
//
// Shared by bench/ringsim (the program behind docs/ringsim.md) and its unit test
// (ringsim_test.cc beside it). Not thread-safe: one thread drives a Simulation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dendrite/id.h"
#include "dendrite/status.h"
#include "dendrite/vnode.h"
#include "host/ring.h"
#include "host/ring_merge.h"

namespace dendrite::sim {

struct SimOptions {
  int vnodes_per_host = 1;
  int num_successors = 8;  // successor list length r
  std::uint64_t seed = 1;  // host addresses are fixed; this seeds keys, orders and choices
};

// One lookup through the ring, judged against brute force.
struct LookupOutcome {
  bool ok = false;            // the ring returned an answer
  bool correct = false;       // ... and its first entry is the key's owner among the live vnodes
  bool dead_answer = false;   // ... but that entry is a vnode of a failed host
  bool live_correct = false;  // the first live entry of the answer is the owner
  int hops = 0;               // FindSuccessors requests the lookup sent to other hosts
};

// How far the ring is from the truth computed from the live vnodes' ids.
struct RingCheck {
  std::size_t vnodes = 0;             // live vnodes checked
  std::size_t wrong_successor = 0;    // first successor is not the true one
  std::size_t wrong_list = 0;         // successor list is not the true min(r, n-1) successors
  std::size_t wrong_predecessor = 0;  // predecessor unset or not the true one
  std::size_t wrong_fingers = 0;      // finger table differs (only when asked for)

  bool successors_ok() const { return wrong_successor == 0; }
  bool ring_ok() const { return successors_ok() && wrong_list == 0 && wrong_predecessor == 0; }
  bool all_ok() const { return ring_ok() && wrong_fingers == 0; }
};

// The first vnode of `sorted` (by id, non-empty) whose id is >= key, wrapping:
// the key's owner.
const Vnode& owner(const std::vector<Vnode>& sorted, const Id& key);

// The distinct finger entries a vnode `self` of the ring `sorted` should have:
// successor(self + 2^i) for i = 0, 1, ..., in order, up to (not including) self.
std::vector<Vnode> true_fingers(const std::vector<Vnode>& sorted, const Vnode& self);

// The simulated address of host `index`: "10.a.b.c:7" (short enough for the
// small-string buffer, which keeps 10^5 hosts cheap).
std::string host_address(std::size_t index);

class Simulation {
 public:
  explicit Simulation(SimOptions options);
  ~Simulation();
  Simulation(const Simulation&) = delete;
  Simulation& operator=(const Simulation&) = delete;

  // Adds host number host_count() with its Ring; it is in no ring yet.
  std::size_t add_host();
  std::size_t host_count() const;
  const std::string& address(std::size_t host) const;
  host::Ring& ring(std::size_t host);

  // The first host makes a ring of its own.
  void create(std::size_t host);
  // Ring::join through `seed`'s address (which includes one round per vnode).
  Status join(std::size_t host, std::size_t seed);
  // Crash (MemNetwork::kill): the host stops answering and takes no rounds.
  void kill(std::size_t host);
  // Undoes kill(); its ring state is as it was at the kill.
  void revive(std::size_t host);
  // In the ring (created or joined) and not killed.
  bool up(std::size_t host) const;
  std::vector<std::size_t> live_hosts() const;
  // Every vnode of the live hosts (flagged in `only`, when given), sorted by id.
  std::vector<Vnode> live_vnodes(const std::vector<bool>* only = nullptr) const;

  // One stabilisation round: Ring::stabilize() of every vnode of every live
  // host once, in a random order.
  void round();
  // A round in descending id order, each vnode after its successor, so a
  // successor list passes back along the whole ring at once. A shortcut for
  // building rings (build()), not part of any measurement.
  void sweep();
  // One round of the live vnode `v` only.
  void stabilize(const Vnode& v);

  // Compares every live vnode's state with the truth (of the ring the hosts
  // flagged in `only` would make, when given: one side of a partition).
  RingCheck check(bool fingers, const std::vector<bool>* only = nullptr) const;

  // Partitions the hosts: those flagged in `side` from the others (calls
  // between the two sides time out). heal() undoes it.
  void split(const std::vector<bool>& side);
  void heal();
  // Ring unification (host/ring_merge.h) started by host `from` towards the
  // ring of host `to`.
  Result<host::MergeReport> merge(std::size_t from, std::size_t to);

  // Ring::lookup(r, key) from host `from`, judged against the live vnodes
  // (`sorted` = live_vnodes(), passed in so many lookups share it).
  LookupOutcome lookup(std::size_t from, const Id& key, const std::vector<Vnode>& sorted);

  // A uniformly random 160-bit key.
  Id random_key();
  std::mt19937_64& rng() { return rng_; }

  // Requests delivered by the network so far.
  std::uint64_t messages() const;

 private:
  class Endpoint;
  struct Host;

  SimOptions options_;
  std::mt19937_64 rng_;
  struct State;
  std::unique_ptr<State> state_;
};

// How right a ring is, from least to most.
enum class Level { kSuccessors, kRing, kFingers };

// The rounds after which each check of the ring first held (-1: not within
// the limit, or not waited for); 0 means it held before any round.
struct Convergence {
  int successors = -1;  // every first successor right
  int ring = -1;        // ... and every successor list and predecessor
  int fingers = -1;     // ... and every finger table
};

// Runs rounds until the ring is right up to `level`, at most `max_rounds`.
Convergence converge(Simulation& sim, int max_rounds, Level level = Level::kFingers);

// Builds a right ring (fingers included) of `hosts` new hosts quickly, a
// shortcut that is no measurement: the first host creates, each next one joins
// through a random host of the ring, and then the true predecessors of its
// vnodes (brute force) run a round, so the successors stay right; two sweeps
// then settle the lists and fingers, and random rounds whatever is left.
// Returns the random rounds needed (-1: not right after max_rounds).
int build(Simulation& sim, std::size_t hosts, int max_rounds);

// `joined` new hosts joining a ring of `before` at once.
struct MassJoin {
  std::size_t before = 0;
  std::size_t joined = 0;
  std::size_t join_errors = 0;  // joins that returned an error
  Convergence rounds;           // random rounds after the joins
};

// Adds `hosts` hosts that join at once, each through a random host of the
// ring as it was before, with no round in between other than the one
// Ring::join runs; then converge() up to `level`.
MassJoin mass_join(Simulation& sim, std::size_t hosts, int max_rounds, Level level);

}  // namespace dendrite::sim
