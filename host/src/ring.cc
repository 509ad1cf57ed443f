// The Chord ring of one host. Rules (Zave's corrected Chord) are described in
// docs/ring.md. Locking: one mutex per vnode guards its predecessor, successor
// list, fingers and remote successors; it is held only for short in-memory work,
// never across a Network call, a callback or an event.
#include "host/ring.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <limits>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "chord.pb.h"
#include "host/logging.h"
#include "host/ring_codec.h"

namespace dendrite::host {
namespace {

// Err texts of our handlers. "leaving" and "unknown vnode ..." mean the vnode is
// gone.
constexpr std::string_view kLeaving = "leaving";
constexpr std::string_view kUnknownVnode = "unknown vnode";
constexpr std::string_view kNotReady = "not ready";

constexpr int kMaxHops = 256;  // per lookup path
// Dead or refusing hops one lookup may meet before it gives up: at least 32,
// and 4 r when the successor list is longer (Chord sizes r as 2 log2 N, and a
// lookup that meets a run of dead vnodes may have to skip up to r of them, a
// few times on its way), so the budget grows with the ring.
constexpr int kMinFailures = 32;
constexpr int kFailuresPerSuccessor = 4;
constexpr int kJoinRounds = 3;  // rounds over the seeds before a join fails
constexpr int kFingerBits = Id::kBits;

using IdSet = std::unordered_set<Id>;

// The key of a FindSuccessors request: 20 bytes, or fewer as an original
// sends its finger keys (a big integer's minimal big-endian bytes), which are
// the same number with the leading zero bytes left out.
std::optional<Id> lookup_key(const std::string& bytes) {
  if (bytes.size() >= Id::kBytes) return Id::from_bytes(bytes);
  std::string padded(Id::kBytes - bytes.size(), '\0');
  padded += bytes;
  return Id::from_bytes(padded);
}

bool contains(const IdSet& s, const Id& id) {
  return s.find(id) != s.end();
}

// True when `r` shows its peer is gone: no answer (Timeout/Unavailable), or an
// Err reply saying it is leaving or does not host that vnode.
bool is_gone(const Result<Message>& r) {
  if (!r.ok()) {
    StatusCode c = r.status().code();
    return c == StatusCode::kTimeout || c == StatusCode::kUnavailable;
  }
  Status e = error_of(r.value());
  if (e.ok()) return false;
  const std::string& text = e.message();
  return text == kLeaving || text.rfind(kUnknownVnode, 0) == 0;
}

// The successor list in a reply, or nullopt when the reply is not a non-empty list.
std::optional<std::vector<Vnode>> list_of(const Result<Message>& r) {
  if (!r.ok()) return std::nullopt;
  auto list = parse_vnode_list(r.value());
  if (!list.ok() || list->empty()) return std::nullopt;
  return std::move(list.value());
}

std::size_t find_index(const std::vector<Vnode>& list, const Id& id) {
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (list[i].id == id) return i;
  }
  return list.size();
}

}  // namespace

// One local vnode.
struct VnodeSlot {
  Vnode self;
  std::size_t index = 0;

  mutable std::mutex mu;
  std::optional<Vnode> pred;       // GUARDED_BY(mu)
  std::optional<Vnode> last_pred;  // GUARDED_BY(mu): the predecessor last cleared
  std::vector<Vnode> succs;        // GUARDED_BY(mu): empty until create()/join()
  std::vector<Vnode> fingers;      // GUARDED_BY(mu): distinct, in finger order
  std::vector<Vnode> remote;       // GUARDED_BY(mu)

  std::atomic<bool> stabilizing{false};  // a round is running
};

// The ring's counters and histograms (gauges come from a collector).
struct RingStats {
  explicit RingStats(MetricsRegistry& r)
      : stabilize_rounds(r.counter("dendrite_ring_stabilize_rounds_total",
                                   "Stabilisation rounds run, over every local vnode.")),
        stabilize_duration(r.histogram("dendrite_ring_stabilize_duration_seconds",
                                       "Duration of one stabilisation round of one vnode.",
                                       Histogram::latency_bounds())),
        lookups(r.counter("dendrite_ring_lookups_total",
                          "Lookups of a key's successors started by this host.")),
        lookup_failures(r.counter("dendrite_ring_lookup_failures_total",
                                  "Lookups that found no answering path.")),
        lookup_hops(r.histogram("dendrite_ring_lookup_hops",
                                "Forwards followed by a successful lookup.",
                                Histogram::count_bounds())) {
    for (RingEventType t : {RingEventType::kPredecessorJoined, RingEventType::kPredecessorLeft,
                            RingEventType::kReplicasChanged}) {
      events[static_cast<std::size_t>(t)] =
          &r.counter("dendrite_ring_events_total", "Ring events raised by local vnodes, by type.",
                     {{"type", std::string(ring_event_name(t))}});
    }
  }

  Counter& stabilize_rounds;
  Histogram& stabilize_duration;
  Counter& lookups;
  Counter& lookup_failures;
  Histogram& lookup_hops;
  std::array<Counter*, 3> events{};
};

struct Ring::Impl {
  Impl(RingConfig c, Network& n, RingEventSink s)
      : cfg(std::move(c)),
        net(n),
        sink(std::move(s)),
        log(get_logger("ring")),
        own_metrics(cfg.metrics ? nullptr : std::make_unique<MetricsRegistry>()),
        stats(cfg.metrics ? *cfg.metrics : *own_metrics) {
    if (cfg.vnodes < 1) cfg.vnodes = 1;
    if (cfg.num_successors < 1) cfg.num_successors = 1;
    if (cfg.replicas < 0) cfg.replicas = 0;
    for (int i = 0; i < cfg.vnodes; ++i) {
      auto slot = std::make_unique<VnodeSlot>();
      slot->self = Vnode{Id::for_vnode(cfg.address, static_cast<std::uint16_t>(i)), cfg.address};
      slot->index = static_cast<std::size_t>(i);
      by_index.emplace(slot->self.id, slot->index);
      slots.push_back(std::move(slot));
    }
    for (std::size_t i = 0; i < slots.size(); ++i) by_id.push_back(i);
    std::sort(by_id.begin(), by_id.end(),
              [&](std::size_t a, std::size_t b) { return slots[a]->self.id < slots[b]->self.id; });
    MetricsRegistry& registry = cfg.metrics ? *cfg.metrics : *own_metrics;
    gauges = registry.add_collector([this](MetricWriter& w) { collect(w); });
  }

  // The state gauges, read at snapshot time.
  void collect(MetricWriter& w) const {
    w.gauge("dendrite_ring_vnodes", "Local vnodes of this host.", {},
            static_cast<double>(slots.size()));
    w.gauge("dendrite_ring_successors_wanted", "Configured successor list length (r).", {},
            static_cast<double>(r()));
    for (const auto& slot : slots) {
      std::size_t succs, fingers;
      bool pred;
      {
        std::lock_guard<std::mutex> lock(slot->mu);
        succs = slot->succs.size();
        fingers = slot->fingers.size();
        pred = slot->pred.has_value();
      }
      const Labels labels{{"vnode", slot->self.id.hex()}};
      w.gauge("dendrite_ring_successors", "Entries in a local vnode's successor list.", labels,
              static_cast<double>(succs));
      w.gauge("dendrite_ring_predecessor_known",
              "1 when a local vnode knows its predecessor, else 0.", labels, pred ? 1 : 0);
      w.gauge("dendrite_ring_fingers", "Distinct finger-table entries of a local vnode.", labels,
              static_cast<double>(fingers));
    }
  }

  std::size_t r() const { return static_cast<std::size_t>(cfg.num_successors); }

  VnodeSlot* find(const Id& id) const {
    auto it = by_index.find(id);
    return it == by_index.end() ? nullptr : slots[it->second].get();
  }
  bool is_local(const Id& id) const { return by_index.count(id) != 0; }

  void emit(std::vector<RingEvent>& events) {
    for (const RingEvent& e : events) stats.events[static_cast<std::size_t>(e.type)]->inc();
    if (sink) {
      for (const RingEvent& e : events) sink(e);
    }
    events.clear();
  }

  void request_stabilize(std::size_t index) {
    std::function<void(std::size_t)> f;
    {
      std::lock_guard<std::mutex> lock(requester_mu);
      f = requester;
    }
    if (f) f(index);
  }

  Result<Message> call(const Vnode& to, const Message& m) {
    return net.call(to.host, m, cfg.timeout);
  }

  // A successor list as kept: cut at self (what follows self repeats the list),
  // without `dead` entries or duplicates, at most r long; [self] when nothing is
  // left (a ring of one vnode).
  std::vector<Vnode> normalize(const VnodeSlot& v, const std::vector<Vnode>& in,
                               const IdSet& dead) const {
    std::vector<Vnode> out;
    IdSet seen;
    for (const Vnode& s : in) {
      if (out.size() >= r()) break;
      if (s.id == v.self.id) break;
      if (contains(dead, s.id) || !seen.insert(s.id).second) continue;
      out.push_back(s);
    }
    if (out.empty()) out.push_back(v.self);
    return out;
  }

  // REQUIRES: v.mu held. Recomputes the remote successors; queues ReplicasChanged
  // when they changed.
  void update_remote(VnodeSlot& v, std::vector<RingEvent>& events) {
    std::vector<Vnode> remote;
    std::unordered_set<std::string> hosts;
    for (const Vnode& s : v.succs) {
      if (remote.size() >= static_cast<std::size_t>(cfg.replicas)) break;
      if (s.host == v.self.host || !hosts.insert(s.host).second) continue;
      remote.push_back(s);
    }
    if (remote == v.remote) return;
    v.remote = remote;
    RingEvent e{RingEventType::kReplicasChanged, v.self, std::nullopt, std::nullopt, remote};
    events.push_back(std::move(e));
  }

  // REQUIRES: v.mu held. The finger or successor closest before `key` (in
  // (self, key)) that is not avoided.
  std::optional<Vnode> closest_preceding(const VnodeSlot& v, const Id& key,
                                         const IdSet& avoid) const {
    std::optional<Vnode> best;
    Id best_dist;
    auto consider = [&](const Vnode& c) {
      if (contains(avoid, c.id) || !between(v.self.id, key, c.id, false)) return;
      Id d = distance(v.self.id, c.id);
      if (!best || d > best_dist) {
        best = c;
        best_dist = d;
      }
    };
    for (const Vnode& f : v.fingers) consider(f);
    for (const Vnode& s : v.succs) consider(s);
    return best;
  }

  // ---- handlers (never block on the network) ----

  Message on_find_successors(const Message& m) {
    auto req = unpack<PBProtoFindSuccessors>(m, msg::kFindSuccessors);
    if (!req.ok()) return make_error(req.status().message());
    auto key = lookup_key(req->key());
    auto dest = from_pb(req->dest());
    if (!key || !dest) return make_error("malformed FindSuccessors");
    VnodeSlot* v = find(dest->id);
    if (v == nullptr) return make_error(std::string(kUnknownVnode) + " " + dest->id.hex());
    std::size_t limit = req->has_limit() && req->limit() > 0 ? req->limit() : 1;
    IdSet avoid;
    for (const std::string& a : req->avoid()) {
      if (auto id = Id::from_bytes(a)) avoid.insert(*id);
    }

    std::lock_guard<std::mutex> lock(v->mu);
    if (v->succs.empty()) return make_error(kNotReady);
    std::vector<Vnode> live;
    for (const Vnode& s : v->succs) {
      if (!contains(avoid, s.id)) live.push_back(s);
    }
    if (*key == v->self.id || (!live.empty() && between(v->self.id, live[0].id, *key, true))) {
      if (live.size() > limit) live.resize(limit);
      return make_vnode_list(live);
    }
    if (auto fwd = closest_preceding(*v, *key, avoid)) return make_forward(*fwd);
    if (live.empty()) return make_error("no live successor");
    std::vector<Vnode> out{v->self};
    for (const Vnode& s : live) {
      if (out.size() >= limit) break;
      if (s.id != v->self.id) out.push_back(s);
    }
    return make_vnode_list(out);
  }

  Message on_get_predecessor(const Message& m) {
    auto req = unpack<PBProtoGetPredecessor>(m, msg::kGetPredecessor);
    if (!req.ok()) return make_error(req.status().message());
    auto dest = from_pb(req->dest());
    if (!dest) return make_error("malformed GetPredecessor");
    VnodeSlot* v = find(dest->id);
    if (v == nullptr) return make_error(std::string(kUnknownVnode) + " " + dest->id.hex());
    std::lock_guard<std::mutex> lock(v->mu);
    // With none known the vnode names itself, which no caller takes for a
    // closer successor: an Err here would read as death to an original.
    if (!v->pred) return make_proto_vnode(v->self);
    return make_proto_vnode(*v->pred);
  }

  Message on_notify(const Message& m) {
    auto req = unpack<PBProtoNotify>(m, msg::kNotify);
    if (!req.ok()) return make_error(req.status().message());
    auto dest = from_pb(req->dest());
    auto cand = from_pb(req->vnode());
    if (!dest || !cand) return make_error("malformed Notify");
    VnodeSlot* v = find(dest->id);
    if (v == nullptr) return make_error(std::string(kUnknownVnode) + " " + dest->id.hex());
    std::vector<RingEvent> events;
    Message reply;
    {
      std::lock_guard<std::mutex> lock(v->mu);
      rectify(*v, *cand, events);
      reply = make_vnode_list(v->succs);
    }
    emit(events);
    return reply;
  }

  // REQUIRES: v.mu held. Adopts `cand` as predecessor when none is known or it
  // lies between the current one and this vnode.
  void rectify(VnodeSlot& v, const Vnode& cand, std::vector<RingEvent>& events) {
    if (cand.id == v.self.id) return;
    if (v.pred && !between(v.pred->id, v.self.id, cand.id, false)) return;
    const bool was_unset = !v.pred;
    std::optional<Vnode> old = v.pred ? v.pred : v.last_pred;
    v.pred = cand;
    if (log->should_log(spdlog::level::debug)) {
      log->debug("{} adopts predecessor {}", v.self.to_string(), cand.to_string());
    }
    // A set predecessor is only replaced by a closer one: a join. After a clear
    // (already reported as PredecessorLeft), the next one is a join only when it
    // lies in [old, self); one further back is the ring closing the gap.
    bool joined =
        !old || between(old->id, v.self.id, cand.id, false) || (was_unset && old->id == cand.id);
    if (joined) {
      events.push_back(RingEvent{RingEventType::kPredecessorJoined, v.self, cand, old, {}});
    }
  }

  Message on_leave(const Message& m) {
    auto req = unpack<PBProtoLeave>(m, msg::kLeave);
    if (!req.ok()) return make_error(req.status().message());
    auto source = from_pb(req->source());
    auto dest = from_pb(req->dest());
    auto succs = from_pb(req->successors());
    std::optional<Vnode> their_pred;
    if (req->has_predecessor()) {
      their_pred = from_pb(req->predecessor());
      if (!their_pred) return make_error("malformed Leave");
    }
    if (!source || !dest || !succs) return make_error("malformed Leave");
    VnodeSlot* v = find(dest->id);
    if (v == nullptr) return make_error(std::string(kUnknownVnode) + " " + dest->id.hex());
    if (source->id == v->self.id) return make_error("Leave from the vnode itself");

    std::vector<RingEvent> events;
    bool touched = false;
    {
      std::lock_guard<std::mutex> lock(v->mu);
      std::size_t k = find_index(v->succs, source->id);
      if (k < v->succs.size()) {
        std::vector<Vnode> list(v->succs.begin(), v->succs.begin() + static_cast<long>(k));
        list.insert(list.end(), succs->begin(), succs->end());
        IdSet gone{source->id};
        v->succs = normalize(*v, list, gone);
        touched = true;
      }
      auto& f = v->fingers;
      f.erase(
          std::remove_if(f.begin(), f.end(), [&](const Vnode& x) { return x.id == source->id; }),
          f.end());
      if (v->pred && v->pred->id == source->id) {
        v->last_pred = v->pred;
        v->pred.reset();
        if (their_pred && their_pred->id != source->id) {
          if (their_pred->id != v->self.id) {
            v->pred = their_pred;
          } else if (v->succs.size() == 1 && v->succs[0].id == v->self.id) {
            v->pred = v->self;  // alone now
          }
        }
        std::optional<Vnode> now = v->pred;
        if (now && now->id == v->self.id) now.reset();
        events.push_back(RingEvent{RingEventType::kPredecessorLeft, v->self, now, source, {}});
        touched = true;
      }
      if (touched) update_remote(*v, events);
    }
    emit(events);
    if (touched) request_stabilize(v->index);
    std::function<void(const std::string&)> observer;
    {
      std::lock_guard<std::mutex> lock(requester_mu);
      observer = leave_observer;
    }
    if (observer && source->host != cfg.address) observer(source->host);
    return make_ack(true);
  }

  Message on_list_vnodes(const Message& m) {
    auto req = unpack<PBProtoListVnodes>(m, msg::kListVnodes);
    if (!req.ok()) return make_error(req.status().message());
    std::vector<Vnode> all;
    for (const auto& s : slots) all.push_back(s->self);
    return make_vnode_list(all);
  }

  Message on_ping(const Message& m) {
    auto req = unpack<PBProtoPing>(m, msg::kPing);
    if (!req.ok()) return make_error(req.status().message());
    return make_pong();
  }

  // ---- lookups ----

  // Follows FindSuccessors(key) from each of `starts` in turn until one path
  // answers. A hop that fails is avoided and the previous hop asked again.
  Result<std::vector<Vnode>> find_successors(const std::vector<Vnode>& starts, const Id& key,
                                             std::size_t n) {
    const int limit =
        static_cast<int>(std::min<std::size_t>(n, std::numeric_limits<std::int32_t>::max()));
    std::vector<Id> avoid;
    IdSet avoided;
    Status last = Status::Unavailable("no vnode to ask");
    int failures = 0;
    const int max_failures = std::max(kMinFailures, kFailuresPerSuccessor * cfg.num_successors);
    auto fail = [&](const Vnode& v, Status why, std::vector<Vnode>& path) {
      if (avoided.insert(v.id).second) avoid.push_back(v.id);
      path.pop_back();
      last = std::move(why);
      ++failures;
    };
    for (const Vnode& start : starts) {
      if (contains(avoided, start.id)) continue;
      std::vector<Vnode> path{start};
      int hops = 0;
      while (!path.empty() && hops < kMaxHops && failures < max_failures) {
        ++hops;
        const Vnode cur = path.back();
        auto r = call(cur, make_find_successors(key, cur, limit, avoid));
        if (!r.ok()) {
          fail(cur, r.status(), path);
          continue;
        }
        const Message& reply = r.value();
        if (reply.type == msg::kForward) {
          auto f = unpack<PBProtoForward>(reply, msg::kForward);
          std::optional<Vnode> next = f.ok() ? from_pb(f->vnode()) : std::nullopt;
          if (!next || next->id == cur.id || contains(avoided, next->id)) {
            fail(cur, Status::Unavailable("bad forward from " + cur.to_string()), path);
            continue;
          }
          path.push_back(*next);
          continue;
        }
        auto list = parse_vnode_list(reply);
        if (!list.ok() || list->empty()) {
          fail(cur,
               list.ok() ? Status::Unavailable("empty answer from " + cur.to_string())
                         : Status::Unavailable(cur.to_string() + ": " + list.status().message()),
               path);
          continue;
        }
        if (list->size() > n) list->resize(n);
        stats.lookup_hops.observe(static_cast<double>(path.size() - 1));
        return std::move(list.value());
      }
      if (failures >= max_failures) break;
    }
    StatusCode code =
        last.code() == StatusCode::kTimeout ? StatusCode::kTimeout : StatusCode::kUnavailable;
    stats.lookup_failures.inc();
    return Status(code, "lookup of " + key.short_hex() + " failed: " + last.message());
  }

  // The local vnodes ordered by how closely they precede `key` (closest first),
  // leaving out one whose id is `key`.
  std::vector<Vnode> local_starts(const Id& key) const {
    std::vector<Vnode> out;
    for (const auto& s : slots) {
      if (s->self.id != key) out.push_back(s->self);
    }
    std::sort(out.begin(), out.end(), [&](const Vnode& a, const Vnode& b) {
      return distance(a.id, key) < distance(b.id, key);
    });
    return out;
  }

  Result<std::vector<Vnode>> lookup(std::size_t n, const Id& key) {
    if (n == 0) return std::vector<Vnode>{};
    stats.lookups.inc();
    if (VnodeSlot* v = find(key)) {
      // The key is a local vnode's id: that vnode owns it.
      std::vector<Vnode> out{v->self};
      std::lock_guard<std::mutex> lock(v->mu);
      for (const Vnode& s : v->succs) {
        if (out.size() >= n) break;
        if (s.id != v->self.id) out.push_back(s);
      }
      return out;
    }
    return find_successors(local_starts(key), key, n);
  }

  // ---- stabilisation ----

  // Returns true when it adopted a closer successor than the one it had (the
  // successor's predecessor): another round at once walks on towards the true
  // successor, which is how two merging rings zip together quickly.
  bool stabilize_successors(VnodeSlot& v, std::vector<RingEvent>& events) {
    std::vector<Vnode> succs, fingers;
    std::optional<Vnode> pred;
    {
      std::lock_guard<std::mutex> lock(v.mu);
      succs = v.succs;
      fingers = v.fingers;
      pred = v.pred;
    }
    if (succs.empty()) return false;  // not in a ring yet

    std::vector<Vnode> cands;
    for (const Vnode& s : succs) {
      if (s.id != v.self.id) cands.push_back(s);
    }
    IdSet dead, tried;
    bool fallback = false;
    bool closer = false;
    std::optional<Vnode> chosen;
    std::optional<std::vector<Vnode>> tail;
    std::size_t ci = 0;
    while (!chosen) {
      if (ci >= cands.size()) {
        if (fallback) break;
        fallback = true;
        // Every successor is dead: try fingers, the other local vnodes and the
        // predecessor, closest first.
        std::vector<Vnode> more = fingers;
        for (const auto& s : slots) more.push_back(s->self);
        if (pred) more.push_back(*pred);
        std::sort(more.begin(), more.end(), [&](const Vnode& a, const Vnode& b) {
          return distance(v.self.id, a.id) < distance(v.self.id, b.id);
        });
        for (const Vnode& c : more) {
          if (c.id != v.self.id && !contains(tried, c.id) && !contains(dead, c.id)) {
            cands.push_back(c);
          }
        }
        continue;
      }
      const Vnode s = cands[ci++];
      if (!tried.insert(s.id).second || contains(dead, s.id)) continue;
      auto pr = call(s, make_get_predecessor(s));
      if (is_gone(pr)) {
        dead.insert(s.id);
        continue;
      }
      // An Err reply here means "no predecessor known".
      std::optional<Vnode> p;
      if (pr->type == msg::kProtoVnode) {
        auto pb = unpack<PBProtoVnode>(pr.value(), msg::kProtoVnode);
        if (pb.ok()) p = from_pb(pb.value());
      }
      if (p && p->id != v.self.id && between(v.self.id, s.id, p->id, false) &&
          !contains(dead, p->id)) {
        // A closer successor: adopt it only once it answered with its list.
        auto nr = call(*p, make_notify(*p, v.self));
        if (auto list = list_of(nr)) {
          chosen = *p;
          tail = std::move(list);
          closer = ci == 1;  // a closer first successor, not a fallback
          break;
        }
        if (is_gone(nr)) dead.insert(p->id);
      }
      auto nr = call(s, make_notify(s, v.self));
      if (is_gone(nr)) {
        dead.insert(s.id);
        continue;
      }
      chosen = s;
      tail = list_of(nr);
    }

    std::vector<Vnode> list;
    if (chosen) {
      list.push_back(*chosen);
      const std::vector<Vnode>& rest = tail ? *tail : succs;
      list.insert(list.end(), rest.begin(), rest.end());
    }
    std::vector<Vnode> next = normalize(v, list, dead);
    std::lock_guard<std::mutex> lock(v.mu);
    if (next != v.succs && log->should_log(spdlog::level::debug)) {
      log->debug("{} successors now {} (first {})", v.self.to_string(), next.size(),
                 next[0].to_string());
    }
    v.succs = std::move(next);
    if (v.succs.size() == 1 && v.succs[0].id == v.self.id && !v.pred) v.pred = v.self;
    auto& f = v.fingers;
    f.erase(
        std::remove_if(f.begin(), f.end(), [&](const Vnode& x) { return contains(dead, x.id); }),
        f.end());
    update_remote(v, events);
    return closer;
  }

  // Finger i = successor(self + 2^i). One lookup covers every finger whose start
  // falls before the successor it found, so a round costs about log2(N) lookups.
  void fix_fingers(VnodeSlot& v) {
    Vnode first;
    {
      std::lock_guard<std::mutex> lock(v.mu);
      if (v.succs.empty()) return;
      first = v.succs[0];
    }
    std::vector<Vnode> next;
    bool complete = true;
    if (first.id != v.self.id) {
      int i = 0;
      while (i < kFingerBits) {
        const Id start = v.self.id.plus_pow2(i);
        Vnode s;
        if (between(v.self.id, first.id, start, true)) {
          s = first;
        } else {
          auto found = lookup(1, start);
          if (!found.ok() || found->empty()) {
            complete = false;
            break;
          }
          s = found->front();
        }
        if (s.id == v.self.id) break;
        if (next.empty() || next.back().id != s.id) next.push_back(s);
        int j = i + 1;
        while (j < kFingerBits && between(v.self.id, s.id, v.self.id.plus_pow2(j), true)) ++j;
        i = j;
      }
    }
    std::lock_guard<std::mutex> lock(v.mu);
    if (!complete) {
      // Keep the old fingers beyond what this round reached.
      Id reach = next.empty() ? Id() : distance(v.self.id, next.back().id);
      for (const Vnode& f : v.fingers) {
        if (distance(v.self.id, f.id) > reach && find_index(next, f.id) == next.size()) {
          next.push_back(f);
        }
      }
    }
    v.fingers = std::move(next);
  }

  void check_predecessor(VnodeSlot& v, std::vector<RingEvent>& events) {
    std::optional<Vnode> pred;
    {
      std::lock_guard<std::mutex> lock(v.mu);
      pred = v.pred;
    }
    if (!pred || pred->id == v.self.id) return;
    if (!is_gone(call(*pred, make_ping()))) return;
    std::lock_guard<std::mutex> lock(v.mu);
    if (!v.pred || v.pred->id != pred->id) return;
    log->debug("{} lost predecessor {}", v.self.to_string(), pred->to_string());
    v.last_pred = v.pred;
    v.pred.reset();
    events.push_back(RingEvent{RingEventType::kPredecessorLeft, v.self, std::nullopt, pred, {}});
  }

  RingConfig cfg;
  Network& net;
  RingEventSink sink;
  std::shared_ptr<spdlog::logger> log;
  std::vector<std::unique_ptr<VnodeSlot>> slots;  // index order; fixed after construction
  std::vector<std::size_t> by_id;                 // slot indices in id order
  std::unordered_map<Id, std::size_t> by_index;   // id -> slot index
  std::atomic<bool> leaving{false};
  std::mutex requester_mu;
  std::function<void(std::size_t)> requester;              // GUARDED_BY(requester_mu)
  std::function<void(const std::string&)> leave_observer;  // GUARDED_BY(requester_mu)
  const std::unique_ptr<MetricsRegistry> own_metrics;      // when the config names none
  RingStats stats;
  CollectorHandle gauges;  // last: unregistered before the slots go
};

Ring::Ring(RingConfig config, Network& net, RingEventSink sink)
    : impl_(std::make_unique<Impl>(std::move(config), net, std::move(sink))) {}

Ring::~Ring() = default;

void Ring::create() {
  Impl& m = *impl_;
  const std::size_t n = m.by_id.size();
  for (std::size_t k = 0; k < n; ++k) {
    VnodeSlot& v = *m.slots[m.by_id[k]];
    std::lock_guard<std::mutex> lock(v.mu);
    v.succs.clear();
    for (std::size_t j = 1; j < n && v.succs.size() < m.r(); ++j) {
      v.succs.push_back(m.slots[m.by_id[(k + j) % n]]->self);
    }
    if (v.succs.empty()) v.succs.push_back(v.self);
    v.pred = m.slots[m.by_id[(k + n - 1) % n]]->self;
    v.last_pred.reset();
    v.fingers.clear();
    v.remote.clear();
  }
}

Status Ring::join(const std::vector<std::string>& seeds) {
  Impl& m = *impl_;
  std::vector<Vnode> remote;
  std::string tried;
  Status last = Status::Unavailable("no seed given");
  // Every seed in turn; when none answered (a seed still starting, a busy
  // machine), up to kJoinRounds rounds with a short pause between them.
  bool retry = true;
  for (int round = 0; round < kJoinRounds && remote.empty() && retry; ++round) {
    if (round > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200 * round));
    retry = false;
    for (const std::string& seed : seeds) {
      if (round == 0) tried += (tried.empty() ? "" : ", ") + seed;
      if (seed == m.cfg.address) {
        last = Status::InvalidArgument(seed + " is this host");
        continue;
      }
      auto r = m.net.call(seed, make_list_vnodes(), m.cfg.timeout);
      if (!r.ok()) {
        last = r.status();
        retry =
            retry || last.code() == StatusCode::kTimeout || last.code() == StatusCode::kUnavailable;
        continue;
      }
      auto list = parse_vnode_list(r.value());
      if (!list.ok() || list->empty()) {
        last = list.ok() ? Status::Unavailable(seed + " has no vnodes") : list.status();
        continue;
      }
      remote = std::move(list.value());
      break;
    }
  }
  if (remote.empty()) {
    return Status::Unavailable("cannot join the ring: no seed answered (tried " + tried +
                               "): " + last.to_string());
  }

  std::unordered_map<std::string, bool> alive{{m.cfg.address, true}};
  auto is_alive = [&](const Vnode& x) {
    auto it = alive.find(x.host);
    if (it != alive.end()) return it->second;
    bool ok = !is_gone(m.net.call(x.host, make_ping(), m.cfg.timeout));
    alive.emplace(x.host, ok);
    return ok;
  };

  std::vector<RingEvent> events;
  for (const auto& slot : m.slots) {
    VnodeSlot& v = *slot;
    std::vector<Vnode> starts;
    for (const Vnode& x : remote) {
      if (x.id != v.self.id) starts.push_back(x);
    }
    std::sort(starts.begin(), starts.end(), [&](const Vnode& a, const Vnode& b) {
      return distance(a.id, v.self.id) < distance(b.id, v.self.id);
    });
    auto found = m.find_successors(starts, v.self.id, m.r());
    if (!found.ok()) {
      return Status::Unavailable("cannot join the ring through " + tried +
                                 ": no successor found for vnode " + v.self.to_string() + ": " +
                                 found.status().message());
    }
    std::vector<Vnode> list;
    for (const Vnode& s : found.value()) {
      if (s.id != v.self.id && is_alive(s)) list.push_back(s);
    }
    if (list.empty()) {
      return Status::Unavailable("cannot join the ring through " + tried +
                                 ": every successor found for " + v.self.to_string() + " is dead");
    }
    // Our other vnodes that fall inside the range the list covers belong in it.
    const Id reach = distance(v.self.id, list.back().id);
    for (const auto& other : m.slots) {
      if (other.get() != &v && distance(v.self.id, other->self.id) < reach) {
        list.push_back(other->self);
      }
    }
    std::sort(list.begin(), list.end(), [&](const Vnode& a, const Vnode& b) {
      return distance(v.self.id, a.id) < distance(v.self.id, b.id);
    });
    std::lock_guard<std::mutex> lock(v.mu);
    v.succs = m.normalize(v, list, {});
    v.pred.reset();
    v.last_pred.reset();
    v.fingers.clear();
    m.update_remote(v, events);
  }
  m.emit(events);
  for (std::size_t i = 0; i < m.slots.size(); ++i) stabilize(i);
  return Status::Ok();
}

bool Ring::handles(MessageType type) {
  switch (type) {
    case msg::kPing:
    case msg::kListVnodes:
    case msg::kFindSuccessors:
    case msg::kGetPredecessor:
    case msg::kNotify:
    case msg::kLeave:
      return true;
    default:
      return false;
  }
}

Message Ring::handle(const Message& request) {
  Impl& m = *impl_;
  try {
    if (m.leaving.load()) return make_error(kLeaving);
    switch (request.type) {
      case msg::kPing:
        return m.on_ping(request);
      case msg::kListVnodes:
        return m.on_list_vnodes(request);
      case msg::kFindSuccessors:
        return m.on_find_successors(request);
      case msg::kGetPredecessor:
        return m.on_get_predecessor(request);
      case msg::kNotify:
        return m.on_notify(request);
      case msg::kLeave:
        return m.on_leave(request);
      default:
        return make_error("unsupported message type " + std::to_string(request.type));
    }
  } catch (const std::exception& e) {
    return make_error(std::string("internal error: ") + e.what());
  } catch (...) {
    return make_error("internal error");
  }
}

void Ring::stabilize(std::size_t index) {
  Impl& m = *impl_;
  if (index >= m.slots.size() || m.leaving.load()) return;
  VnodeSlot& v = *m.slots[index];
  if (v.stabilizing.exchange(true)) return;  // a round of this vnode is running
  const auto started = std::chrono::steady_clock::now();
  std::vector<RingEvent> events;
  const bool closer = m.stabilize_successors(v, events);
  m.emit(events);
  m.fix_fingers(v);
  m.check_predecessor(v, events);
  m.emit(events);
  m.stats.stabilize_rounds.inc();
  m.stats.stabilize_duration.observe(std::chrono::steady_clock::now() - started);
  v.stabilizing.store(false);
  if (closer) m.request_stabilize(index);
}

void Ring::leave() {
  Impl& m = *impl_;
  if (m.leaving.exchange(true)) return;

  struct Pending {
    std::mutex mu;
    std::condition_variable cv;
    int outstanding = 0;  // GUARDED_BY(mu)
  };
  auto pending = std::make_shared<Pending>();

  // Snapshot every vnode first: the local neighbours leave too, so each vnode
  // reports the nearest non-local predecessor and only non-local successors.
  struct Snap {
    std::optional<Vnode> pred;
    std::vector<Vnode> succs;
  };
  std::vector<Snap> snaps;
  for (const auto& s : m.slots) {
    std::lock_guard<std::mutex> lock(s->mu);
    snaps.push_back(Snap{s->pred, s->succs});
  }
  // An original never answers a Leave, and the worker that took it stays
  // stuck: it learns of the leave by stabilising instead.
  auto takes_leave = [&](const Vnode& to) {
    return !m.is_local(to.id) && m.net.dialect(to.host) == PeerDialect::kOurs;
  };
  std::vector<std::pair<Vnode, Message>> sends;
  for (std::size_t i = 0; i < m.slots.size(); ++i) {
    const Vnode& self = m.slots[i]->self;
    const Snap& sn = snaps[i];
    std::optional<Vnode> outer = sn.pred;
    for (std::size_t hops = 0; outer && m.is_local(outer->id) && hops <= m.slots.size(); ++hops) {
      outer = snaps[m.by_index.at(outer->id)].pred;
    }
    if (outer && m.is_local(outer->id)) outer.reset();
    std::vector<Vnode> succs;
    for (const Vnode& s : sn.succs) {
      if (!m.is_local(s.id)) succs.push_back(s);
    }
    std::optional<Id> told;
    if (sn.pred && takes_leave(*sn.pred)) {
      sends.emplace_back(*sn.pred, make_leave(self, *sn.pred, outer, succs));
      told = sn.pred->id;
    }
    if (!sn.succs.empty() && takes_leave(sn.succs[0]) && sn.succs[0].id != told) {
      sends.emplace_back(sn.succs[0], make_leave(self, sn.succs[0], outer, succs));
    }
  }
  {
    std::lock_guard<std::mutex> lock(pending->mu);
    pending->outstanding = static_cast<int>(sends.size());
  }
  for (auto& [to, request] : sends) {
    m.net.call_async(to.host, std::move(request), m.cfg.timeout, [pending](Result<Message>) {
      std::lock_guard<std::mutex> lock(pending->mu);
      if (--pending->outstanding == 0) pending->cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(pending->mu);
  pending->cv.wait_for(lock, m.cfg.timeout, [&] { return pending->outstanding <= 0; });
}

Result<std::vector<Vnode>> Ring::lookup(std::size_t n, const Id& key) {
  return impl_->lookup(n, key);
}

Result<std::vector<Vnode>> Ring::lookup_from(const Vnode& start, std::size_t n, const Id& key) {
  if (n == 0) return std::vector<Vnode>{};
  return impl_->find_successors({start}, key, n);
}

std::map<std::string, std::vector<Vnode>> Ring::view() const {
  std::map<std::string, std::vector<Vnode>> out;
  IdSet seen;
  auto add = [&](const Vnode& x) {
    if (x.host != impl_->cfg.address && seen.insert(x.id).second) out[x.host].push_back(x);
  };
  for (const auto& s : impl_->slots) {
    std::lock_guard<std::mutex> lock(s->mu);
    if (s->pred) add(*s->pred);
    for (const Vnode& x : s->succs) add(x);
    for (const Vnode& x : s->fingers) add(x);
  }
  return out;
}

void Ring::set_leave_observer(std::function<void(const std::string& host)> observer) {
  std::lock_guard<std::mutex> lock(impl_->requester_mu);
  impl_->leave_observer = std::move(observer);
}

void Ring::set_stabilize_requester(std::function<void(std::size_t index)> requester) {
  std::lock_guard<std::mutex> lock(impl_->requester_mu);
  impl_->requester = std::move(requester);
}

std::size_t Ring::vnode_count() const {
  return impl_->slots.size();
}

std::vector<Vnode> Ring::local_vnodes() const {
  std::vector<Vnode> out;
  for (const auto& s : impl_->slots) out.push_back(s->self);
  return out;
}

VnodeState Ring::state(std::size_t index) const {
  const VnodeSlot& v = *impl_->slots.at(index);
  std::lock_guard<std::mutex> lock(v.mu);
  return VnodeState{v.self, v.pred, v.succs, v.fingers, v.remote};
}

std::optional<Vnode> Ring::predecessor(std::size_t index) const {
  const VnodeSlot& v = *impl_->slots.at(index);
  std::lock_guard<std::mutex> lock(v.mu);
  return v.pred;
}

std::vector<Vnode> Ring::successors(std::size_t index) const {
  const VnodeSlot& v = *impl_->slots.at(index);
  std::lock_guard<std::mutex> lock(v.mu);
  return v.succs;
}

std::vector<Vnode> Ring::fingers(std::size_t index) const {
  const VnodeSlot& v = *impl_->slots.at(index);
  std::lock_guard<std::mutex> lock(v.mu);
  return v.fingers;
}

std::vector<Vnode> Ring::remote_successors(std::size_t index) const {
  const VnodeSlot& v = *impl_->slots.at(index);
  std::lock_guard<std::mutex> lock(v.mu);
  return v.remote;
}

std::optional<std::size_t> Ring::index_of(const Id& id) const {
  auto it = impl_->by_index.find(id);
  if (it == impl_->by_index.end()) return std::nullopt;
  return it->second;
}

}  // namespace dendrite::host
