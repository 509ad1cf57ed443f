// Unit tests of the fault harness's checker: each kind of violation is found,
// and unacknowledged writes widen what is allowed.
#include "faults/checker.h"

#include <gtest/gtest.h>

namespace dendrite::faults {
namespace {

WriteOp set(std::uint64_t seq, int c, bool acked, Clock::time_point done = Clock::now()) {
  return WriteOp{seq, false, "k/" + std::to_string(seq), c, acked, done};
}
WriteOp del(std::uint64_t seq, int c, bool acked, Clock::time_point done = Clock::now()) {
  return WriteOp{seq, true, "", c, acked, done};
}
FinalRead value(const std::string& v) {
  return FinalRead{v, Status::Ok()};
}
FinalRead absent() {
  return FinalRead{std::nullopt, Status::Ok()};
}

CheckResult one(std::vector<WriteOp> ops, FinalRead fin, CrashLog crashes = {}) {
  return check({KeyHistory{"k", std::move(ops)}}, {std::move(fin)}, crashes);
}

TEST(FaultsChecker, LatestAckedOrLaterUnackedIsAllowed) {
  EXPECT_EQ(one({set(1, 2, true), set(2, 2, true)}, value("k/2")).ok, 1u);
  EXPECT_EQ(one({set(1, 2, true), set(2, 2, false)}, value("k/2")).ok, 1u);
  EXPECT_EQ(one({set(1, 2, true), del(2, 2, false)}, absent()).ok, 1u);
  EXPECT_EQ(one({set(1, 2, false)}, absent()).ok, 1u);
  EXPECT_EQ(one({}, absent()).ok, 1u);
}

TEST(FaultsChecker, FindsLostStaleWrong) {
  EXPECT_EQ(one({set(1, 2, true)}, absent()).lost, 1u);
  EXPECT_EQ(one({set(1, 2, true), set(2, 3, true)}, value("k/1")).stale, 1u);
  EXPECT_EQ(one({set(1, 2, true)}, value("other")).wrong, 1u);
  EXPECT_EQ(one({set(1, 2, true), del(2, 2, true)}, value("k/1")).wrong, 1u);
  // An unacked write before the latest acked one is not allowed either.
  EXPECT_EQ(one({set(1, 2, false), set(2, 2, true)}, value("k/1")).stale, 1u);
}

TEST(FaultsChecker, ConsistencyOneBeforeAKillIsUnprotected) {
  const auto t = Clock::now();
  CrashLog kill_after{{t + std::chrono::seconds(1)}};
  CrashLog kill_before{{t - std::chrono::seconds(1)}};
  EXPECT_EQ(one({set(1, 1, true, t)}, absent(), kill_after).unprotected, 1u);
  EXPECT_EQ(one({set(1, 1, true, t)}, absent(), kill_before).lost, 1u);
  EXPECT_EQ(one({set(1, 2, true, t)}, absent(), kill_after).lost, 1u);
}

TEST(FaultsChecker, FailedReadIsUnreadable) {
  EXPECT_EQ(one({set(1, 2, true)}, FinalRead{std::nullopt, Status::Timeout("x")}).unreadable, 1u);
}

}  // namespace
}  // namespace dendrite::faults
