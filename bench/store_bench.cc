// store_bench: Google Benchmark micro-benchmarks of what one dtable write and
// read cost on the primary, piece by piece, over a key space like
// redis-benchmark's -r 100000 -d 32 (docs/benchmarks.md).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "dendrite/id.h"
#include "store.h"

namespace {

using dendrite::Id;
using dendrite::dtable::Item;
using dendrite::dtable::Store;

constexpr int kKeys = 100000;

std::vector<std::string> key_space() {
  std::vector<std::string> keys;
  keys.reserve(kKeys);
  for (int i = 0; i < kKeys; ++i) keys.push_back("key:" + std::to_string(1000000000 + i));
  return keys;
}

// Visits the keys in a fixed pseudo-random order (a full-period LCG).
struct Walk {
  std::uint32_t at = 1;
  std::uint32_t next() {
    at = at * 1664525u + 1013904223u;
    return at % kKeys;
  }
};

void BM_IdHash(benchmark::State& state) {
  const auto keys = key_space();
  Walk walk;
  for (auto _ : state) benchmark::DoNotOptimize(Id::hash(keys[walk.next()]));
}
BENCHMARK(BM_IdHash);

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void BM_StorePutStamped(benchmark::State& state) {
  const auto keys = key_space();
  std::vector<Id> hashes;
  for (const auto& k : keys) hashes.push_back(Id::hash(k));
  Store store(/*keep_history=*/false);
  const std::string value(32, 'x');
  Walk walk;
  for (auto _ : state) {
    const std::uint32_t i = walk.next();
    Item item;
    item.key = keys[i];
    item.hash = hashes[i];
    item.value = value;
    benchmark::DoNotOptimize(store.put_stamped(item, now_ns, /*committed=*/true));
  }
}
BENCHMARK(BM_StorePutStamped);

void BM_StoreGet(benchmark::State& state) {
  const auto keys = key_space();
  std::vector<Id> hashes;
  Store store(/*keep_history=*/false);
  const std::string value(32, 'x');
  for (const auto& k : keys) {
    Item item;
    item.key = k;
    item.hash = Id::hash(k);
    item.value = value;
    store.put_stamped(item, now_ns, true);
    hashes.push_back(item.hash);
  }
  Walk walk;
  for (auto _ : state) benchmark::DoNotOptimize(store.get(hashes[walk.next()]));
}
BENCHMARK(BM_StoreGet);

}  // namespace

BENCHMARK_MAIN();
