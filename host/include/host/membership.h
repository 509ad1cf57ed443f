// The hosts a node remembers: its seeds and every host its ring view has shown,
// each up, down (unreachable: probed with a growing pause) or left (said
// goodbye: not probed). Hosts are dropped only by an operator (forget()) or
// after staying down longer than `forget_after`, never because failure
// detection took them out of the ring: that is what lets two rings that a
// partition made find each other again (docs/ring.md "Partitions").
// Bookkeeping only, with the time passed in; the RingHealer probes and merges.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "dendrite/host.h"
#include "dendrite/vnode.h"

namespace dendrite::host {

struct MembershipConfig {
  Milliseconds probe_min{1000};  // first pause before probing a host that went down
  Milliseconds probe_max{8000};  // the pause doubles up to this
  // How often an up host outside this node's ring view is checked to be in the
  // same ring (hosts in the view are checked by stabilisation itself).
  Milliseconds verify{30000};
  Milliseconds forget_after{std::chrono::hours(24)};  // down this long: forgotten
};

enum class HostState { kUp, kDown, kLeft };
const char* host_state_name(HostState s);

// What a probe found.
enum class ProbeOutcome {
  kSameRing,   // answered, and both rings contain each other's vnodes
  kOtherRing,  // answered, but it is in another ring: a merge was started
  kNoAnswer,   // no answer within the timeout, or refused
};

// A remembered host as seen at one moment.
struct RememberedHost {
  using TimePoint = std::chrono::steady_clock::time_point;
  std::string address;
  HostState state = HostState::kUp;
  bool seed = false;
  bool in_view = false;    // among this node's predecessors, successors or fingers
  TimePoint next_probe{};  // meaningful when probe_scheduled
  bool probe_scheduled = false;
  bool probing = false;  // a probe is in flight
  // Dropped out of the ring view and not heard from since: not counted as
  // reachable until a probe answers (Member::reachable).
  bool suspect = false;
  // It said goodbye while a probe was in flight: that probe's answer (sent
  // before the Leave) does not make it up again.
  bool left_while_probing = false;
  Milliseconds backoff{0};  // the current pause between probes while down
  TimePoint down_since{};   // meaningful when state == kDown
  std::uint64_t probes = 0;
  std::uint64_t failed_probes = 0;
  // Its vnodes, sorted by id: as it listed them when it last answered a probe,
  // plus any other seen in the ring view since.
  std::vector<Vnode> vnodes;
  bool listed = false;  // `vnodes` came from the host itself at least once
};

// Thread-safe: every method may be called from any thread.
class Membership {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;

  // `self` (this node's advertised address) is never remembered.
  Membership(std::string self, MembershipConfig config);

  // Remembers a seed (a --join address): up, probed at once so that a node
  // that joined through it checks it is in the same ring.
  void add_seed(const std::string& host, TimePoint now);

  // The hosts in the ring view now, each with the vnodes of it seen there.
  // Each is up and in view (remembered if new,
  // its probe pause reset). A host that was in view and is not any more gets a
  // probe at once: it may be down, or merely out of view. A left host in view
  // is probed after probe_min: it is up again only if it answers (it rejoined;
  // pointers to it just after its Leave do not count).
  // A host seen for the first time is probed at once (to learn its vnodes).
  void observe_view(const std::map<std::string, std::vector<Vnode>>& hosts, TimePoint now);

  // The vnodes `host` listed itself (a probe's answer): replaces what was known.
  void listed(const std::string& host, std::vector<Vnode> vnodes);

  // `host` said it is leaving (a graceful Leave): kept as left, not probed
  // unless it shows up in the view again.
  void left(const std::string& host);

  // Drops `host` (an operator's `forget`). It is remembered again only if it
  // shows up in the ring view. False when it was not remembered.
  bool forget(const std::string& host);

  // The hosts whose probe is due, marked as being probed.
  std::vector<std::string> take_due(TimePoint now);

  // Records the outcome of the probe of `host` started by take_due(). Returns
  // the host's state before and after (both kUp for a host forgotten meanwhile).
  std::pair<HostState, HostState> probe_done(const std::string& host, ProbeOutcome outcome,
                                             TimePoint now);

  // Forgets hosts down for longer than forget_after; returns them.
  std::vector<std::string> expire(TimePoint now);

  // When the next probe is due (nullopt-like: TimePoint::max() when none is).
  TimePoint next_due() const;

  std::vector<RememberedHost> snapshot() const;
  // The members as plugins see them (Host::members()): every up or down host
  // with its vnodes, and this one (`self_vnodes`), sorted by host.
  std::vector<Member> members(const std::vector<Vnode>& self_vnodes) const;
  // Remembered hosts by state: {up, down, left}.
  std::array<std::size_t, 3> counts() const;

 private:
  RememberedHost& remember(const std::string& host);  // REQUIRES: mu_ held
  void schedule(RememberedHost& h, TimePoint at);     // REQUIRES: mu_ held

  const std::string self_;
  const MembershipConfig cfg_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, RememberedHost> hosts_;  // GUARDED_BY(mu_)
};

}  // namespace dendrite::host
