// Test support: many Rings in one process over the in-memory network, driven
// round by round, and checks of their state against the true ring computed
// from the live hosts' vnode ids. Header-only; used by the ring's unit tests.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "host/ring.h"
#include "support/mem_network.h"

namespace dendrite::test {

using host::Ring;
using host::RingConfig;
using host::VnodeState;

inline std::string addr(int i) {
  return "10.0.0." + std::to_string(i) + ":5000";
}

inline Id random_id(std::mt19937_64& rng) {
  Id::Bytes b;
  for (auto& x : b) x = static_cast<std::uint8_t>(rng());
  return Id(b);
}

// One host: its ring, the events it emitted and the stabilisations it asked for.
struct TestHost {
  std::string address;
  std::unique_ptr<Ring> ring;
  bool up = false;  // in the ring (created/joined, not killed or left)

  mutable std::mutex mu;
  std::vector<RingEvent> events;       // GUARDED_BY(mu)
  std::vector<std::size_t> requested;  // GUARDED_BY(mu)

  std::vector<RingEvent> take_events() {
    std::lock_guard<std::mutex> lock(mu);
    return std::exchange(events, {});
  }
  std::vector<RingEvent> all_events() const {
    std::lock_guard<std::mutex> lock(mu);
    return events;
  }
};

class Cluster {
 public:
  explicit Cluster(int vnodes = 3, int r = 8, int replicas = 2)
      : vnodes_(vnodes), r_(r), replicas_(replicas) {}
  ~Cluster() {
    // Unregister every host before its ring goes away.
    for (auto& h : hosts_) net.remove(h->address);
  }

  TestHost& add_host(const std::string& address) {
    auto h = std::make_unique<TestHost>();
    h->address = address;
    RingConfig c;
    c.address = address;
    c.vnodes = vnodes_;
    c.num_successors = r_;
    c.replicas = replicas_;
    c.timeout = Milliseconds(1000);
    TestHost* raw = h.get();
    h->ring = std::make_unique<Ring>(c, net.endpoint(address), [raw](const RingEvent& e) {
      std::lock_guard<std::mutex> lock(raw->mu);
      raw->events.push_back(e);
    });
    h->ring->set_stabilize_requester([raw](std::size_t i) {
      std::lock_guard<std::mutex> lock(raw->mu);
      raw->requested.push_back(i);
    });
    Ring* ring = h->ring.get();
    net.add(address, [ring](const Message& m) { return ring->handle(m); });
    hosts_.push_back(std::move(h));
    return *hosts_.back();
  }

  TestHost& create(const std::string& address) {
    TestHost& h = add_host(address);
    h.ring->create();
    h.up = true;
    return h;
  }

  Status join(const std::string& address, const std::vector<std::string>& seeds) {
    TestHost& h = add_host(address);
    Status s = h.ring->join(seeds);
    h.up = s.ok();
    return s;
  }

  // A ring of `n` hosts: the first creates, each next joins through the first.
  void build(int n) {
    create(addr(1));
    for (int i = 2; i <= n; ++i) ASSERT_TRUE(join(addr(i), {addr(1)}).ok());
  }

  // The latest host added at `address`.
  TestHost& host(const std::string& address) {
    for (auto it = hosts_.rbegin(); it != hosts_.rend(); ++it) {
      if ((*it)->address == address) return **it;
    }
    throw std::runtime_error("no host " + address);
  }
  std::vector<TestHost*> up_hosts() {
    std::vector<TestHost*> out;
    for (auto& h : hosts_) {
      if (h->up) out.push_back(h.get());
    }
    return out;
  }

  void kill(const std::string& address) {
    host(address).up = false;
    net.kill(address);
  }

  // One stabilisation round of every vnode of every live host.
  void round() {
    for (TestHost* h : up_hosts()) {
      for (std::size_t i = 0; i < h->ring->vnode_count(); ++i) h->ring->stabilize(i);
    }
  }

  // Every vnode of the live hosts (of `only` when given), sorted by id.
  std::vector<Vnode> truth(const std::set<std::string>* only = nullptr) {
    std::vector<Vnode> all;
    for (TestHost* h : up_hosts()) {
      if (only != nullptr && only->count(h->address) == 0) continue;
      for (const Vnode& v : h->ring->local_vnodes()) all.push_back(v);
    }
    std::sort(all.begin(), all.end(), [](const Vnode& a, const Vnode& b) { return a.id < b.id; });
    return all;
  }

  // "" when every live vnode's predecessor and successor list are the true
  // ones (of the ring the hosts `only` would make, when given), else a
  // description of the first difference.
  std::string check(const std::set<std::string>* only = nullptr) {
    std::vector<Vnode> all = truth(only);
    const std::size_t n = all.size();
    const std::size_t len = n == 1 ? 1 : std::min<std::size_t>(r_, n - 1);
    for (std::size_t k = 0; k < n; ++k) {
      auto& ring = *host(all[k].host).ring;
      VnodeState s = ring.state(*ring.index_of(all[k].id));
      const Vnode& want_pred = all[(k + n - 1) % n];
      if (!s.predecessor || !(*s.predecessor == want_pred)) {
        return all[k].to_string() + ": predecessor " +
               (s.predecessor ? s.predecessor->to_string() : "none") + ", want " +
               want_pred.to_string();
      }
      std::vector<Vnode> want;
      for (std::size_t j = 1; j <= len; ++j) want.push_back(all[(k + j) % n]);
      if (n == 1) want = {all[k]};
      if (s.successors != want) {
        return all[k].to_string() + ": wrong successor list (first " +
               (s.successors.empty() ? "none" : s.successors[0].to_string()) + ", want " +
               want[0].to_string() + ", size " + std::to_string(s.successors.size()) + "/" +
               std::to_string(want.size()) + ")";
      }
    }
    return "";
  }

  // Runs rounds until the ring is correct; the number of rounds, or -1.
  int converge(int max_rounds = 60) {
    for (int i = 0; i < max_rounds; ++i) {
      if (check().empty()) {
        if (getenv("RING_DEBUG")) printf("converged in %d rounds\n", i);
        return i;
      }
      round();
    }
    return check().empty() ? max_rounds : -1;
  }

  // The true first `n` successors of `key` among the live vnodes.
  std::vector<Vnode> owners(const Id& key, std::size_t n) {
    std::vector<Vnode> all = truth();
    auto it = std::lower_bound(all.begin(), all.end(), key,
                               [](const Vnode& v, const Id& k) { return v.id < k; });
    std::size_t k = static_cast<std::size_t>(it - all.begin()) % all.size();
    std::vector<Vnode> out;
    for (std::size_t j = 0; j < std::min(n, all.size()); ++j)
      out.push_back(all[(k + j) % all.size()]);
    return out;
  }

  MemNetwork net;

 private:
  int vnodes_, r_, replicas_;
  std::vector<std::unique_ptr<TestHost>> hosts_;
};

}  // namespace dendrite::test
