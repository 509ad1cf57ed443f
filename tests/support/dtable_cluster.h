// Test support for the dtable integration tests: in-process nodes that load
// the built dtable plugin (DENDRITE_PLUGIN_DIR), with fast stabilisation and a
// fast self-check, and each node's "dtable" service at hand. Header-only.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "dendrite/dtable/dtable.h"
#include "host/node.h"
#include "support/cluster.h"
#include "support/programs.h"

namespace dendrite::test {

// The dtable plugin config of the tests: a quick self-check and grace, the
// tables in memory (the nodes of one process share its working directory).
inline std::string dtable_test_settings() {
  return R"({"check_interval_ms": 300, "tombstone_grace_ms": 4000,)"
         R"( "settle_ms": 5000, "batch_items": 128, "storage": {"engine": "memory"}})";
}

// A node config with dtable (replicas 2, 3 vnodes) joining `join`.
inline host::Config dtable_node_config(std::vector<std::string> join,
                                       const std::string& settings = dtable_test_settings()) {
  host::Config c = test_config(std::move(join), /*vnodes=*/3);
  c.replicas = 2;
  c.timeout = Milliseconds(500);
  c.plugin_dir = plugin_dir();
  c.plugins.push_back(host::PluginSpec{"dtable", std::nullopt, settings});
  return c;
}

// Polls `cond` every 20 ms for up to `limit`.
inline bool wait_until(const std::function<bool()>& cond,
                       std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

// Nodes running dtable, each with its Table service. Not thread-safe (the
// tables are).
class DtableCluster {
 public:
  DtableCluster() = default;
  ~DtableCluster() {
    for (auto& t : tables_) t.reset();  // consumers drop the service before the node stops
  }

  // Starts a node (joining the first live one) and takes its service. `extra`
  // plugins load after dtable.
  std::size_t add(const std::string& settings = dtable_test_settings(),
                  const std::vector<host::PluginSpec>& extra = {}) {
    host::Config config = next_config(settings);
    config.plugins.insert(config.plugins.end(), extra.begin(), extra.end());
    return add(std::move(config));
  }

  // The config add(settings) starts a node with (joining the first live
  // node), for a test to change before add(config).
  host::Config next_config(const std::string& settings = dtable_test_settings()) {
    std::vector<std::string> seeds;
    for (std::size_t i : cluster_.live()) {
      seeds.push_back(cluster_.node(i).address());
      break;
    }
    return dtable_node_config(seeds, settings);
  }

  // Starts a node of `config` (which loads dtable) and takes its service.
  std::size_t add(host::Config config) {
    const std::size_t i = cluster_.add(std::move(config));
    auto found = cluster_.node(i).host_services().get_service<dtable::Table>(dtable::kServiceName);
    EXPECT_TRUE(found.ok()) << found.status().to_string();
    tables_.resize(i + 1);
    if (found.ok()) tables_[i] = std::move(found).value();
    return i;
  }

  dtable::Table& table(std::size_t i) { return *tables_.at(i); }
  host::Node& node(std::size_t i) { return cluster_.node(i); }
  std::vector<std::size_t> live() const { return cluster_.live(); }
  Cluster& ring() { return cluster_; }

  // Crash: the node stops serving without leaving, so dtable hands nothing over.
  void kill(std::size_t i) {
    tables_.at(i).reset();
    cluster_.kill(i);
  }
  // Graceful leave: dtable hands its keys over, then the node leaves the ring.
  void leave(std::size_t i) {
    tables_.at(i).reset();
    cluster_.leave(i);
  }

  std::string wait_converged() { return cluster_.wait_converged(); }

  // The vnode that owns `key` by the live nodes' ids.
  Vnode owner_of(const std::string& key) const {
    return Cluster::owner(cluster_.all_vnodes(), Id::hash(key));
  }
  // The index of the live node serving `v`.
  std::optional<std::size_t> node_of(const Vnode& v) {
    for (std::size_t i : cluster_.live()) {
      if (cluster_.node(i).address() == v.host) return i;
    }
    return std::nullopt;
  }

  // The visible copies of `key` on node i: the newest committed version of
  // each table (primary or replica) of each local vnode.
  std::vector<dtable::StoredCopy> visible(std::size_t i, const std::string& key) {
    std::vector<dtable::StoredCopy> out;
    for (const auto& c : tables_.at(i)->stored_copies(key)) {  // oldest first per table
      if (!c.committed) continue;
      if (!out.empty() && out.back().vnode == c.vnode && out.back().role == c.role) {
        out.back() = c;
      } else {
        out.push_back(c);
      }
    }
    return out;
  }
  // The hosts holding a visible copy of `key` with `value`.
  std::set<std::string> hosts_with(const std::string& key, const std::string& value) {
    std::set<std::string> hosts;
    for (std::size_t i : cluster_.live()) {
      for (const auto& c : visible(i, key)) {
        if (!c.deleted && c.value == value) hosts.insert(c.vnode.host);
      }
    }
    return hosts;
  }
  // `count` keys "<prefix><n>" whose owner is a vnode of node i (fewer when
  // 100 x count candidates do not hold that many).
  std::vector<std::string> keys_owned_by(std::size_t i, int count, const std::string& prefix) {
    std::vector<std::string> keys;
    const std::string host = node(i).address();
    for (int n = 0; static_cast<int>(keys.size()) < count && n < 100 * count; ++n) {
      std::string key = prefix + std::to_string(n);
      if (owner_of(key).host == host) keys.push_back(std::move(key));
    }
    return keys;
  }

  // True when the owner of `key` holds `value` as its primary copy.
  bool on_owner(const std::string& key, const std::string& value) {
    const Vnode owner = owner_of(key);
    auto i = node_of(owner);
    if (!i) return false;
    for (const auto& c : tables_[*i]->stored_copies(key)) {
      if (c.role == dtable::StoredCopy::Role::kPrimary && c.vnode == owner && c.committed &&
          !c.deleted && c.value == value) {
        return true;
      }
    }
    return false;
  }

 private:
  Cluster cluster_;
  std::vector<std::shared_ptr<dtable::Table>> tables_;
};

}  // namespace dendrite::test
