#include "faults/nemesis.h"

#include <algorithm>
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
  }
  return "?";
}

std::vector<FaultStep> make_schedule(const std::string& scenario, std::uint64_t seed,
                                     milliseconds duration, int nodes, milliseconds timeout) {
  std::vector<FaultKind> kinds;
  if (scenario == "kill") kinds = {FaultKind::kKill};
  if (scenario == "pause") kinds = {FaultKind::kPause};
  if (scenario == "leave") kinds = {FaultKind::kLeave};
  if (scenario == "mixed") kinds = {FaultKind::kKill, FaultKind::kPause, FaultKind::kLeave};
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
      case FaultKind::kKill:
        log("kill -9 " + who);
        report.crashes.kills.push_back(Clock::now());
        cluster.kill9(s.node);
        std::this_thread::sleep_for(s.hold);
        log(cluster.restart(s.node, 30s) ? "restarted " + who : "restart FAILED " + who);
        break;
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
        if (!code) report.crashes.kills.push_back(Clock::now());
        std::this_thread::sleep_for(s.hold);
        log(cluster.restart(s.node, 30s) ? "restarted " + who : "restart FAILED " + who);
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
