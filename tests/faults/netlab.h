// Network namespaces for the partition nemesis: each dendrited runs in its own
// namespace with one veth into a bridge in a hub namespace; the harness (in
// the root namespace) reaches every node through one more veth into the hub.
// A partition is made of blackhole routes inside the nodes' namespaces and
// healed by removing them. Needs root and iproute2 (`ip`). Every namespace and
// link it creates it removes again (destructor), and start() first removes
// what earlier runs of a dead harness left behind (names "dfz<pid>-...").
#pragma once

#include <set>
#include <string>
#include <utility>
#include <vector>

namespace dendrite::faults {

// Runs `argv` (argv[0] is looked up in PATH, /usr/sbin and /sbin), waits for
// it, and returns its exit code (127 when it could not run); its stdout goes
// to `out` when given, stderr is discarded. Call from the main thread only.
int run_command(const std::vector<std::string>& argv, std::string* out = nullptr);

// The path of iproute2's `ip`, or "" when there is none.
std::string ip_program();

class NetLab {
 public:
  NetLab() = default;
  ~NetLab();
  NetLab(const NetLab&) = delete;
  NetLab& operator=(const NetLab&) = delete;

  // True when namespaces can be made here (root, `ip`, and a probe namespace
  // could be added and deleted); otherwise false with the reason in `why`.
  static bool available(std::string* why);
  // Removes namespaces and links named "dfz<pid>-..." / "dfz<pid>r..." whose
  // harness process <pid> no longer runs.
  static void remove_stale();

  // Makes the hub (bridge), the root link and `nodes` node namespaces, each
  // with lo up and one address on a private /24 that no interface of the root
  // namespace uses yet (10.77.S.0/24, S chosen per run). False with `error`
  // set on failure (what was made is removed by the destructor).
  bool start(int nodes, std::string* error);
  // Removes every namespace and link this lab made (also done by the destructor).
  void stop();

  // "ip netns exec <ns>": the prefix that runs a program in node i's namespace.
  std::vector<std::string> exec_prefix(int i) const;
  // Node i's address on the private subnet ("10.77.S.<i+1>").
  std::string node_ip(int i) const;

  // Cuts every node of `group` off from every node not in it (both ways) with
  // blackhole routes; the harness still reaches all of them. False when an
  // `ip` command failed.
  bool partition(const std::vector<int>& group);
  // Removes the routes of the current partition.
  bool heal();
  // The nodes currently cut off (empty when healed).
  const std::vector<int>& cut() const { return cut_; }

  // Silent cuts with iptables (`iptables` must be installed): for each pair
  // (from, to), node `to` drops every packet node `from` sends it, without an
  // answer, so TCP only times out (unlike blackhole routes, which fail fast).
  // A two-way partition lists both directions. Adds to the drops in force.
  // False when `iptables` is missing or failed.
  bool drop(const std::vector<std::pair<int, int>>& pairs);
  // Removes every drop (flushes the nodes' INPUT chains).
  bool undrop();
  // True when `iptables` works inside a node namespace here.
  static bool drops_available();

 private:
  bool ip(const std::vector<std::string>& args);
  std::string ns_name(int i) const;

  std::string ip_;
  std::string prefix_;  // "dfz<pid>-<run>"
  std::string root_link_;
  std::string hub_;
  int subnet_ = -1;
  int nodes_ = 0;
  std::vector<std::string> made_ns_;
  bool made_root_link_ = false;
  std::vector<int> cut_;
  bool dropping_ = false;
};

}  // namespace dendrite::faults
