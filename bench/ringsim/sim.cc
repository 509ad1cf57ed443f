#include "sim.h"

#include <algorithm>
#include <atomic>
#include <iterator>
#include <unordered_map>

#include "dendrite/message.h"
#include "dendrite/metrics.h"
#include "host/network.h"
#include "host/ring_merge.h"
#include "support/mem_network.h"

namespace dendrite::sim {
namespace {

// Rings share a metrics registry per block of hosts: one registry per ring
// would cost memory, one for all would make registering collectors quadratic.
constexpr std::size_t kHostsPerRegistry = 1024;

}  // namespace

const Vnode& owner(const std::vector<Vnode>& sorted, const Id& key) {
  auto it = std::lower_bound(sorted.begin(), sorted.end(), key,
                             [](const Vnode& v, const Id& k) { return v.id < k; });
  return it == sorted.end() ? sorted.front() : *it;
}

std::vector<Vnode> true_fingers(const std::vector<Vnode>& sorted, const Vnode& self) {
  std::vector<Vnode> out;
  int i = 0;
  while (i < Id::kBits) {
    const Vnode& s = owner(sorted, self.id.plus_pow2(i));
    if (s.id == self.id) break;
    if (out.empty() || out.back().id != s.id) out.push_back(s);
    // Every later start that falls in (self, s] has the same finger.
    int j = i + 1;
    while (j < Id::kBits && between(self.id, s.id, self.id.plus_pow2(j), true)) ++j;
    i = j;
  }
  return out;
}

std::string host_address(std::size_t index) {
  return "10." + std::to_string((index >> 16) & 0xff) + "." + std::to_string((index >> 8) & 0xff) +
         "." + std::to_string(index & 0xff) + ":7";
}

// A host's view of the MemNetwork that counts the FindSuccessors requests it
// sends to other hosts: the hops of its lookups. (Requests to its own vnodes
// short-circuit in the real transport, so they are not hops.)
class Simulation::Endpoint final : public host::Network {
 public:
  Endpoint(test::MemNetwork& net, std::string address) : net_(net), address_(std::move(address)) {}

  const std::string& address() const override { return address_; }

  void call_async(const std::string& host, Message request, Milliseconds timeout,
                  ReplyCallback done) override {
    done(call(host, request, timeout));
  }

  Result<Message> call(const std::string& host, const Message& request, Milliseconds) override {
    if (request.type == msg::kFindSuccessors && host != address_) {
      remote_find_successors_.fetch_add(1, std::memory_order_relaxed);
    }
    return net_.deliver(address_, host, request);
  }

  std::uint64_t remote_find_successors() const { return remote_find_successors_.load(); }

 private:
  test::MemNetwork& net_;
  const std::string address_;
  std::atomic<std::uint64_t> remote_find_successors_{0};
};

struct Simulation::Host {
  std::string address;
  std::unique_ptr<Endpoint> endpoint;
  std::unique_ptr<host::Ring> ring;
  bool in_ring = false;
  bool killed = false;
};

struct Simulation::State {
  // Declared before the hosts: rings unregister from both when destroyed.
  std::vector<std::unique_ptr<MetricsRegistry>> registries;
  test::MemNetwork net;
  std::vector<std::unique_ptr<Host>> hosts;
  std::unordered_map<std::string, std::size_t> by_address;
};

Simulation::Simulation(SimOptions options)
    : options_(options), rng_(options.seed), state_(std::make_unique<State>()) {}

Simulation::~Simulation() {
  for (auto& h : state_->hosts) state_->net.remove(h->address);
  state_->hosts.clear();
}

std::size_t Simulation::add_host() {
  State& s = *state_;
  const std::size_t index = s.hosts.size();
  if (index / kHostsPerRegistry >= s.registries.size()) {
    s.registries.push_back(std::make_unique<MetricsRegistry>());
  }
  auto h = std::make_unique<Host>();
  h->address = host_address(index);
  h->endpoint = std::make_unique<Endpoint>(s.net, h->address);
  host::RingConfig c;
  c.address = h->address;
  c.vnodes = options_.vnodes_per_host;
  c.num_successors = options_.num_successors;
  c.replicas = 2;
  c.timeout = Milliseconds(1000);  // never waited for: MemNetwork fails at once
  c.seed = options_.seed * 1000003 + index + 1;
  c.metrics = s.registries[index / kHostsPerRegistry].get();
  h->ring = std::make_unique<host::Ring>(c, *h->endpoint, nullptr);
  host::Ring* ring = h->ring.get();
  s.net.add(h->address, [ring](const Message& m) { return ring->handle(m); });
  s.by_address.emplace(h->address, index);
  s.hosts.push_back(std::move(h));
  return index;
}

std::size_t Simulation::host_count() const {
  return state_->hosts.size();
}

const std::string& Simulation::address(std::size_t host) const {
  return state_->hosts.at(host)->address;
}

host::Ring& Simulation::ring(std::size_t host) {
  return *state_->hosts.at(host)->ring;
}

void Simulation::create(std::size_t host) {
  Host& h = *state_->hosts.at(host);
  h.ring->create();
  h.in_ring = true;
}

Status Simulation::join(std::size_t host, std::size_t seed) {
  Host& h = *state_->hosts.at(host);
  Status st = h.ring->join({address(seed)});
  h.in_ring = st.ok();
  return st;
}

void Simulation::kill(std::size_t host) {
  Host& h = *state_->hosts.at(host);
  state_->net.kill(h.address);
  h.killed = true;
}

void Simulation::revive(std::size_t host) {
  Host& h = *state_->hosts.at(host);
  state_->net.revive(h.address);
  h.killed = false;
}

bool Simulation::up(std::size_t host) const {
  const Host& h = *state_->hosts.at(host);
  return h.in_ring && !h.killed;
}

std::vector<std::size_t> Simulation::live_hosts() const {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < state_->hosts.size(); ++i) {
    if (up(i)) out.push_back(i);
  }
  return out;
}

std::vector<Vnode> Simulation::live_vnodes(const std::vector<bool>* only) const {
  std::vector<Vnode> out;
  for (std::size_t i = 0; i < state_->hosts.size(); ++i) {
    if (!up(i) || (only != nullptr && !(*only)[i])) continue;
    for (const Vnode& v : state_->hosts[i]->ring->local_vnodes()) out.push_back(v);
  }
  std::sort(out.begin(), out.end(), [](const Vnode& a, const Vnode& b) { return a.id < b.id; });
  return out;
}

void Simulation::sweep() {
  std::vector<Vnode> order = live_vnodes();
  for (auto it = order.rbegin(); it != order.rend(); ++it) stabilize(*it);
}

void Simulation::stabilize(const Vnode& v) {
  const std::size_t h = state_->by_address.at(v.host);
  host::Ring& r = *state_->hosts[h]->ring;
  if (auto i = r.index_of(v.id)) r.stabilize(*i);
}

void Simulation::round() {
  std::vector<std::pair<std::size_t, std::size_t>> order;  // (host, vnode index)
  for (std::size_t h : live_hosts()) {
    for (std::size_t i = 0; i < state_->hosts[h]->ring->vnode_count(); ++i)
      order.emplace_back(h, i);
  }
  std::shuffle(order.begin(), order.end(), rng_);
  for (auto [h, i] : order) state_->hosts[h]->ring->stabilize(i);
}

RingCheck Simulation::check(bool fingers, const std::vector<bool>* only) const {
  RingCheck c;
  const std::vector<Vnode> all = live_vnodes(only);
  const std::size_t n = all.size();
  if (n == 0) return c;
  const std::size_t r = static_cast<std::size_t>(std::max(1, options_.num_successors));
  const std::size_t want = n > 1 ? std::min(r, n - 1) : 1;
  std::vector<Vnode> succ;
  for (std::size_t hi = 0; hi < state_->hosts.size(); ++hi) {
    if (!up(hi) || (only != nullptr && !(*only)[hi])) continue;
    const host::Ring& ring = *state_->hosts[hi]->ring;
    for (std::size_t i = 0; i < ring.vnode_count(); ++i) {
      const host::VnodeState s = ring.state(i);
      ++c.vnodes;
      auto it = std::lower_bound(all.begin(), all.end(), s.self.id,
                                 [](const Vnode& v, const Id& k) { return v.id < k; });
      const std::size_t pos = static_cast<std::size_t>(it - all.begin());
      succ.clear();
      if (n == 1) {
        succ.push_back(s.self);
      } else {
        for (std::size_t k = 1; succ.size() < want; ++k) succ.push_back(all[(pos + k) % n]);
      }
      if (s.successors.empty() || s.successors[0] != succ[0]) ++c.wrong_successor;
      if (s.successors != succ) ++c.wrong_list;
      const Vnode& pred = all[(pos + n - 1) % n];
      if (!s.predecessor || *s.predecessor != pred) ++c.wrong_predecessor;
      if (fingers && s.fingers != true_fingers(all, s.self)) ++c.wrong_fingers;
    }
  }
  return c;
}

void Simulation::split(const std::vector<bool>& side) {
  for (std::size_t i = 0; i < state_->hosts.size(); ++i) {
    state_->net.set_side(state_->hosts[i]->address, i < side.size() && side[i] ? 1 : 0);
  }
}

void Simulation::heal() {
  state_->net.clear_sides();
}

Result<host::MergeReport> Simulation::merge(std::size_t from, std::size_t to) {
  Host& a = *state_->hosts.at(from);
  Host& b = *state_->hosts.at(to);
  return host::merge_rings(*a.endpoint, a.ring->local_vnodes()[0], b.ring->local_vnodes()[0],
                           std::max(1, options_.num_successors), Milliseconds(1000),
                           std::size_t{1} << 20);
}

LookupOutcome Simulation::lookup(std::size_t from, const Id& key,
                                 const std::vector<Vnode>& sorted) {
  Host& h = *state_->hosts.at(from);
  const std::uint64_t before = h.endpoint->remote_find_successors();
  auto found = h.ring->lookup(static_cast<std::size_t>(std::max(1, options_.num_successors)), key);
  LookupOutcome out;
  out.hops = static_cast<int>(h.endpoint->remote_find_successors() - before);
  out.ok = found.ok() && !found->empty() && !sorted.empty();
  if (!out.ok) return out;
  const Vnode& want = owner(sorted, key);
  out.correct = found->front() == want;
  out.dead_answer = !state_->net.alive(found->front().host);
  for (const Vnode& v : found.value()) {
    if (state_->net.alive(v.host)) {
      out.live_correct = v == want;
      break;
    }
  }
  return out;
}

Id Simulation::random_key() {
  Id::Bytes b;
  for (auto& x : b) x = static_cast<std::uint8_t>(rng_());
  return Id(b);
}

std::uint64_t Simulation::messages() const {
  return state_->net.calls();
}

Convergence converge(Simulation& sim, int max_rounds, Level level) {
  Convergence c;
  for (int rounds = 0;; ++rounds) {
    const RingCheck k = sim.check(level == Level::kFingers);
    if (c.successors < 0 && k.successors_ok()) c.successors = rounds;
    if (c.ring < 0 && k.ring_ok()) c.ring = rounds;
    if (c.fingers < 0 && k.all_ok()) c.fingers = rounds;
    const int reached = level == Level::kSuccessors ? c.successors
                        : level == Level::kRing     ? c.ring
                                                    : c.fingers;
    if (reached >= 0 || rounds >= max_rounds) return c;
    sim.round();
  }
}

int build(Simulation& sim, std::size_t hosts, int max_rounds) {
  std::vector<Vnode> in_ring;  // sorted by id
  auto enter = [&](std::size_t h) {
    for (const Vnode& v : sim.ring(h).local_vnodes()) {
      auto it = std::lower_bound(in_ring.begin(), in_ring.end(), v.id,
                                 [](const Vnode& x, const Id& k) { return x.id < k; });
      in_ring.insert(it, v);
    }
  };
  std::vector<std::size_t> members;
  for (std::size_t i = 0; i < hosts; ++i) {
    const std::size_t h = sim.add_host();
    if (members.empty()) {
      sim.create(h);
    } else {
      (void)sim.join(h, members[sim.rng()() % members.size()]);
    }
    enter(h);
    members.push_back(h);
    if (in_ring.size() < 2) continue;
    for (const Vnode& v : sim.ring(h).local_vnodes()) {
      auto it = std::lower_bound(in_ring.begin(), in_ring.end(), v.id,
                                 [](const Vnode& x, const Id& k) { return x.id < k; });
      const Vnode& pred = it == in_ring.begin() ? in_ring.back() : *std::prev(it);
      if (pred.host != v.host) sim.stabilize(pred);
    }
  }
  sim.sweep();
  sim.sweep();
  const Convergence c = converge(sim, max_rounds, Level::kFingers);
  return c.fingers;
}

MassJoin mass_join(Simulation& sim, std::size_t hosts, int max_rounds, Level level) {
  MassJoin m;
  const std::vector<std::size_t> seeds = sim.live_hosts();
  m.before = seeds.size();
  for (std::size_t i = 0; i < hosts; ++i) {
    const std::size_t h = sim.add_host();
    ++m.joined;
    if (seeds.empty()) {
      sim.create(h);
    } else if (!sim.join(h, seeds[sim.rng()() % seeds.size()]).ok()) {
      ++m.join_errors;
    }
  }
  m.rounds = converge(sim, max_rounds, level);
  return m;
}

}  // namespace dendrite::sim
