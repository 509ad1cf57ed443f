#include "host/membership.h"

#include <algorithm>
#include <utility>

namespace dendrite::host {

const char* host_state_name(HostState s) {
  switch (s) {
    case HostState::kUp:
      return "up";
    case HostState::kDown:
      return "down";
    case HostState::kLeft:
      return "left";
  }
  return "?";
}

Membership::Membership(std::string self, MembershipConfig config)
    : self_(std::move(self)), cfg_(config) {}

RememberedHost& Membership::remember(const std::string& host) {
  auto [it, added] = hosts_.try_emplace(host);
  if (added) it->second.address = host;
  return it->second;
}

void Membership::schedule(RememberedHost& h, TimePoint at) {
  h.next_probe = at;
  h.probe_scheduled = true;
}

void Membership::add_seed(const std::string& host, TimePoint now) {
  if (host == self_) return;
  std::lock_guard lock(mu_);
  RememberedHost& h = remember(host);
  h.seed = true;
  if (!h.probing) schedule(h, now);
}

namespace {

// Adds `more` to the sorted, duplicate-free `into`.
void merge_vnodes(std::vector<Vnode>& into, const std::vector<Vnode>& more) {
  for (const Vnode& v : more) {
    auto it = std::lower_bound(into.begin(), into.end(), v,
                               [](const Vnode& a, const Vnode& b) { return a.id < b.id; });
    if (it == into.end() || it->id != v.id) into.insert(it, v);
  }
}

}  // namespace

void Membership::observe_view(const std::map<std::string, std::vector<Vnode>>& hosts,
                              TimePoint now) {
  std::lock_guard lock(mu_);
  for (const auto& [host, seen] : hosts) {
    if (host == self_) continue;
    const bool known = hosts_.count(host) != 0;
    RememberedHost& h = remember(host);
    h.in_view = true;
    h.suspect = false;
    merge_vnodes(h.vnodes, seen);
    if (!known) schedule(h, now);  // learn its vnodes
    if (h.state == HostState::kLeft) {
      // Still pointed at just after its Leave, or back after a rejoin: a
      // probe tells (an answer makes it up again).
      if (!h.probing && !h.probe_scheduled) schedule(h, now + cfg_.probe_min);
      continue;
    }
    h.state = HostState::kUp;
    h.backoff = Milliseconds(0);
    // In view: stabilisation checks it; a probe only to confirm the same ring
    // now and then.
    if (!h.probing && (!h.probe_scheduled || h.next_probe < now)) schedule(h, now + cfg_.verify);
  }
  for (auto& [address, h] : hosts_) {
    if (!h.in_view || hosts.count(address) != 0) continue;
    h.in_view = false;
    if (h.state == HostState::kUp) h.suspect = true;
    if (h.state != HostState::kLeft && !h.probing) schedule(h, now);
  }
}

void Membership::listed(const std::string& host, std::vector<Vnode> vnodes) {
  std::lock_guard lock(mu_);
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return;
  std::sort(vnodes.begin(), vnodes.end(),
            [](const Vnode& a, const Vnode& b) { return a.id < b.id; });
  it->second.vnodes.clear();
  merge_vnodes(it->second.vnodes, vnodes);
  it->second.listed = true;
}

std::vector<Member> Membership::members(const std::vector<Vnode>& self_vnodes) const {
  std::vector<Member> out;
  {
    std::lock_guard lock(mu_);
    out.reserve(hosts_.size() + 1);
    for (const auto& [address, h] : hosts_) {
      if (h.state == HostState::kLeft) continue;
      out.push_back(Member{address, h.state == HostState::kUp && !h.suspect, h.vnodes});
    }
  }
  Member self{self_, true, self_vnodes};
  std::sort(self.vnodes.begin(), self.vnodes.end(),
            [](const Vnode& a, const Vnode& b) { return a.id < b.id; });
  out.push_back(std::move(self));
  std::sort(out.begin(), out.end(),
            [](const Member& a, const Member& b) { return a.host < b.host; });
  return out;
}

void Membership::left(const std::string& host) {
  if (host == self_) return;
  std::lock_guard lock(mu_);
  RememberedHost& h = remember(host);
  h.state = HostState::kLeft;
  h.left_while_probing = h.probing;
  h.in_view = false;
  h.probe_scheduled = false;
  h.backoff = Milliseconds(0);
}

bool Membership::forget(const std::string& host) {
  std::lock_guard lock(mu_);
  return hosts_.erase(host) != 0;
}

std::vector<std::string> Membership::take_due(TimePoint now) {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (auto& [address, h] : hosts_) {
    if (h.probing || !h.probe_scheduled || h.next_probe > now) continue;
    h.probing = true;
    h.probe_scheduled = false;
    ++h.probes;
    out.push_back(address);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::pair<HostState, HostState> Membership::probe_done(const std::string& host,
                                                       ProbeOutcome outcome, TimePoint now) {
  std::lock_guard lock(mu_);
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return {HostState::kUp, HostState::kUp};  // forgotten meanwhile
  RememberedHost& h = it->second;
  const HostState before = h.state;
  h.probing = false;
  if (outcome != ProbeOutcome::kNoAnswer) h.suspect = false;
  if (h.state == HostState::kLeft) {
    // A left host that answers a probe sent after its Leave has rejoined;
    // one that does not, or answered before it left, stays left.
    const bool stale = std::exchange(h.left_while_probing, false);
    if (outcome == ProbeOutcome::kNoAnswer || stale) return {before, before};
    h.state = HostState::kUp;
  }
  switch (outcome) {
    case ProbeOutcome::kSameRing:
      h.state = HostState::kUp;
      h.backoff = Milliseconds(0);
      schedule(h, now + cfg_.verify);
      break;
    case ProbeOutcome::kOtherRing:
      // A merge is under way: check again soon that it took.
      h.state = HostState::kUp;
      h.backoff = Milliseconds(0);
      schedule(h, now + cfg_.probe_min);
      break;
    case ProbeOutcome::kNoAnswer:
      ++h.failed_probes;
      if (h.in_view) {
        // Stabilisation still reaches it (or has not dropped it yet): not down.
        schedule(h, now + cfg_.probe_min);
        break;
      }
      if (h.state != HostState::kDown) {
        h.state = HostState::kDown;
        h.down_since = now;
      }
      h.backoff = h.backoff.count() == 0 ? cfg_.probe_min
                                         : std::min<Milliseconds>(h.backoff * 2, cfg_.probe_max);
      schedule(h, now + h.backoff);
      break;
  }
  return {before, h.state};
}

std::vector<std::string> Membership::expire(TimePoint now) {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (auto it = hosts_.begin(); it != hosts_.end();) {
    const RememberedHost& h = it->second;
    if (h.state == HostState::kDown && !h.probing && now - h.down_since >= cfg_.forget_after) {
      out.push_back(it->first);
      it = hosts_.erase(it);
    } else {
      ++it;
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Membership::TimePoint Membership::next_due() const {
  std::lock_guard lock(mu_);
  TimePoint next = TimePoint::max();
  for (const auto& [address, h] : hosts_) {
    if (h.probe_scheduled && !h.probing) {
      next = std::min(next, h.next_probe);
    }
  }
  return next;
}

std::vector<RememberedHost> Membership::snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<RememberedHost> out;
  out.reserve(hosts_.size());
  for (const auto& [address, h] : hosts_) out.push_back(h);
  std::sort(out.begin(), out.end(),
            [](const RememberedHost& a, const RememberedHost& b) { return a.address < b.address; });
  return out;
}

std::array<std::size_t, 3> Membership::counts() const {
  std::lock_guard lock(mu_);
  std::array<std::size_t, 3> out{};
  for (const auto& [address, h] : hosts_) ++out[static_cast<std::size_t>(h.state)];
  return out;
}

}  // namespace dendrite::host
