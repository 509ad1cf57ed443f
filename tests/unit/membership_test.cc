// Membership: which hosts are remembered, in which state, and when each is
// probed (the pause doubling while a host stays down, forgetting).
#include "host/membership.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

namespace dendrite::host {
namespace {

using std::chrono::milliseconds;

// A ring view naming `hosts` (each with one vnode).
std::map<std::string, std::vector<Vnode>> view(std::initializer_list<std::string> hosts) {
  std::map<std::string, std::vector<Vnode>> out;
  for (const std::string& h : hosts) out[h] = {Vnode{Id::for_vnode(h, 0), h}};
  return out;
}
using std::chrono::seconds;

struct MembershipTest : ::testing::Test {
  MembershipConfig cfg() {
    MembershipConfig c;
    c.probe_min = milliseconds(1000);
    c.probe_max = milliseconds(8000);
    c.verify = milliseconds(30000);
    c.forget_after = seconds(3600);
    return c;
  }
  Membership m{"self:1", cfg()};
  Membership::TimePoint t0 = Membership::Clock::now();

  const RememberedHost* find(const std::string& host) {
    snap = m.snapshot();
    for (const auto& h : snap) {
      if (h.address == host) return &h;
    }
    return nullptr;
  }
  std::vector<RememberedHost> snap;
};

TEST_F(MembershipTest, SeedsAreProbedAtOnceAndSelfIsNeverRemembered) {
  m.add_seed("a:1", t0);
  m.add_seed("self:1", t0);
  m.observe_view(view({"self:1"}), t0);
  EXPECT_EQ(m.take_due(t0), std::vector<std::string>{"a:1"});
  EXPECT_TRUE(m.take_due(t0).empty());  // in flight
  ASSERT_NE(find("a:1"), nullptr);
  EXPECT_TRUE(find("a:1")->seed);
  EXPECT_EQ(find("self:1"), nullptr);
}

TEST_F(MembershipTest, AHostThatLeavesTheViewIsProbedAndBacksOffWhileDown) {
  m.observe_view(view({"a:1"}), t0);
  // First seen: probed at once, to learn its vnodes; then, while in view,
  // only the slow same-ring check.
  ASSERT_EQ(m.take_due(t0), std::vector<std::string>{"a:1"});
  m.probe_done("a:1", ProbeOutcome::kSameRing, t0);
  m.observe_view(view({"a:1"}), t0);
  EXPECT_TRUE(m.take_due(t0).empty());
  m.observe_view(view({}), t0);
  EXPECT_EQ(m.take_due(t0), std::vector<std::string>{"a:1"});
  auto t = t0;
  std::vector<long> pauses;
  for (int i = 0; i < 6; ++i) {
    auto [before, after] = m.probe_done("a:1", ProbeOutcome::kNoAnswer, t);
    EXPECT_EQ(after, HostState::kDown);
    if (i == 0) {
      EXPECT_EQ(before, HostState::kUp);
    }
    const auto next = m.next_due();
    pauses.push_back(std::chrono::duration_cast<milliseconds>(next - t).count());
    EXPECT_TRUE(m.take_due(next - milliseconds(1)).empty());
    t = next;
    EXPECT_EQ(m.take_due(t), std::vector<std::string>{"a:1"});
  }
  EXPECT_EQ(pauses, (std::vector<long>{1000, 2000, 4000, 8000, 8000, 8000}));
  // It answers and is in our ring again: up, pause reset.
  auto [before, after] = m.probe_done("a:1", ProbeOutcome::kSameRing, t);
  EXPECT_EQ(before, HostState::kDown);
  EXPECT_EQ(after, HostState::kUp);
  EXPECT_EQ(find("a:1")->backoff.count(), 0);
}

TEST_F(MembershipTest, AnotherRingIsCheckedAgainSoon) {
  m.add_seed("a:1", t0);
  ASSERT_EQ(m.take_due(t0).size(), 1u);
  m.probe_done("a:1", ProbeOutcome::kOtherRing, t0);
  EXPECT_EQ(m.next_due(), t0 + milliseconds(1000));
}

TEST_F(MembershipTest, LeftHostsAreNotProbedUntilTheyShowUpAgain) {
  m.observe_view(view({"a:1"}), t0);
  m.left("a:1");
  m.observe_view(view({}), t0);
  EXPECT_TRUE(m.take_due(t0 + seconds(100)).empty());
  EXPECT_EQ(find("a:1")->state, HostState::kLeft);
  // Still pointed at for a moment after its Leave: probed, and left while it
  // does not answer.
  m.observe_view(view({"a:1"}), t0 + seconds(200));
  EXPECT_EQ(find("a:1")->state, HostState::kLeft);
  EXPECT_TRUE(m.take_due(t0 + seconds(200)).empty());
  ASSERT_EQ(m.take_due(t0 + seconds(201)), std::vector<std::string>{"a:1"});
  EXPECT_EQ(m.probe_done("a:1", ProbeOutcome::kNoAnswer, t0 + seconds(201)).second,
            HostState::kLeft);
  m.observe_view(view({}), t0 + seconds(202));
  EXPECT_TRUE(m.take_due(t0 + seconds(300)).empty());
  // It rejoined: answers, so up again.
  m.observe_view(view({"a:1"}), t0 + seconds(400));
  ASSERT_EQ(m.take_due(t0 + seconds(401)), std::vector<std::string>{"a:1"});
  EXPECT_EQ(m.probe_done("a:1", ProbeOutcome::kSameRing, t0 + seconds(401)).second, HostState::kUp);
}

TEST_F(MembershipTest, AnAnswerSentBeforeALeaveDoesNotBringTheHostBack) {
  m.observe_view(view({"a:1"}), t0);
  ASSERT_EQ(m.take_due(t0), std::vector<std::string>{"a:1"});  // probe in flight
  m.left("a:1");                                               // its Leave arrives
  EXPECT_EQ(m.probe_done("a:1", ProbeOutcome::kSameRing, t0).second, HostState::kLeft);
  m.observe_view(view({}), t0);
  EXPECT_TRUE(m.take_due(t0 + seconds(100)).empty());
}

TEST_F(MembershipTest, DownHostsAreForgottenAfterTheConfiguredTime) {
  m.observe_view(view({"a:1", "b:1"}), t0);
  m.observe_view(view({}), t0);
  ASSERT_EQ(m.take_due(t0).size(), 2u);
  m.probe_done("a:1", ProbeOutcome::kNoAnswer, t0);
  m.probe_done("b:1", ProbeOutcome::kSameRing, t0);  // up, merely out of view
  EXPECT_TRUE(m.expire(t0 + seconds(3599)).empty());
  EXPECT_EQ(m.expire(t0 + seconds(3600)), std::vector<std::string>{"a:1"});
  EXPECT_EQ(find("a:1"), nullptr);
  EXPECT_NE(find("b:1"), nullptr);
  auto counts = m.counts();
  EXPECT_EQ(counts[0], 1u);
  EXPECT_EQ(counts[1], 0u);
}

TEST_F(MembershipTest, ForgetDropsAHostUntilItIsSeenAgain) {
  m.observe_view(view({"a:1"}), t0);
  EXPECT_TRUE(m.forget("a:1"));
  EXPECT_FALSE(m.forget("a:1"));
  EXPECT_EQ(find("a:1"), nullptr);
  // A probe that was in flight ends quietly.
  m.probe_done("a:1", ProbeOutcome::kNoAnswer, t0);
  EXPECT_EQ(find("a:1"), nullptr);
  m.observe_view(view({"a:1"}), t0);
  EXPECT_NE(find("a:1"), nullptr);
}

TEST_F(MembershipTest, AHostStillInViewIsNotMarkedDown) {
  m.observe_view(view({"a:1"}), t0);
  ASSERT_TRUE(m.take_due(t0 + seconds(30)).size() == 1);
  m.probe_done("a:1", ProbeOutcome::kSameRing, t0);
  ASSERT_TRUE(m.take_due(t0 + seconds(30)).size() == 1);
  auto [before, after] = m.probe_done("a:1", ProbeOutcome::kNoAnswer, t0 + seconds(30));
  EXPECT_EQ(after, HostState::kUp);
}

TEST_F(MembershipTest, MembersAreUpAndDownHostsWithTheirVnodesAndThisOne) {
  const Vnode a0{Id::for_vnode("a:1", 0), "a:1"}, a1{Id::for_vnode("a:1", 1), "a:1"};
  const Vnode b0{Id::for_vnode("b:1", 0), "b:1"};
  m.observe_view({{"a:1", {a0}}, {"b:1", {b0}}, {"c:1", {}}}, t0);
  ASSERT_EQ(m.take_due(t0).size(), 3u);
  m.listed("a:1", {a1, a0});  // its own list, in any order
  m.probe_done("a:1", ProbeOutcome::kSameRing, t0);
  m.probe_done("b:1", ProbeOutcome::kSameRing, t0);
  m.probe_done("c:1", ProbeOutcome::kSameRing, t0);
  m.observe_view(view({"a:1", "c:1"}), t0);
  ASSERT_EQ(m.take_due(t0), std::vector<std::string>{"b:1"});
  m.probe_done("b:1", ProbeOutcome::kNoAnswer, t0);
  m.left("c:1");
  const Vnode s0{Id::for_vnode("self:1", 0), "self:1"};
  const auto members = m.members({s0});
  ASSERT_EQ(members.size(), 3u);  // a, b (down), self; c left
  EXPECT_EQ(members[0].host, "a:1");
  EXPECT_TRUE(members[0].reachable);
  std::vector<Vnode> want{a0, a1};
  std::sort(want.begin(), want.end(), [](const Vnode& x, const Vnode& y) { return x.id < y.id; });
  EXPECT_EQ(members[0].vnodes, want);
  EXPECT_EQ(members[1].host, "b:1");
  EXPECT_FALSE(members[1].reachable);
  EXPECT_EQ(members[1].vnodes, std::vector<Vnode>{b0});
  EXPECT_EQ(members[2].host, "self:1");
  EXPECT_EQ(members[2].vnodes, std::vector<Vnode>{s0});
}

}  // namespace
}  // namespace dendrite::host
