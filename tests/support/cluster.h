// Test support: several Nodes in this process on 127.0.0.1 with ephemeral
// ports, fast stabilisation, and a check of the ring against the truth computed
// from the live nodes' vnode ids. Header-only.
#pragma once

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "host/node.h"

namespace dendrite::test {

// A config for a test node: ephemeral port, fast stabilisation and failure
// detection, no plugins.
inline host::Config test_config(std::vector<std::string> join = {}, int vnodes = 3,
                                int num_successors = 8) {
  host::Config c = host::default_config();
  c.listen = "127.0.0.1:0";
  c.advertise = "";
  c.join = std::move(join);
  c.vnodes = vnodes;
  c.num_successors = num_successors;
  c.stabilize_min = std::chrono::milliseconds(30);
  c.stabilize_max = std::chrono::milliseconds(90);
  c.timeout = std::chrono::milliseconds(400);
  c.workers.min = 2;
  c.workers.max = 16;
  c.plugins.clear();
  return c;
}

// Nodes of one ring. Not thread-safe; the nodes themselves are.
class Cluster {
 public:
  explicit Cluster(int vnodes = 3, int num_successors = 8)
      : vnodes_(vnodes), num_successors_(num_successors) {}
  ~Cluster() {
    for (auto& n : nodes_) {
      if (n) n->stop(false);
    }
  }

  // Starts a node that creates the ring (first) or joins through the first live
  // node. Returns its index. Fails the test on error.
  std::size_t add(host::Config config) {
    auto node = std::make_unique<host::Node>(std::move(config));
    Status s = node->start();
    EXPECT_TRUE(s.ok()) << s.to_string();
    nodes_.push_back(std::move(node));
    return nodes_.size() - 1;
  }
  std::size_t add() {
    std::vector<std::string> seeds;
    for (auto& n : nodes_) {
      if (n) {
        seeds.push_back(n->address());
        break;
      }
    }
    return add(test_config(seeds, vnodes_, num_successors_));
  }

  host::Node& node(std::size_t i) { return *nodes_.at(i); }
  bool alive(std::size_t i) const { return nodes_.at(i) != nullptr; }
  std::size_t size() const { return nodes_.size(); }
  std::vector<std::size_t> live() const {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i]) out.push_back(i);
    }
    return out;
  }

  // Crash: stop serving without telling anyone.
  void kill(std::size_t i) {
    nodes_.at(i)->stop(false);
    nodes_.at(i).reset();
  }
  // Graceful leave.
  void leave(std::size_t i) {
    nodes_.at(i)->stop(true);
    nodes_.at(i).reset();
  }

  // Every vnode of every live node, sorted by id.
  std::vector<Vnode> all_vnodes() const {
    std::vector<Vnode> all;
    for (auto& n : nodes_) {
      if (!n) continue;
      for (const Vnode& v : n->ring().local_vnodes()) all.push_back(v);
    }
    std::sort(all.begin(), all.end(), [](const Vnode& a, const Vnode& b) { return a.id < b.id; });
    return all;
  }

  // The first vnode whose id is >= key (wrapping): the key's owner.
  static Vnode owner(const std::vector<Vnode>& sorted, const Id& key) {
    auto it = std::lower_bound(sorted.begin(), sorted.end(), key,
                               [](const Vnode& v, const Id& k) { return v.id < k; });
    return it == sorted.end() ? sorted.front() : *it;
  }

  // Empty when every live vnode's predecessor and successor list are the true
  // ones; else a description of the first difference.
  std::string ring_difference() const {
    std::vector<Vnode> all = all_vnodes();
    const std::size_t n = all.size();
    const std::size_t want = std::min<std::size_t>(num_successors_, n > 1 ? n - 1 : 1);
    for (auto& node : nodes_) {
      if (!node) continue;
      for (std::size_t i = 0; i < node->ring().vnode_count(); ++i) {
        host::VnodeState s = node->ring().state(i);
        auto pos = std::find(all.begin(), all.end(), s.self) - all.begin();
        std::vector<Vnode> succ;
        for (std::size_t k = 1; succ.size() < want; ++k) succ.push_back(all[(pos + k) % n]);
        if (s.successors != succ) {
          return s.self.to_string() + ": successor list differs (first " +
                 (s.successors.empty() ? std::string("none") : s.successors[0].to_string()) +
                 ", want " + succ[0].to_string() + ", size " + std::to_string(s.successors.size()) +
                 " want " + std::to_string(want) + ")";
        }
        if (n > 1) {
          const Vnode& pred = all[(pos + n - 1) % n];
          if (!s.predecessor || *s.predecessor != pred) {
            return s.self.to_string() + ": predecessor " +
                   (s.predecessor ? s.predecessor->to_string() : std::string("unset")) + ", want " +
                   pred.to_string();
          }
        }
      }
    }
    return "";
  }

  // Polls (bounded) until the ring is correct; returns the last difference ("" = converged).
  std::string wait_converged(std::chrono::seconds limit = std::chrono::seconds(60)) const {
    auto deadline = std::chrono::steady_clock::now() + limit;
    std::string diff;
    while (std::chrono::steady_clock::now() < deadline) {
      diff = ring_difference();
      if (diff.empty()) return diff;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return diff;
  }

 private:
  int vnodes_;
  int num_successors_;
  std::vector<std::unique_ptr<host::Node>> nodes_;
};

}  // namespace dendrite::test
