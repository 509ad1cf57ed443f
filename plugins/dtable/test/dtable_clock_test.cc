// The hybrid clock that stamps dtable writes: strictly increasing, even when
// the wall clock steps back, and ahead of every timestamp it has observed.
#include <gtest/gtest.h>

#include <atomic>
#include <limits>
#include <set>
#include <thread>
#include <vector>

#include "clock.h"

namespace dendrite::dtable {
namespace {

TEST(DtableClockTest, FollowsTheWallClockWhenItMovesForward) {
  std::atomic<std::int64_t> wall{1000};
  HybridClock clock([&] { return wall.load(); });
  EXPECT_EQ(clock.now(), 1000);
  wall = 5000;
  EXPECT_EQ(clock.now(), 5000);
  EXPECT_EQ(clock.peek(), 5000);
}

TEST(DtableClockTest, NeverGoesBackwardsWhenTheWallClockStepsBack) {
  std::atomic<std::int64_t> wall{1'000'000};
  HybridClock clock([&] { return wall.load(); });
  const std::int64_t a = clock.now();
  wall = 10;  // stepped back by almost everything
  const std::int64_t b = clock.now();
  const std::int64_t c = clock.now();
  EXPECT_GT(b, a);
  EXPECT_GT(c, b);
  EXPECT_GE(clock.peek(), c);
  wall = 2'000'000;  // and forward again
  EXPECT_EQ(clock.now(), 2'000'000);
}

TEST(DtableClockTest, RepeatedReadingsOfAStoppedWallClockStillIncrease) {
  HybridClock clock([] { return std::int64_t{42}; });
  std::int64_t last = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::int64_t t = clock.now();
    EXPECT_GT(t, last);
    last = t;
  }
}

TEST(DtableClockTest, ObservedTimestampsPushTheClockAhead) {
  HybridClock clock([] { return std::int64_t{100}; });
  clock.observe(10'000);
  EXPECT_GT(clock.now(), 10'000);
  clock.observe(50);  // older: no effect
  EXPECT_GT(clock.now(), 10'001);
}

// Found by fuzz_dtable (docs/fuzzing.md): a replica write stamped INT64_MAX
// made the next local write overflow last + 1.
TEST(DtableClockTest, StopsAtTheLargestTimestampInsteadOfOverflowing) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  HybridClock clock([] { return kMax; });
  EXPECT_EQ(clock.now(), kMax);
  EXPECT_EQ(clock.now(), kMax);
  clock.observe(kMax);
  EXPECT_EQ(clock.peek(), kMax);
}

TEST(DtableClockTest, APeerMovesTheClockAtMostADayAhead) {
  HybridClock clock([] { return std::int64_t{100}; });
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  clock.observe(kMax);  // one replica write stamped at the end of time
  EXPECT_EQ(clock.peek(), 100 + HybridClock::kMaxAheadNs);
  EXPECT_EQ(clock.now(), 100 + HybridClock::kMaxAheadNs + 1);
  EXPECT_EQ(clock.now(), 100 + HybridClock::kMaxAheadNs + 2);  // still strictly increasing
  clock.observe(5000);                                         // within the bound: as before
  EXPECT_EQ(clock.now(), 100 + HybridClock::kMaxAheadNs + 3);
}

TEST(DtableClockTest, AgesIgnoreAWallClockThatJumpsForward) {
  std::int64_t wall = 1000, steady = 0;
  HybridClock clock([&] { return wall; }, [&] { return steady; });
  EXPECT_EQ(clock.age_now(), 1000);
  wall += 50;
  steady += 50;
  EXPECT_EQ(clock.age_now(), 1050);
  // The wall clock jumps an hour ahead: stamps follow it, ages do not.
  constexpr std::int64_t kHour = std::int64_t{3600} * 1'000'000'000;
  wall += kHour + 10;
  steady += 10;
  EXPECT_EQ(clock.now(), 1060 + kHour);
  EXPECT_EQ(clock.age_now(), 1060);
  // Nor does a peer's stamp far ahead.
  clock.observe(1060 + 2 * kHour);
  EXPECT_EQ(clock.age_now(), 1060);
  // Back to the right time: ages follow the steady clock as before.
  wall = 1100;
  steady = 100;
  EXPECT_EQ(clock.age_now(), 1100);
  // The wall clock stepping back leaves stamps ahead (they never go back) and
  // ages on the steady estimate.
  wall = 1150;
  steady = 400;
  EXPECT_EQ(clock.peek(), 1060 + 2 * kHour);
  EXPECT_EQ(clock.age_now(), 1400);  // min(peek, 1000 + 400)
}

TEST(DtableClockTest, AgesFollowAWallClockBehindTheEstimate) {
  std::int64_t wall = 1000, steady = 0;
  HybridClock clock([&] { return wall; }, [&] { return steady; });
  wall = 900;  // stepped back before anything was stamped
  steady = 100;
  EXPECT_EQ(clock.age_now(), 900);  // younger ages: things are collected later, never earlier
}

TEST(DtableClockTest, ConcurrentCallersGetDistinctTimestamps) {
  HybridClock clock([] { return std::int64_t{7}; });
  constexpr int kThreads = 4, kEach = 2000;
  std::vector<std::vector<std::int64_t>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) got[t].push_back(clock.now());
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::int64_t> all;
  for (const auto& g : got) {
    for (std::size_t i = 1; i < g.size(); ++i) EXPECT_GT(g[i], g[i - 1]);
    all.insert(g.begin(), g.end());
  }
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreads * kEach));
}

}  // namespace
}  // namespace dendrite::dtable
