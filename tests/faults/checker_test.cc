// Unit tests of the fault harness's checker: each kind of violation is found,
// and unacknowledged writes widen what is allowed.
#include "faults/checker.h"

#include <gtest/gtest.h>

namespace dendrite::faults {
namespace {

WriteOp set(std::uint64_t seq, int c, bool acked, Clock::time_point at = Clock::now()) {
  return WriteOp{seq, false, "k/" + std::to_string(seq), c, acked, at, at};
}
WriteOp del(std::uint64_t seq, int c, bool acked, Clock::time_point at = Clock::now()) {
  return WriteOp{seq, true, "", c, acked, at, at};
}
FinalRead value(const std::string& v) {
  return FinalRead{v, Status::Ok()};
}
FinalRead absent() {
  return FinalRead{std::nullopt, Status::Ok()};
}

CheckResult one(std::vector<WriteOp> ops, FinalRead fin, FailureLog failures = {}) {
  return check({KeyHistory{"k", std::move(ops)}}, {std::move(fin)}, failures);
}

FailureLog window(Clock::time_point from, Clock::time_point to, int hosts) {
  return FailureLog{{FailureLog::Window{from, to, hosts}}};
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

TEST(FaultsChecker, FewerThanCFailedHostsProtectAWrite) {
  using std::chrono::seconds;
  const auto t = Clock::now();
  const FailureLog kill_after = window(t + seconds(1), t + seconds(3), 1);
  const FailureLog kill_before = window(t - seconds(3), t - seconds(1), 1);
  const FailureLog during = window(t - seconds(1), t + seconds(1), 1);
  const FailureLog two_cut = window(t + seconds(1), t + seconds(3), 2);
  EXPECT_EQ(one({set(1, 1, true, t)}, absent(), kill_after).unprotected, 1u);
  EXPECT_EQ(one({set(1, 1, true, t)}, absent(), during).unprotected, 1u);
  EXPECT_EQ(one({set(1, 1, true, t)}, absent(), kill_before).lost, 1u);
  EXPECT_EQ(one({set(1, 2, true, t)}, absent(), kill_after).lost, 1u);
  EXPECT_EQ(one({set(1, 2, true, t)}, absent(), two_cut).unprotected, 1u);
  EXPECT_EQ(one({set(1, 3, true, t)}, absent(), two_cut).lost, 1u);
}

TEST(FaultsChecker, CopiesShortOnlyBelowThePromise) {
  const auto t = Clock::now();
  const std::vector<KeyHistory> h{KeyHistory{"k", {set(1, 2, true, t)}}};
  const std::vector<FinalRead> fin{value("k/1")};
  auto run = [&](int good, const FailureLog& failures) {
    CheckResult r = check(h, fin, failures);
    check_copies(h, fin, {CopiesRead{3, good, ""}}, failures, &r);
    return r;
  };
  EXPECT_EQ(run(3, {}).copies_bad, 0u);
  EXPECT_EQ(run(2, {}).copies_bad, 1u);
  EXPECT_EQ(run(2, {}).copies_short, 0u);
  EXPECT_EQ(run(1, {}).copies_short, 1u);
  const auto cut = window(t, t + std::chrono::seconds(1), 2);
  EXPECT_EQ(run(1, cut).copies_short, 0u);
  EXPECT_EQ(run(1, cut).copies_bad, 1u);
}

TEST(FaultsChecker, FailedReadIsUnreadable) {
  EXPECT_EQ(one({set(1, 2, true)}, FinalRead{std::nullopt, Status::Timeout("x")}).unreadable, 1u);
}

}  // namespace
}  // namespace dendrite::faults
