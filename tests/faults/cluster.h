// A ring of dendrited processes with the dtable plugin, on 127.0.0.1 (each on
// an ephemeral port it keeps across restarts, so a restarted node rejoins with
// the same vnode ids) or each in its own network namespace (NetLab, fixed
// port). The faults the nemeses inject: process signals, partitions (netns
// only) and wall-clock jumps (nodes under libfaketime).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "dendrite/client/credentials.h"
#include "dendrite/vnode.h"
#include "faults/netlab.h"
#include "support/child_process.h"

namespace dendrite::faults {

// How the nodes are configured (written into each node's JSON config).
struct ClusterOptions {
  std::string dendrited;  // path of the dendrited program
  std::string dir;        // configs and logs (<name>.json/.out/.err)
  int nodes = 5;
  int vnodes = 3;
  int replicas = 2;
  int num_successors = 8;
  std::chrono::milliseconds timeout{1000};  // the nodes' timeout_ms
  int check_interval_ms = 1000;             // dtable's self-check (re-replication)
  int tombstone_grace_ms = 60000;           // dtable's tombstone lifetime
  // Run each node in its own network namespace (partitions possible). Needs
  // NetLab::available().
  bool netns = false;
  // libfaketime's library: when set every node runs with it preloaded and its
  // own offset file (<dir>/<name>.faketime), so jump_clock() works. Only the
  // wall clock is faked (FAKETIME_DONT_FAKE_MONOTONIC=1).
  std::string faketime_lib;
  // Every node, and the harness's clients, speak CURVE: a key pair per node
  // and one for the clients under <dir>/keys/, the lists in <dir>/keys/.
  bool curve = false;
};

// Owns every dendrited it starts; the destructor SIGKILLs whatever still runs
// (stopped nodes included). Not thread-safe: use it from the main thread (the
// children die with the thread that started them).
class Cluster {
 public:
  explicit Cluster(ClusterOptions options);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Makes the namespaces (netns), starts every node (the first creates the
  // ring, the others join it) and waits until they answer. False (with `error`
  // set) on failure.
  bool start(std::string* error);

  int size() const { return static_cast<int>(nodes_.size()); }
  const std::string& address(int i) const { return nodes_[i].address; }
  // Running and not stopped.
  bool up(int i);
  // The addresses of the nodes that are up.
  std::vector<std::string> up_addresses();

  // kill -9: the node loses everything it held in memory.
  void kill9(int i);
  // SIGSTOP / SIGCONT: the node freezes, its peers time out on it.
  void pause(int i);
  void resume(int i);
  // SIGTERM: a graceful leave (dtable hands its keys over); waits up to
  // `limit` for the exit. Its exit code, or nullopt when it had to be killed.
  std::optional<int> leave(int i, std::chrono::milliseconds limit);
  // Cuts the nodes of `group` off from the others (the harness still reaches
  // them all); heal_partition() undoes it. False when not netns or `ip` failed.
  bool partition(const std::vector<int>& group);
  bool heal_partition();
  // Silent one-way drops (NetLab::drop); undrop() removes them all. False when
  // not netns or iptables failed.
  bool drop(const std::vector<std::pair<int, int>>& pairs);
  bool undrop();
  // Sets node i's wall clock to real time + `offset` (libfaketime; takes
  // effect at the node's next clock reading). False without faketime_lib.
  bool jump_clock(int i, std::chrono::seconds offset);

  // Starts node `i` again (after kill9 or leave), joining through the nodes
  // that are up; waits up to `limit` for it to answer.
  bool restart(int i, std::chrono::milliseconds limit);

  // The ring the up nodes should form: all their vnodes, sorted by id.
  std::vector<Vnode> expected_ring();
  // True when every up node reports the true predecessor and full, true
  // successor lists for each of its vnodes, and a successor walk from every up
  // node gives expected_ring(). `detail` says what differs when false.
  bool ring_correct(std::string* detail);
  // Polls ring_correct() until true or `limit` passes.
  bool wait_settled(std::chrono::milliseconds limit, std::string* detail);
  // The nodes' stderr logs, for a failure report.
  std::string logs_tail(std::size_t bytes_per_node);
  // The clients' CURVE credentials (nullptr without `curve`); set by start().
  const std::shared_ptr<const client::Credentials>& credentials() const { return credentials_; }

 private:
  struct Node {
    std::string name;
    std::string address;
    std::unique_ptr<test::ChildProcess> child;
    bool stopped = false;
  };
  bool launch(int i, const std::vector<std::string>& join, std::chrono::milliseconds limit);
  // Writes the key pairs and lists of `curve`, and loads credentials_.
  bool make_keys(std::string* error);

  ClusterOptions options_;
  NetLab net_;  // before nodes_: the processes die before their namespaces go
  std::vector<Node> nodes_;
  std::shared_ptr<const client::Credentials> credentials_;
};

}  // namespace dendrite::faults
