#include "faults/nemesis.h"

#include <algorithm>
#include <iterator>
#include <random>
#include <thread>

namespace dendrite::faults {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

}  // namespace

std::string fault_name(FaultKind kind) {
  switch (kind) {
    case FaultKind::kKill:
      return "kill";
    case FaultKind::kPause:
      return "pause";
    case FaultKind::kLeave:
      return "leave";
    case FaultKind::kPartition:
      return "partition";
    case FaultKind::kClock:
      return "clock";
    case FaultKind::kSplit:
      return "split";
    case FaultKind::kOneWay:
      return "oneway";
  }
  return "?";
}

std::vector<FaultStep> make_schedule(const std::string& scenario, std::uint64_t seed,
                                     milliseconds duration, int nodes, milliseconds timeout,
                                     NemesisCaps caps) {
  std::vector<FaultKind> kinds;
  if (scenario == "kill") kinds = {FaultKind::kKill};
  if (scenario == "pause") kinds = {FaultKind::kPause};
  if (scenario == "leave") kinds = {FaultKind::kLeave};
  if (scenario == "partition") kinds = {FaultKind::kPartition};
  if (scenario == "clock") kinds = {FaultKind::kClock};
  if (scenario == "split") kinds = {FaultKind::kSplit};
  if (scenario == "oneway") kinds = {FaultKind::kOneWay};
  if (scenario == "mixed") {
    kinds = {FaultKind::kKill, FaultKind::kPause, FaultKind::kLeave};
    if (caps.partition) kinds.push_back(FaultKind::kPartition);
    if (caps.clock) kinds.push_back(FaultKind::kClock);
  }
  if (kinds.empty() || nodes < 2) return {};
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> pick_node(0, nodes - 1);
  std::uniform_int_distribution<std::size_t> pick_kind(0, kinds.size() - 1);
  std::uniform_int_distribution<long> pick_gap(500, 2000);
  // A pause must outlast the timeout so peers give the node up.
  std::uniform_int_distribution<long> pick_hold(timeout.count() * 2, timeout.count() * 4);
  std::vector<FaultStep> steps;
  milliseconds planned{0};
  do {
    FaultStep s;
    s.kind = kinds[pick_kind(rng)];
    s.node = pick_node(rng);
    s.gap = milliseconds(pick_gap(rng));
    s.hold = milliseconds(pick_hold(rng));
    if (s.kind == FaultKind::kPartition) {
      // A minority: 1 .. (nodes - 1) / 2 nodes, node first.
      std::uniform_int_distribution<int> pick_size(1, std::max(1, (nodes - 1) / 2));
      s.group = {s.node};
      for (int size = pick_size(rng); static_cast<int>(s.group.size()) < size;) {
        const int n = pick_node(rng);
        if (std::find(s.group.begin(), s.group.end(), n) == s.group.end()) s.group.push_back(n);
      }
    }
    if (s.kind == FaultKind::kSplit || s.kind == FaultKind::kOneWay) {
      std::uniform_int_distribution<long> pick_long(timeout.count() * 8, timeout.count() * 12);
      s.hold = milliseconds(pick_long(rng));
    }
    if (s.kind == FaultKind::kSplit) {
      // Any size from 1 to nodes - 1: sometimes the group is the majority.
      std::uniform_int_distribution<int> pick_size(1, nodes - 1);
      s.group = {s.node};
      for (int size = pick_size(rng); static_cast<int>(s.group.size()) < size;) {
        const int n = pick_node(rng);
        if (std::find(s.group.begin(), s.group.end(), n) == s.group.end()) s.group.push_back(n);
      }
      std::vector<int> rest;
      for (int n = 0; n < nodes; ++n) {
        if (std::find(s.group.begin(), s.group.end(), n) == s.group.end()) rest.push_back(n);
      }
      for (int a : s.group) {
        for (int b : rest) {
          s.drops.emplace_back(a, b);
          s.drops.emplace_back(b, a);
        }
      }
      const std::vector<int>& bigger = s.group.size() >= rest.size() ? s.group : rest;
      if (bigger.size() >= 2 && std::bernoulli_distribution(0.5)(rng)) {
        s.kill_during =
            bigger[std::uniform_int_distribution<std::size_t>(0, bigger.size() - 1)(rng)];
      }
    }
    if (s.kind == FaultKind::kOneWay) {
      if (std::bernoulli_distribution(0.5)(rng)) {
        // s.node drops everything it receives.
        for (int n = 0; n < nodes; ++n) {
          if (n != s.node) s.drops.emplace_back(n, s.node);
        }
      } else {
        int other = pick_node(rng);
        while (other == s.node) other = pick_node(rng);
        s.drops.emplace_back(other, s.node);
      }
    }
    if (s.kind == FaultKind::kClock) {
      // 30 s .. 1 h, forward or back.
      static constexpr long kJumps[] = {30, 120, 600, 3600};
      std::uniform_int_distribution<std::size_t> pick_jump(0, std::size(kJumps) - 1);
      std::bernoulli_distribution back(0.5);
      const long j = kJumps[pick_jump(rng)];
      s.clock_jump = std::chrono::seconds(back(rng) ? -j : j);
    }
    planned += s.gap + s.hold;
    steps.push_back(s);
  } while (planned < duration);
  return steps;
}

NemesisReport run_schedule(Cluster& cluster, const std::vector<FaultStep>& steps,
                           milliseconds settle_limit) {
  NemesisReport report;
  const auto t0 = Clock::now();
  auto log = [&](const std::string& what) {
    const auto ms = std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count();
    report.events.push_back("[" + std::to_string(ms) + " ms] " + what);
  };
  for (const FaultStep& s : steps) {
    std::this_thread::sleep_for(s.gap);
    const std::string who = "n" + std::to_string(s.node) + " (" + cluster.address(s.node) + ")";
    ++report.faults;
    switch (s.kind) {
      case FaultKind::kKill: {
        log("kill -9 " + who);
        const auto from = Clock::now();
        cluster.kill9(s.node);
        std::this_thread::sleep_for(s.hold);
        log(cluster.restart(s.node, 30s) ? "restarted " + who : "restart FAILED " + who);
        report.failures.windows.push_back({from, Clock::now(), 1});
        break;
      }
      case FaultKind::kPause:
        log("SIGSTOP " + who);
        cluster.pause(s.node);
        std::this_thread::sleep_for(s.hold);
        cluster.resume(s.node);
        log("SIGCONT " + who);
        break;
      case FaultKind::kLeave: {
        log("SIGTERM " + who);
        auto code = cluster.leave(s.node, 30s);
        log(code ? "left with exit " + std::to_string(*code) + " " + who
                 : "did not leave in 30 s, killed " + who);
        const auto from = Clock::now();
        std::this_thread::sleep_for(s.hold);
        log(cluster.restart(s.node, 30s) ? "restarted " + who : "restart FAILED " + who);
        if (!code) report.failures.windows.push_back({from, Clock::now(), 1});
        break;
      }
      case FaultKind::kPartition: {
        std::string names;
        for (int n : s.group) names += (names.empty() ? "n" : ",n") + std::to_string(n);
        const auto from = Clock::now();
        const bool cut = cluster.partition(s.group);
        log((cut ? "partition: cut off " : "partition FAILED: ") + names);
        std::this_thread::sleep_for(s.hold);
        log(cluster.heal_partition() ? "healed partition " + names
                                     : "heal of partition FAILED " + names);
        report.failures.windows.push_back({from, Clock::now(), static_cast<int>(s.group.size())});
        break;
      }
      case FaultKind::kSplit:
      case FaultKind::kOneWay: {
        std::string names;
        for (auto [from, to] : s.drops) {
          names += (names.empty() ? "" : " ") + std::to_string(from) + "->" + std::to_string(to);
        }
        const auto from = Clock::now();
        const bool cut = cluster.drop(s.drops);
        log((cut ? "silent drops " : "drops FAILED ") + names);
        if (s.kill_during >= 0) {
          const std::string victim =
              "n" + std::to_string(s.kill_during) + " (" + cluster.address(s.kill_during) + ")";
          std::this_thread::sleep_for(s.hold / 3);
          log("kill -9 during the cut " + victim);
          cluster.kill9(s.kill_during);
          std::this_thread::sleep_for(s.hold / 3);
          log(cluster.restart(s.kill_during, 30s) ? "restarted " + victim
                                                  : "restart FAILED " + victim);
          std::this_thread::sleep_for(s.hold / 3);
        } else {
          std::this_thread::sleep_for(s.hold);
        }
        log(cluster.undrop() ? "drops removed" : "removing drops FAILED");
        const int cut_off = s.kind == FaultKind::kSplit ? static_cast<int>(s.group.size()) : 1;
        report.failures.windows.push_back({from, Clock::now(), cut_off});
        break;
      }
      case FaultKind::kClock: {
        const std::string jump = std::to_string(s.clock_jump.count()) + " s";
        log((cluster.jump_clock(s.node, s.clock_jump) ? "clock " : "clock jump FAILED ") + jump +
            " on " + who);
        std::this_thread::sleep_for(s.hold);
        log((cluster.jump_clock(s.node, std::chrono::seconds(0)) ? "clock back to real time on "
                                                                 : "clock reset FAILED on ") +
            who);
        break;
      }
    }
    std::string detail;
    const auto healed = Clock::now();
    const bool settled = cluster.wait_settled(settle_limit, &detail);
    report.max_heal =
        std::max(report.max_heal, std::chrono::duration_cast<milliseconds>(Clock::now() - healed));
    if (settled) {
      log("ring settled");
    } else {
      ++report.settle_timeouts;
      log("ring NOT settled: " + detail);
    }
  }
  return report;
}

}  // namespace dendrite::faults
