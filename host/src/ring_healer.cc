#include "host/ring_healer.h"

#include <algorithm>
#include <memory>

#include "host/logging.h"
#include "host/ring_codec.h"
#include "host/ring_merge.h"

namespace dendrite::host {
namespace {

// How often the view is taken in when no probe is due sooner.
constexpr Milliseconds kViewPeriod{1000};

}  // namespace

RingHealer::RingHealer(Ring& ring, Network& net, Membership& membership, HealerConfig config,
                       MetricsRegistry& metrics, std::function<void()> merged)
    : ring_(ring),
      net_(net),
      membership_(membership),
      cfg_(config),
      merged_(std::move(merged)),
      probes_same_(metrics.counter("dendrite_membership_probes_total",
                                   "Probes of remembered hosts, by what they found.",
                                   {{"outcome", "same_ring"}})),
      probes_other_(metrics.counter("dendrite_membership_probes_total",
                                    "Probes of remembered hosts, by what they found.",
                                    {{"outcome", "other_ring"}})),
      probes_none_(metrics.counter("dendrite_membership_probes_total",
                                   "Probes of remembered hosts, by what they found.",
                                   {{"outcome", "no_answer"}})),
      merges_started_(metrics.counter("dendrite_ring_merges_started_total",
                                      "Ring merges this node started (a live host in another "
                                      "ring was found).")),
      merges_finished_(metrics.counter("dendrite_ring_merges_finished_total",
                                       "Ring merges this node finished (both rings walked and "
                                       "every Notify answered or timed out).")),
      merge_notifies_(
          metrics.counter("dendrite_ring_merge_notifies_total", "Notifies sent by ring merges.")) {
  gauges_ = metrics.add_collector([this](MetricWriter& w) {
    const auto counts = membership_.counts();
    for (HostState s : {HostState::kUp, HostState::kDown, HostState::kLeft}) {
      w.gauge("dendrite_membership_hosts", "Other hosts this node remembers, by state.",
              {{"state", host_state_name(s)}},
              static_cast<double>(counts[static_cast<std::size_t>(s)]));
    }
  });
}

RingHealer::~RingHealer() {
  stop();
}

void RingHealer::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { run(); });
}

void RingHealer::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RingHealer::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    tick(Clock::now());
    lock.lock();
    const auto next = std::min(membership_.next_due(), Clock::now() + kViewPeriod);
    cv_.wait_until(lock, next, [&] { return stopping_; });
  }
}

// The ListVnodes answers of one pass's probes.
struct RingHealer::Probe {
  std::string host;
  std::optional<std::vector<Vnode>> vnodes;  // nullopt: no answer
};

void RingHealer::tick(Clock::time_point now) {
  auto log = get_logger("ring");
  membership_.observe_view(ring_.view(), now);
  for (const std::string& h : membership_.expire(now)) {
    log->info("forgetting {}: down for longer than membership.forget_after_s", h);
  }
  const std::vector<std::string> due = membership_.take_due(now);
  if (due.empty()) return;

  // Every due host is asked for its vnodes at once, so a silent host costs the
  // pass one timeout, not one per host.
  struct Gather {
    std::mutex mu;
    std::condition_variable cv;
    std::size_t outstanding = 0;  // GUARDED_BY(mu)
    std::vector<Probe> probes;    // GUARDED_BY(mu)
  };
  auto gather = std::make_shared<Gather>();
  gather->outstanding = due.size();
  gather->probes.resize(due.size());
  for (std::size_t i = 0; i < due.size(); ++i) {
    gather->probes[i].host = due[i];
    net_.call_async(due[i], make_list_vnodes(), cfg_.timeout, [gather, i](Result<Message> r) {
      std::optional<std::vector<Vnode>> vnodes;
      if (r.ok()) {
        auto list = parse_vnode_list(r.value());
        if (list.ok() && !list->empty()) vnodes = std::move(list.value());
      }
      std::lock_guard lock(gather->mu);
      gather->probes[i].vnodes = std::move(vnodes);
      if (--gather->outstanding == 0) gather->cv.notify_all();
    });
  }
  std::vector<Probe> probes;
  {
    std::unique_lock lock(gather->mu);
    gather->cv.wait_for(lock, cfg_.timeout + Milliseconds(100),
                        [&] { return gather->outstanding == 0; });
    probes = gather->probes;  // late answers still write into gather
  }

  for (const Probe& p : probes) {
    if (p.vnodes) membership_.listed(p.host, *p.vnodes);
    ProbeOutcome outcome = p.vnodes ? check(p.host, *p.vnodes) : ProbeOutcome::kNoAnswer;
    switch (outcome) {
      case ProbeOutcome::kSameRing:
        probes_same_.inc();
        break;
      case ProbeOutcome::kOtherRing:
        probes_other_.inc();
        break;
      case ProbeOutcome::kNoAnswer:
        probes_none_.inc();
        break;
    }
    const auto [was, is] = membership_.probe_done(p.host, outcome, now);
    if (was != HostState::kDown && is == HostState::kDown) {
      log->info("{} is down (no answer to a probe); probing it with a growing pause", p.host);
    } else if (was == HostState::kDown && is == HostState::kUp) {
      log->info("{} answers again", p.host);
    }
  }
}

// Whether `host` (which answered with `theirs`) shares our ring; merges when not.
ProbeOutcome RingHealer::check(const std::string& host, const std::vector<Vnode>& theirs) {
  const Vnode x = theirs.front();
  const std::vector<Vnode> ours = ring_.local_vnodes();
  if (ours.empty()) return ProbeOutcome::kSameRing;
  const Vnode self = ours.front();
  // Our ring must route x's id to x, and theirs our id to us.
  auto here = ring_.lookup(1, x.id);
  const bool we_have_them = here.ok() && !here->empty() && here->front().id == x.id;
  bool they_have_us = false;
  if (we_have_them) {
    auto there = ring_.lookup_from(x, 1, self.id);
    they_have_us = there.ok() && !there->empty() && there->front().id == self.id;
  }
  if (we_have_them && they_have_us) return ProbeOutcome::kSameRing;

  auto log = get_logger("ring");
  merges_started_.inc();
  log->info("{} answers but is not in this node's ring ({}): merging the rings", host,
            we_have_them ? "its ring does not route to us" : "our ring does not route to it");
  auto report = merge_rings(net_, self, x, cfg_.list_len, cfg_.timeout, cfg_.max_walk);
  if (!report.ok()) {
    log->warn("merge with the ring of {} failed: {}", host, report.status().to_string());
    return ProbeOutcome::kOtherRing;
  }
  merges_finished_.inc();
  merge_notifies_.inc(report->notifies);
  log->info("merge with the ring of {}: {} vnodes here, {} there, {} Notifies sent, {} answered",
            host, report->ours, report->theirs, report->notifies, report->answered);
  if (report->notifies == 0) return ProbeOutcome::kSameRing;
  if (merged_) merged_();
  return ProbeOutcome::kOtherRing;
}

}  // namespace dendrite::host
