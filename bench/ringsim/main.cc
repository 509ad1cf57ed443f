// ringsim: the host's Chord ring (host/ring.h) simulated in one process over the
// in-memory network, N = 2^4 ... 2^14 vnodes (one per host), stabilisation in
// explicit rounds. Measures what the Chord papers report:
//   1. lookup hops (remote FindSuccessors per lookup) against ½·log2 N
//      (SIGCOMM 2001, Fig. 10);
//   2. failed lookups right after 10/25/50 % of the hosts fail at once, with
//      r = 2·log2 N, and after stabilisation (ToN 2003);
//   3. rounds until the ring is right again after N/2 hosts joined a ring of
//      N/2 at once;
//   4. keys per host at the 1st and 99th percentile with 1..20 vnodes per host
//      (SIGCOMM 2001, Fig. 9).
// Prints the tables (Markdown) and writes the plot data. bench/ringsim.sh runs
// it and draws docs/ringsim-*.png; docs/ringsim.md explains the results.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <numeric>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "sim.h"

namespace dendrite::sim {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  int min_log2 = 4;
  int max_log2 = 14;
  bool big = false;  // also N = 10^5
  std::size_t lookups = 10000;
  std::size_t fail_lookups = 4000;
  int max_rounds = 100;
  std::uint64_t seed = 1;
  std::size_t key_hosts = 10000;
  std::size_t keys = 1000000;
  std::string out_dir;       // plot data; empty = none
  int restab_max_log2 = 10;  // 10 % and 25 % are stabilised (on a fresh ring) up to 2^K
  std::string mass_level = "successors";
  int threads = 2;
  bool partition = false;  // run only the partition experiment
};

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Nearest-rank percentile of sorted values.
template <typename T>
T percentile(const std::vector<T>& sorted, double p) {
  if (sorted.empty()) return T{};
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string rounds_text(int r, int max_rounds) {
  return r < 0 ? "> " + std::to_string(max_rounds) : std::to_string(r);
}

struct LookupStats {
  std::size_t count = 0;
  std::size_t errors = 0;       // no answer
  std::size_t dead = 0;         // answered a vnode of a failed host first
  std::size_t wrong = 0;        // answered a live vnode that is not the owner first
  std::size_t live_failed = 0;  // no answer, or its first live entry is not the owner
  std::vector<int> hops;        // of every lookup, sorted

  std::size_t failed() const { return errors + dead + wrong; }
  double failed_fraction() const {
    return count ? static_cast<double>(failed()) / static_cast<double>(count) : 0;
  }
  double mean_hops() const {
    return hops.empty()
               ? 0
               : std::accumulate(hops.begin(), hops.end(), 0.0) / static_cast<double>(hops.size());
  }
};

// `count` lookups of random keys, each from a random live host.
LookupStats run_lookups(Simulation& sim, std::size_t count) {
  LookupStats s;
  const std::vector<std::size_t> live = sim.live_hosts();
  const std::vector<Vnode> sorted = sim.live_vnodes();
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t from = live[sim.rng()() % live.size()];
    const LookupOutcome o = sim.lookup(from, sim.random_key(), sorted);
    ++s.count;
    s.hops.push_back(o.hops);
    if (!o.live_correct) ++s.live_failed;
    if (!o.ok) {
      ++s.errors;
    } else if (o.dead_answer) {
      ++s.dead;
    } else if (!o.correct) {
      ++s.wrong;
    }
  }
  std::sort(s.hops.begin(), s.hops.end());
  return s;
}

// Random `fraction` of the live hosts.
std::vector<std::size_t> pick(Simulation& sim, double fraction) {
  std::vector<std::size_t> live = sim.live_hosts();
  std::shuffle(live.begin(), live.end(), sim.rng());
  live.resize(static_cast<std::size_t>(std::lround(fraction * static_cast<double>(live.size()))));
  return live;
}

constexpr double kFailFractions[] = {0.10, 0.25, 0.50};

struct FailureRow {
  double fraction = 0;
  LookupStats before;  // right after the failure
  Convergence rounds;  // until the ring of the survivors is right
  LookupStats after;   // after those rounds
};

struct SizeRow {
  std::size_t n = 0;
  int r = 0;
  double build_seconds = 0;
  MassJoin mass;  // N/2 joining N/2
  LookupStats healthy;
  LookupStats fingers_only;  // the same with r = 1: routing by fingers, as in the paper
  std::vector<FailureRow> failures;
  double seconds = 0;
};

int successors_for(std::size_t n) {
  return 2 * static_cast<int>(std::ceil(std::log2(static_cast<double>(n))));
}

std::mutex progress_mu;

template <typename... Args>
void progress(const char* f, Args... args) {
  std::lock_guard<std::mutex> lock(progress_mu);
  std::fprintf(stderr, f, args...);
}

Level level_of(const std::string& s) {
  return s == "ring" ? Level::kRing : s == "fingers" ? Level::kFingers : Level::kSuccessors;
}

SizeRow run_size(std::size_t n, const Options& o) {
  const auto started = Clock::now();
  SizeRow row;
  row.n = n;
  row.r = successors_for(n);
  const SimOptions so{1, row.r, o.seed + n};
  auto fresh_ring = [&](Simulation& sim) {
    if (build(sim, n, o.max_rounds) < 0) progress("ringsim: N=%zu: build did not converge\n", n);
  };

  // 3. N/2 hosts join a (built) ring of N/2 at once.
  {
    Simulation sim(so);
    if (build(sim, n / 2, o.max_rounds) < 0)
      progress("ringsim: N=%zu: build did not converge\n", n);
    row.mass = mass_join(sim, n - n / 2, o.max_rounds, level_of(o.mass_level));
  }
  progress("ringsim: N=%zu mass join done at %.1f s\n", n, seconds_since(started));

  // 1. Hops on a right ring.
  Simulation sim(so);
  const auto built = Clock::now();
  fresh_ring(sim);
  row.build_seconds = seconds_since(built);
  row.healthy = run_lookups(sim, o.lookups);
  {
    Simulation one({1, 1, o.seed + n});
    if (build(one, n, o.max_rounds) < 0)
      progress("ringsim: N=%zu: r=1 build did not converge\n", n);
    one.rng().seed(o.seed + n + 1);
    row.fingers_only = run_lookups(one, o.lookups);
  }

  // 2. Failures. The lookups right after a failure only read the ring, so every
  // fraction fails on the same ring and is revived afterwards. The 50 % case
  // then stabilises this ring; 10 % and 25 % stabilise a fresh one (same seed,
  // so the same ring).
  for (double f : kFailFractions) {
    FailureRow fr;
    fr.fraction = f;
    const auto victims = pick(sim, f);
    for (std::size_t h : victims) sim.kill(h);
    fr.before = run_lookups(sim, o.fail_lookups);
    for (std::size_t h : victims) sim.revive(h);
    row.failures.push_back(std::move(fr));
  }
  auto stabilise = [&](Simulation& s, FailureRow& fr) {
    for (std::size_t h : pick(s, fr.fraction)) s.kill(h);
    fr.rounds = converge(s, o.max_rounds, Level::kRing);
    fr.after = run_lookups(s, o.fail_lookups);
  };
  for (FailureRow& fr : row.failures) {
    if (fr.fraction == 0.50) {
      stabilise(sim, fr);
    } else if (n <= (std::size_t{1} << o.restab_max_log2)) {
      Simulation again(so);
      fresh_ring(again);
      stabilise(again, fr);
    }
  }
  row.seconds = seconds_since(started);
  progress("ringsim: N=%zu done in %.1f s (build %.1f s)\n", n, row.seconds, row.build_seconds);
  return row;
}

// 5. A partition longer than failure detection, healed, then one merge.
struct PartitionRow {
  std::size_t n = 0;
  int r = 0;
  int split_rounds = -1;             // until both halves are right rings of their own
  Convergence merged;                // rounds after the merge until one right ring
  std::size_t walked = 0;            // vnodes the merge's two walks found
  std::size_t notifies = 0;          // Notifies it sent
  std::uint64_t merge_messages = 0;  // requests the merge itself sent (walks + Notifies)
  double seconds = 0;
};

PartitionRow run_partition(std::size_t n, const Options& o) {
  const auto started = Clock::now();
  PartitionRow row;
  row.n = n;
  row.r = successors_for(n);
  Simulation sim({1, row.r, o.seed + n});
  if (build(sim, n, o.max_rounds) < 0) progress("ringsim: N=%zu: build did not converge\n", n);
  std::vector<bool> side(sim.host_count(), false), other(sim.host_count(), true);
  for (std::size_t h : pick(sim, 0.5)) {
    side[h] = true;
    other[h] = false;
  }
  sim.split(side);
  for (int i = 0; i <= o.max_rounds; ++i) {
    if (sim.check(false, &side).ring_ok() && sim.check(false, &other).ring_ok()) {
      row.split_rounds = i;
      break;
    }
    sim.round();
  }
  sim.heal();
  std::vector<std::size_t> a, b;
  for (std::size_t h = 0; h < side.size(); ++h) (side[h] ? a : b).push_back(h);
  const std::size_t from = a[sim.rng()() % a.size()], to = b[sim.rng()() % b.size()];
  const std::uint64_t before = sim.messages();
  auto report = sim.merge(from, to);
  row.merge_messages = sim.messages() - before;
  if (report.ok()) {
    row.walked = report->ours + report->theirs;
    row.notifies = report->notifies;
  }
  row.merged = converge(sim, o.max_rounds, Level::kRing);
  row.seconds = seconds_since(started);
  progress("ringsim: partition N=%zu done in %.1f s\n", n, row.seconds);
  return row;
}

void print_partition(const std::vector<PartitionRow>& rows, std::ostream& out) {
  out << "### Partition, heal, one merge\n\n"
         "| N | r | rounds until each half is a ring | merge: vnodes walked | Notifies | "
         "requests | rounds until every successor is right | until the whole ring is right |\n"
         "|---|---|---|---|---|---|---|---|\n";
  for (const PartitionRow& p : rows) {
    out << "| " << p.n << " | " << p.r << " | " << p.split_rounds << " | " << p.walked << " | "
        << p.notifies << " | " << p.merge_messages << " | " << p.merged.successors << " | "
        << p.merged.ring << " |\n";
  }
}

struct KeyRow {
  int vnodes = 0;
  std::size_t hosts = 0;
  double p1 = 0, p99 = 0, max = 0;  // keys per host, normalised to the mean
};

// Keys per host for `vnodes` vnodes per host. The owner of a key is computed
// from the vnode ids the ring uses (Id::for_vnode of the host's address), as
// the ring's lookups return it (checked against the same brute force above).
KeyRow key_spread(int vnodes, const Options& o) {
  struct Entry {
    Id id;
    std::uint32_t host;
  };
  std::vector<Entry> ids;
  for (std::size_t h = 0; h < o.key_hosts; ++h) {
    const std::string a = host_address(h);
    for (int i = 0; i < vnodes; ++i) {
      ids.push_back(
          {Id::for_vnode(a, static_cast<std::uint16_t>(i)), static_cast<std::uint32_t>(h)});
    }
  }
  std::sort(ids.begin(), ids.end(), [](const Entry& a, const Entry& b) { return a.id < b.id; });
  std::vector<std::uint32_t> count(o.key_hosts, 0);
  for (std::size_t k = 0; k < o.keys; ++k) {
    const Id key = Id::hash("key-" + std::to_string(k));
    auto it = std::lower_bound(ids.begin(), ids.end(), key,
                               [](const Entry& e, const Id& x) { return e.id < x; });
    ++count[it == ids.end() ? ids.front().host : it->host];
  }
  std::sort(count.begin(), count.end());
  const double mean = static_cast<double>(o.keys) / static_cast<double>(o.key_hosts);
  KeyRow row;
  row.vnodes = vnodes;
  row.hosts = o.key_hosts;
  row.p1 = percentile(count, 1) / mean;
  row.p99 = percentile(count, 99) / mean;
  row.max = count.back() / mean;
  return row;
}

std::string pct(std::size_t part, std::size_t whole) {
  return fmt("%.2f %%", whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0);
}

void print_tables(const std::vector<SizeRow>& rows, const std::vector<KeyRow>& keys,
                  const Options& o, std::ostream& out) {
  out << "### 1. Lookup hops (healthy ring, " << o.lookups << " lookups per N)\n\n"
      << "| N | r | mean hops | ½·log2 N | 99th pct | max | failed lookups | mean hops with r = 1 "
         "| 99th pct with r = 1 |\n"
      << "|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const SizeRow& r : rows) {
    const double half = 0.5 * std::log2(static_cast<double>(r.n));
    out << "| " << r.n << " | " << r.r << " | " << fmt("%.2f", r.healthy.mean_hops()) << " | "
        << fmt("%.2f", half) << " | " << percentile(r.healthy.hops, 99) << " | "
        << r.healthy.hops.back() << " | " << r.healthy.failed() << " | "
        << fmt("%.2f", r.fingers_only.mean_hops()) << " | " << percentile(r.fingers_only.hops, 99)
        << " |\n";
  }
  out << "\n### 2. Lookups failing after a simultaneous failure of a fraction p of the hosts ("
      << o.fail_lookups << " lookups each; r = 2·⌈log2 N⌉)\n\n"
      << "Failed = no answer, or an answer that is not the key's owner among the live vnodes "
         "(\"dead\": the answer is a failed vnode).\n\n"
      << "| N | r | p | failed right after | … dead answers | … no answer | first live entry "
         "wrong | mean hops | rounds to right successors | … lists and predecessors | failed "
         "after stabilisation |\n"
      << "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const SizeRow& r : rows) {
    for (const FailureRow& f : r.failures) {
      out << "| " << r.n << " | " << r.r << " | " << fmt("%.0f %%", f.fraction * 100) << " | "
          << pct(f.before.failed(), f.before.count) << " | " << pct(f.before.dead, f.before.count)
          << " | " << pct(f.before.errors, f.before.count) << " | "
          << pct(f.before.live_failed, f.before.count) << " | " << fmt("%.2f", f.before.mean_hops())
          << " | ";
      if (f.after.count == 0) {
        out << "– | – | – |\n";
        continue;
      }
      out << rounds_text(f.rounds.successors, o.max_rounds) << " | "
          << rounds_text(f.rounds.ring, o.max_rounds) << " | "
          << pct(f.after.failed(), f.after.count) << " |\n";
    }
  }
  out << "\n### 3. Rounds until the ring is right after N/2 hosts join a ring of N/2 at once\n\n"
      << "Rounds are waited for up to: " << o.mass_level << " right.\n\n"
      << "| N | joined at once | into a ring of | join errors | rounds: successors | "
         "successor lists + predecessors | fingers |\n"
      << "|---:|---:|---:|---:|---:|---:|---:|\n";
  auto waited = [&](int r, bool asked) { return asked ? rounds_text(r, o.max_rounds) : "–"; };
  const Level ml = level_of(o.mass_level);
  for (const SizeRow& r : rows) {
    const MassJoin& g = r.mass;
    out << "| " << r.n << " | " << g.joined << " | " << g.before << " | " << g.join_errors << " | "
        << rounds_text(g.rounds.successors, o.max_rounds) << " | "
        << waited(g.rounds.ring, ml != Level::kSuccessors || g.rounds.ring >= 0) << " | "
        << waited(g.rounds.fingers, ml == Level::kFingers || g.rounds.fingers >= 0) << " |\n";
  }
  out << "\n### 4. Keys per host (" << o.keys << " keys, " << o.key_hosts
      << " hosts; normalised to the mean " << fmt("%.0f", double(o.keys) / double(o.key_hosts))
      << ")\n\n"
      << "| vnodes per host | 1st percentile | 99th percentile | max |\n"
      << "|---:|---:|---:|---:|\n";
  for (const KeyRow& k : keys) {
    out << "| " << k.vnodes << " | " << fmt("%.2f", k.p1) << " | " << fmt("%.2f", k.p99) << " | "
        << fmt("%.2f", k.max) << " |\n";
  }
  out << "\nCost: ";
  for (const SizeRow& r : rows) {
    out << "N=" << r.n << " " << fmt("%.1f s", r.seconds) << (&r == &rows.back() ? "" : ", ");
  }
  out << " (ring build of the last size alone: " << fmt("%.1f s", rows.back().build_seconds)
      << ").\n";
}

void write_data(const std::vector<SizeRow>& rows, const std::vector<KeyRow>& keys,
                const std::string& dir) {
  std::ofstream hops(dir + "/hops.tsv");
  hops << "# N\tlog2N\tmean\tp1\tp99\thalf_log2N\tmean_r1\tp99_r1\n";
  for (const SizeRow& r : rows) {
    const double l = std::log2(static_cast<double>(r.n));
    hops << r.n << '\t' << l << '\t' << r.healthy.mean_hops() << '\t'
         << percentile(r.healthy.hops, 1) << '\t' << percentile(r.healthy.hops, 99) << '\t'
         << 0.5 * l << '\t' << r.fingers_only.mean_hops() << '\t'
         << percentile(r.fingers_only.hops, 99) << '\n';
  }
  // The distribution of hops per N (SIGCOMM Fig. 11 shows it for 2^12).
  std::ofstream pdf(dir + "/hops_pdf.tsv");
  pdf << "# N\thops\tfraction\n";
  for (const SizeRow& r : rows) {
    std::map<int, std::size_t> h;
    for (int x : r.healthy.hops) ++h[x];
    for (auto [x, c] : h) {
      pdf << r.n << '\t' << x << '\t' << double(c) / double(r.healthy.hops.size()) << '\n';
    }
    pdf << "\n\n";
  }
  std::ofstream fail(dir + "/failures.tsv");
  fail << "# N\tp\tfailed_before\tfailed_after\n";
  for (const SizeRow& r : rows) {
    for (const FailureRow& f : r.failures) {
      fail << r.n << '\t' << f.fraction << '\t' << f.before.failed_fraction() << '\t';
      if (f.after.count) {
        fail << f.after.failed_fraction() << '\n';
      } else {
        fail << "NaN\n";
      }
    }
  }
  std::ofstream k(dir + "/keys.tsv");
  k << "# vnodes\tp1\tp99\n";
  for (const KeyRow& r : keys) k << r.vnodes << '\t' << r.p1 << '\t' << r.p99 << '\n';
}

// run_one(n) for every size, on `threads` threads, largest first (each has
// its own Simulation); the rows in size order.
template <typename Row, typename RunOne>
std::vector<Row> for_sizes(const std::vector<std::size_t>& sizes, int threads, RunOne run_one) {
  std::vector<Row> rows(sizes.size());
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < sizes.size();) {
      const std::size_t k = sizes.size() - 1 - i;
      rows[k] = run_one(sizes[k]);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::max(1, threads); ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  return rows;
}

int run(const Options& o) {
  std::vector<std::size_t> sizes;
  for (int l = o.min_log2; l <= o.max_log2; ++l) sizes.push_back(std::size_t{1} << l);
  if (o.partition) {
    print_partition(for_sizes<PartitionRow>(sizes, o.threads,
                                            [&](std::size_t n) { return run_partition(n, o); }),
                    std::cout);
    return 0;
  }
  if (o.big) sizes.push_back(100000);
  const std::vector<SizeRow> rows =
      for_sizes<SizeRow>(sizes, o.threads, [&](std::size_t n) { return run_size(n, o); });
  std::vector<KeyRow> keys;
  for (int v : {1, 2, 5, 10, 20}) keys.push_back(key_spread(v, o));
  print_tables(rows, keys, o, std::cout);
  if (!o.out_dir.empty()) write_data(rows, keys, o.out_dir);
  return 0;
}

}  // namespace
}  // namespace dendrite::sim

int main(int argc, char** argv) {
  dendrite::sim::Options o;
  CLI::App app{"ringsim: the host's Chord ring simulated over an in-memory network"};
  app.add_option("--min-log2", o.min_log2, "smallest ring: 2^K vnodes")->check(CLI::Range(1, 20));
  app.add_option("--max-log2", o.max_log2, "largest ring: 2^K vnodes")->check(CLI::Range(1, 20));
  app.add_flag("--big", o.big, "also N = 100000 (long; several GB of memory)");
  app.add_option("--lookups", o.lookups, "lookups per N on the healthy ring");
  app.add_option("--fail-lookups", o.fail_lookups, "lookups per failure case");
  app.add_option("--max-rounds", o.max_rounds, "give up stabilising after this many rounds");
  app.add_option("--seed", o.seed, "seed of every random choice");
  app.add_option("--key-hosts", o.key_hosts, "hosts in the keys-per-host experiment")
      ->check(CLI::Range(1, 1 << 24));
  app.add_option("--keys", o.keys, "keys in the keys-per-host experiment");
  app.add_option("--out", o.out_dir, "directory for the plot data (*.tsv)");
  app.add_option("--restab-max-log2", o.restab_max_log2,
                 "stabilise after 10 % and 25 % failures (a fresh ring each) up to 2^K vnodes");
  app.add_option("--mass-join-until", o.mass_level,
                 "rounds after the mass join until these are right")
      ->check(CLI::IsMember({"successors", "ring", "fingers"}));
  app.add_option("--threads", o.threads, "sizes simulated at once")->check(CLI::Range(1, 64));
  app.add_flag("--partition", o.partition,
               "only the partition experiment: split in halves, heal, one merge");
  CLI11_PARSE(app, argc, argv);
  if (o.min_log2 > o.max_log2) {
    std::fprintf(stderr, "ringsim: --min-log2 is larger than --max-log2\n");
    return 2;
  }
  return dendrite::sim::run(o);
}
