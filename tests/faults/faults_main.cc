// dendrite-faults: runs dendrited processes (on 127.0.0.1, or each in its own
// network namespace) under a workload of writers and readers, injects seeded
// faults (kill -9 + restart, SIGSTOP/SIGCONT, graceful leave + rejoin, network
// partitions, wall-clock jumps), heals, and checks that nothing acknowledged
// was lost, through the client and at every copy. Prints one table row per
// scenario. Exit 0 when every scenario passed or was skipped (partition without
// namespaces, clock without libfaketime), 1 when one failed, 2 for bad flags.
// Guide: docs/faults.md.
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dendrite/client/dtable_client.h"
#include "faults/checker.h"
#include "faults/cluster.h"
#include "faults/copies.h"
#include "faults/nemesis.h"
#include "faults/netlab.h"
#include "faults/workload.h"

namespace dendrite::faults {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

constexpr const char* kUsage =
    "usage: dendrite-faults [--seed N] [--duration SECONDS] [--nodes N]\n"
    "                       [--scenario "
    "kill|pause|leave|partition|clock|split|oneway|mixed|all|LIST,...]\n"
    "                       [--net loopback|netns] [--faketime-lib PATH]\n"
    "                       [--writers N] [--keys N] [--bin-dir DIR] [--keep] [--curve]\n";

// Where Debian's libfaketime package puts the library.
constexpr const char* kFaketimeCandidates[] = {
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
};

struct Flags {
  std::uint64_t seed = 1;
  int duration_s = 20;
  int nodes = 5;
  std::string scenario = "all";
  int writers = 4;
  int keys = 40;
  std::string bin_dir = DENDRITE_BIN_DIR;
  bool keep = false;
  bool curve = false;        // --curve: nodes and clients speak CURVE (docs/security.md)
  bool netns = false;        // --net netns: every scenario in namespaces
  std::string faketime_lib;  // --faketime-lib, else the first candidate found
};

// What this machine allows, found once.
struct Env {
  bool netns = false;
  std::string netns_why;  // why not
  std::string faketime;   // the library, "" when none
};

// One row of the table.
struct Row {
  std::string scenario;
  int faults = 0;
  CheckResult check;
  std::uint64_t wrong_reads = 0;
  bool ring_ok = false;
  std::string ring_detail;
  double heal_s = 0;      // longest heal -> correct ring during the run
  double converge_s = 0;  // workload stop -> ring correct and every key as allowed
  double copies_s = 0;    // workload stop -> every copy as the final read (or the bound)
  std::string dir;
  bool setup_failed = false;
  std::string error;
  std::string skipped;             // why the scenario could not run here (not a failure)
  std::vector<std::string> notes;  // printed with the events

  bool passed() const {
    return !skipped.empty() ||
           (!setup_failed && ring_ok && check.lost == 0 && check.wrong == 0 && check.stale == 0 &&
            check.unreadable == 0 && check.copies_short == 0 && wrong_reads == 0);
  }
};

bool parse_int(const char* s, long min, long max, long* out) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || v > max) return false;
  *out = v;
  return true;
}

// Reads every key once (consistency 1) with `client`.
std::vector<FinalRead> read_all(client::DtableClient& client,
                                const std::vector<KeyHistory>& histories) {
  std::vector<std::string> keys;
  for (const KeyHistory& h : histories) keys.push_back(h.key);
  std::vector<FinalRead> out(keys.size());
  auto got = client.get_multi(keys, 1);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (got[i].ok()) {
      out[i].value = *got[i];
    } else if (got[i].status().code() != StatusCode::kNotFound) {
      out[i].error = got[i].status();
    }
  }
  return out;
}

Row run_scenario(const Flags& flags, const Env& env, const std::string& scenario,
                 std::uint64_t seed) {
  Row row;
  row.scenario = scenario;
  const bool silent = scenario == "split" || scenario == "oneway";
  const bool wants_netns = flags.netns || scenario == "partition" || scenario == "mixed" || silent;
  if ((scenario == "partition" || silent) && !env.netns) {
    row.skipped = "network namespaces unavailable (" + env.netns_why + ")";
    return row;
  }
  if (silent && !NetLab::drops_available()) {
    row.skipped = "no iptables (install the iptables package)";
    return row;
  }
  if (scenario == "clock" && env.faketime.empty()) {
    row.skipped = "libfaketime not found (install the faketime package or pass --faketime-lib)";
    return row;
  }
  if (flags.netns && !env.netns) {
    row.skipped = "--net netns: network namespaces unavailable (" + env.netns_why + ")";
    return row;
  }
  NemesisCaps caps;
  caps.partition = env.netns && wants_netns;
  caps.clock = !env.faketime.empty();
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/dendrite-faults-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) {
    row.setup_failed = true;
    row.error = std::string("mkdtemp: ") + std::strerror(errno);
    return row;
  }
  row.dir = templ;
  ClusterOptions copts;
  copts.dendrited = flags.bin_dir + "/dendrited";
  copts.dir = row.dir;
  copts.nodes = flags.nodes;
  copts.netns = caps.partition;
  copts.curve = flags.curve;
  if (scenario == "clock" || scenario == "mixed") copts.faketime_lib = env.faketime;
  Cluster cluster(copts);
  std::string detail;
  if (!cluster.start(&detail) || !cluster.wait_settled(90s, &detail)) {
    row.setup_failed = true;
    row.error = "cluster did not start: " + detail;
    std::cerr << cluster.logs_tail(2000);
    return row;
  }
  client::DtableClientOptions opts;
  opts.timeout = copts.timeout;
  opts.credentials = cluster.credentials();
  auto client = client::DtableClient::connect(cluster.address(0), opts);
  if (!client.ok()) {
    row.setup_failed = true;
    row.error = "client: " + client.status().to_string();
    return row;
  }
  WorkloadOptions wopts;
  wopts.writers = flags.writers;
  wopts.keys_per_writer = flags.keys;
  wopts.seed = seed;
  const auto steps = make_schedule(scenario, seed, std::chrono::seconds(flags.duration_s),
                                   flags.nodes, copts.timeout, caps);
  NemesisReport nemesis;
  {
    Workload workload(**client, wopts);
    workload.start();
    nemesis = run_schedule(cluster, steps, 60s);
    std::this_thread::sleep_for(1s);  // a little traffic on the healed ring
    workload.stop();
    row.wrong_reads = workload.counts().wrong_reads;
    const auto stopped = Clock::now();

    // Converge: a correct ring, then every key as allowed (or the bound).
    row.ring_ok = cluster.wait_settled(60s, &row.ring_detail);
    auto reader = client::DtableClient::connect(cluster.address(0), opts);
    const auto deadline = Clock::now() + 30s;
    CheckResult result;
    std::vector<FinalRead> finals;
    do {
      if (!reader.ok()) break;
      (*reader)->refresh();
      finals = read_all(**reader, workload.histories());
      result = check(workload.histories(), finals, nemesis.failures);
      if (result.ok == result.keys) break;
      std::this_thread::sleep_for(500ms);
    } while (Clock::now() < deadline);
    // Every copy: the self-check (every check_interval_ms) re-replicates what
    // is missing, so wait (bounded) until every holder has the final state.
    const auto copies_deadline = Clock::now() + 20s;
    std::vector<CopiesRead> copies;
    for (;;) {
      copies = read_copies(cluster.expected_ring(), copts.replicas, workload.histories(), finals,
                           copts.timeout, cluster.credentials());
      const bool all_good = std::all_of(copies.begin(), copies.end(),
                                        [](const CopiesRead& c) { return c.good >= c.expected; });
      if (all_good || Clock::now() >= copies_deadline) break;
      std::this_thread::sleep_for(1s);
    }
    row.copies_s = std::chrono::duration<double>(Clock::now() - stopped).count();
    check_copies(workload.histories(), finals, copies, nemesis.failures, &result);
    // How far the newest stored timestamp runs ahead of real time: after a
    // forward clock jump the hybrid clocks stay ahead (they never go back).
    std::int64_t newest = 0;
    for (const CopiesRead& c : copies) newest = std::max(newest, c.newest_ts);
    const std::int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
    row.notes.push_back("newest stored timestamp: " + std::to_string((newest - now_ns) / 1000000) +
                        " ms from the harness's wall clock");
    if (!reader.ok()) {
      row.setup_failed = true;
      row.error = "checker client: " + reader.status().to_string();
    }
    row.converge_s = std::chrono::duration<double>(Clock::now() - stopped).count();
    if (row.ring_ok) {
      row.ring_ok = cluster.ring_correct(&row.ring_detail);  // still one correct ring
    }
    row.check = result;
  }
  row.faults = nemesis.faults;
  row.heal_s = std::chrono::duration<double>(nemesis.max_heal).count();
  const bool failed = !row.passed();
  if (failed || flags.keep) {
    for (const std::string& e : nemesis.events) std::cerr << "  " << scenario << " " << e << "\n";
    for (const std::string& e : row.check.examples)
      std::cerr << "  " << scenario << " " << e << "\n";
    for (const std::string& n : row.notes) std::cerr << "  " << scenario << " " << n << "\n";
    if (!row.ring_ok) std::cerr << "  " << scenario << " ring: " << row.ring_detail << "\n";
    std::cerr << "  " << scenario << " logs kept in " << row.dir << "\n";
  }
  return row;
}

void print_row(const Row& r, std::uint64_t seed) {
  if (!r.skipped.empty()) {
    std::printf("%-9s %8llu  SKIPPED: %s\n", r.scenario.c_str(),
                static_cast<unsigned long long>(seed), r.skipped.c_str());
    std::fflush(stdout);
    return;
  }
  if (r.setup_failed) {
    std::printf("%-9s %8llu  SETUP FAILED: %s\n", r.scenario.c_str(),
                static_cast<unsigned long long>(seed), r.error.c_str());
    std::fflush(stdout);
    return;
  }
  auto u = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
  std::printf(
      "%-9s %8llu %6d %8llu %5llu %5llu %5llu %6llu %6llu %10llu %12llu %5s %7.1f %10.1f %8.1f  "
      "%s\n",
      r.scenario.c_str(), u(seed), r.faults, u(r.check.acked), u(r.check.lost), u(r.check.wrong),
      u(r.check.stale), u(r.check.unprotected), u(r.wrong_reads), u(r.check.copies_bad),
      u(r.check.copies_short), r.ring_ok ? "ok" : "BAD", r.heal_s, r.converge_s, r.copies_s,
      r.passed() ? "PASS" : "FAIL");
  std::fflush(stdout);
}

int run(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    long v = 0;
    if (a == "--keep") {
      flags.keep = true;
    } else if (a == "--curve") {
      flags.curve = true;
    } else if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    } else if (!has_value) {
      std::cerr << "dendrite-faults: " << a << ": unknown flag or missing value\n" << kUsage;
      return 2;
    } else if (a == "--seed" && parse_int(argv[i + 1], 0, 1L << 62, &v)) {
      flags.seed = static_cast<std::uint64_t>(v), ++i;
    } else if (a == "--duration" && parse_int(argv[i + 1], 1, 1000000, &v)) {
      flags.duration_s = static_cast<int>(v), ++i;
    } else if (a == "--nodes" && parse_int(argv[i + 1], 2, 64, &v)) {
      flags.nodes = static_cast<int>(v), ++i;
    } else if (a == "--writers" && parse_int(argv[i + 1], 1, 256, &v)) {
      flags.writers = static_cast<int>(v), ++i;
    } else if (a == "--keys" && parse_int(argv[i + 1], 1, 100000, &v)) {
      flags.keys = static_cast<int>(v), ++i;
    } else if (a == "--scenario") {
      flags.scenario = argv[++i];
    } else if (a == "--bin-dir") {
      flags.bin_dir = argv[++i];
    } else if (a == "--net" &&
               (std::string(argv[i + 1]) == "netns" || std::string(argv[i + 1]) == "loopback")) {
      flags.netns = std::string(argv[++i]) == "netns";
    } else if (a == "--faketime-lib") {
      flags.faketime_lib = argv[++i];
    } else {
      std::cerr << "dendrite-faults: " << a << " " << argv[i + 1] << ": bad flag or value\n"
                << kUsage;
      return 2;
    }
  }
  std::vector<std::string> scenarios;
  if (flags.scenario == "all") {
    scenarios = {"kill", "pause", "leave", "partition", "clock", "split", "oneway", "mixed"};
  } else {
    std::size_t from = 0;
    for (std::size_t comma; (comma = flags.scenario.find(',', from)) != std::string::npos;
         from = comma + 1) {
      scenarios.push_back(flags.scenario.substr(from, comma - from));
    }
    scenarios.push_back(flags.scenario.substr(from));
  }
  for (const std::string& s : scenarios) {
    if (make_schedule(s, 1, 1s, 2, 1s).empty()) {
      std::cerr << "dendrite-faults: --scenario " << s
                << ": unknown (want kill, pause, leave, partition, clock, split, oneway, mixed "
                   "or all)\n";
      return 2;
    }
  }
  Env env;
  env.netns = NetLab::available(&env.netns_why);
  if (env.netns) NetLab::remove_stale();  // what a killed harness left behind
  if (!flags.faketime_lib.empty()) {
    if (!std::filesystem::exists(flags.faketime_lib)) {
      std::cerr << "dendrite-faults: --faketime-lib " << flags.faketime_lib << ": no such file\n";
      return 2;
    }
    env.faketime = flags.faketime_lib;
  } else {
    for (const char* path : kFaketimeCandidates) {
      if (std::filesystem::exists(path)) {
        env.faketime = path;
        break;
      }
    }
  }
  std::printf("dendrite-faults: seed %llu, %d s per scenario, %d nodes, %d writers x %d keys\n",
              static_cast<unsigned long long>(flags.seed), flags.duration_s, flags.nodes,
              flags.writers, flags.keys);
  std::printf("%-9s %8s %6s %8s %5s %5s %5s %6s %6s %10s %12s %5s %7s %10s %8s\n", "scenario",
              "seed", "faults", "acked", "lost", "wrong", "stale", "unprot", "badrd", "copies_bad",
              "copies_short", "ring", "heal_s", "converge_s", "copies_s");
  bool all_passed = true;
  for (std::size_t k = 0; k < scenarios.size(); ++k) {
    const std::uint64_t seed = flags.seed + k;  // each scenario its own schedule
    Row row = run_scenario(flags, env, scenarios[k], seed);
    print_row(row, seed);
    all_passed = all_passed && row.passed();
    if (row.passed() && !flags.keep && !row.dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(row.dir, ec);
    }
  }
  return all_passed ? 0 : 1;
}

}  // namespace
}  // namespace dendrite::faults

int main(int argc, char** argv) {
  // Interrupted (even when started in the background, where SIGINT is
  // ignored): end at once; PR_SET_PDEATHSIG then kills every dendrited started.
  struct sigaction quit {};
  quit.sa_handler = [](int sig) { ::_exit(128 + sig); };
  ::sigaction(SIGINT, &quit, nullptr);
  ::sigaction(SIGTERM, &quit, nullptr);
  return dendrite::faults::run(argc, argv);
}
