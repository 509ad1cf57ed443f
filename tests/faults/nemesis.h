// Nemeses: seeded, repeatable schedules of faults (process signals, network
// partitions, wall-clock jumps) and the code that applies them to a Cluster.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "faults/checker.h"
#include "faults/cluster.h"

namespace dendrite::faults {

// One fault kind.
enum class FaultKind {
  kKill,       // kill -9, hold, restart with rejoin
  kPause,      // SIGSTOP for longer than the timeout, then SIGCONT
  kLeave,      // SIGTERM (graceful leave), hold, restart with rejoin
  kPartition,  // cut a minority of nodes off from the rest (netns), hold, heal
  kClock,      // jump one node's wall clock (libfaketime), hold, jump it back
  // Silent cuts (iptables DROP, netns), held for 8-12 timeouts: far longer
  // than failure detection, so each side becomes a ring of its own.
  kSplit,   // two-way: a group of any size (minority or majority) from the rest,
            // sometimes with a kill -9 and restart on the bigger side meanwhile
  kOneWay,  // one direction only: a node drops all it receives, or one pair
};

// "kill", "pause", "leave", "partition", "clock".
std::string fault_name(FaultKind kind);

// One step of a schedule: wait `gap`, inject `kind` on node `node`, keep it
// for `hold`, heal, then wait (bounded) for the ring to settle.
struct FaultStep {
  FaultKind kind;
  int node = 0;
  std::chrono::milliseconds gap{0};
  std::chrono::milliseconds hold{0};
  std::vector<int> group;                  // kPartition: the nodes cut off (node included)
  std::chrono::seconds clock_jump{0};      // kClock: the offset from real time while held
  std::vector<std::pair<int, int>> drops;  // kSplit, kOneWay: (from, to) pairs dropped at `to`
  int kill_during = -1;                    // kSplit: a node killed and restarted while cut
};

// What the environment allows (`mixed` draws from these too).
struct NemesisCaps {
  bool partition = false;  // network namespaces
  bool clock = false;      // libfaketime
  bool drops = false;      // network namespaces and iptables
};

// The steps for `scenario` ("kill", "pause", "leave", "partition", "clock" or
// "mixed": kill, pause, leave, and partition / clock when `caps` has them)
// filling about `duration` (the settle waits come on top), for a cluster of
// `nodes` nodes whose timeout is `timeout`. The same arguments always give the
// same steps. Empty when the scenario is unknown.
std::vector<FaultStep> make_schedule(const std::string& scenario, std::uint64_t seed,
                                     std::chrono::milliseconds duration, int nodes,
                                     std::chrono::milliseconds timeout, NemesisCaps caps = {});

// What applying a schedule did.
struct NemesisReport {
  int faults = 0;
  int settle_timeouts = 0;                // heals after which the ring did not settle in time
  std::chrono::milliseconds max_heal{0};  // longest heal -> correct ring
  std::vector<std::string> events;        // one line per action, with its time
  FailureLog failures;                    // kills (until restart) and partitions
};

// Applies `steps` to `cluster` on the calling thread (the main thread: it
// starts the restarted nodes). Every wait is bounded; each heal waits at most
// `settle_limit` for a correct ring.
NemesisReport run_schedule(Cluster& cluster, const std::vector<FaultStep>& steps,
                           std::chrono::milliseconds settle_limit);

}  // namespace dendrite::faults
