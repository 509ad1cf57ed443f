// decide_mutation(), the rules every primary (and MemoryTable) applies:
// conditions, the expiry of the value written, counters in Redis's syntax
// and wording, and expiry changes with their conditions.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "dendrite/dtable/memory_table.h"
#include "dendrite/dtable/mutation.h"

namespace dendrite::dtable {
namespace {

constexpr std::int64_t kNow = 1'000'000;  // ms

MutationDecision on_absent(const Mutation& m) {
  return decide_mutation(m, false, "", 0, kNow);
}
MutationDecision on(const Mutation& m, std::string_view value, std::int64_t expires = 0) {
  return decide_mutation(m, true, value, expires, kNow);
}

Mutation op(Mutation::Op o, std::string operand = "", std::int64_t delta = 0) {
  Mutation m;
  m.op = o;
  m.operand = std::move(operand);
  m.delta = delta;
  return m;
}

TEST(DtableMutationRulesTest, ConditionsDecideWhetherAnythingIsWritten) {
  Mutation nx = op(Mutation::Op::kSet, "v");
  nx.condition = Mutation::If::kAbsent;
  EXPECT_TRUE(on_absent(nx).write);
  auto d = on(nx, "old", 5000);
  EXPECT_FALSE(d.write);
  EXPECT_FALSE(d.result.applied);
  EXPECT_TRUE(d.result.existed);
  EXPECT_TRUE(d.result.exists);
  EXPECT_EQ(d.result.length, 3u);
  EXPECT_EQ(d.result.expires_ms, 5000);
  Mutation xx = op(Mutation::Op::kSet, "v");
  xx.condition = Mutation::If::kPresent;
  EXPECT_FALSE(on_absent(xx).write);
  d = on(xx, "old");
  EXPECT_TRUE(d.write);
  EXPECT_EQ(d.value, "v");
}

TEST(DtableMutationRulesTest, TheValueWrittenGetsTheExpiryAsked) {
  Mutation set = op(Mutation::Op::kSet, "v");
  EXPECT_EQ(on(set, "old", 5000).expires_ms, 0);  // a plain SET clears it
  set.expiry = Mutation::Expiry::kKeep;
  EXPECT_EQ(on(set, "old", 5000).expires_ms, 5000);
  EXPECT_EQ(on_absent(set).expires_ms, 0);
  set.expiry = Mutation::Expiry::kAt;
  set.expires_ms = kNow + 10;
  auto d = on(set, "old", 5000);
  EXPECT_EQ(d.expires_ms, kNow + 10);
  EXPECT_TRUE(d.result.exists);
  set.expires_ms = kNow;  // now: gone at once
  d = on(set, "old");
  EXPECT_TRUE(d.write);
  EXPECT_FALSE(d.result.exists);
  EXPECT_EQ(d.result.length, 0u);
}

TEST(DtableMutationRulesTest, PreviousValuesAreReturnedOnlyWhenAsked) {
  Mutation del = op(Mutation::Op::kDelete);
  auto d = on(del, "gone", 7000);
  EXPECT_TRUE(d.write);
  EXPECT_TRUE(d.deleted);
  EXPECT_TRUE(d.result.previous.empty());
  del.want_previous = true;
  d = on(del, "gone", 7000);
  EXPECT_EQ(d.result.previous, "gone");
  EXPECT_EQ(d.result.previous_expires_ms, 7000);
  EXPECT_FALSE(d.result.exists);
  EXPECT_FALSE(on_absent(del).write);  // no tombstone for nothing
}

TEST(DtableMutationRulesTest, CountersFollowRedisSyntaxAndLimits) {
  auto incr = [](std::int64_t delta) { return op(Mutation::Op::kIncrBy, "", delta); };
  EXPECT_EQ(on_absent(incr(5)).value, "5");
  EXPECT_EQ(on(incr(-3), "10").result.number, "7");
  EXPECT_EQ(on(incr(1), "-1").value, "0");
  for (const char* bad : {"", " 1", "1 ", "+1", "01", "-0", "1.0", "abc", "99999999999999999999"}) {
    auto d = on(incr(1), bad);
    EXPECT_FALSE(d.write) << bad;
    EXPECT_EQ(d.error, std::string(kNotAnInteger)) << bad;
  }
  EXPECT_EQ(on(incr(1), "9223372036854775807").error, std::string(kOverflow));
  EXPECT_EQ(on(incr(-1), "-9223372036854775808").error, std::string(kOverflow));
  EXPECT_EQ(on(incr(0), "-9223372036854775808").value, "-9223372036854775808");

  auto incrf = [](std::string by) { return op(Mutation::Op::kIncrByFloat, std::move(by)); };
  EXPECT_EQ(on(incrf("0.1"), "10.5").value, "10.6");
  EXPECT_EQ(on(incrf("-5"), "5.0e3").value, "4995");
  EXPECT_EQ(on_absent(incrf("3")).value, "3");
  EXPECT_EQ(on(incrf("-1.5"), "1.5").value, "0");
  EXPECT_EQ(on(incrf("1"), "x").error, std::string(kNotAFloat));
  EXPECT_EQ(on(incrf("one"), "1").error, std::string(kNotAFloat));
  EXPECT_EQ(on(incrf("1"), " 1").error, std::string(kNotAFloat));
  EXPECT_EQ(on(incrf("inf"), "1").error, std::string(kNotFinite));
  EXPECT_EQ(on(incrf("1e-5000"), "1").error, std::string(kNotAFloat));  // out of range
  EXPECT_EQ(on(incrf("1e5000"), "1").error, std::string(kNotAFloat));
  EXPECT_EQ(on(incrf("1.7e308"), "1.7e308").value.substr(0, 5), "34000");  // long double
}

TEST(DtableMutationRulesTest, AppendBuildsOnTheValueOrStartsOne) {
  Mutation append = op(Mutation::Op::kAppend, "def");
  append.expiry = Mutation::Expiry::kKeep;
  auto d = on(append, "abc", kNow + 9000);
  EXPECT_EQ(d.value, "abcdef");
  EXPECT_EQ(d.expires_ms, kNow + 9000);
  EXPECT_EQ(d.result.length, 6u);
  EXPECT_EQ(on_absent(append).value, "def");
}

TEST(DtableMutationRulesTest, TouchChangesOnlyTheExpiryUnderItsConditions) {
  auto touch = [](Mutation::ExpiryIf cond, std::int64_t at) {
    Mutation m = op(Mutation::Op::kTouch);
    m.expiry = at == 0 ? Mutation::Expiry::kNone : Mutation::Expiry::kAt;
    m.expires_ms = at;
    m.expiry_if = cond;
    return m;
  };
  using If = Mutation::ExpiryIf;
  EXPECT_FALSE(on_absent(touch(If::kAlways, kNow + 5)).write);
  auto d = on(touch(If::kAlways, kNow + 5), "v");
  EXPECT_TRUE(d.write);
  EXPECT_EQ(d.value, "v");
  EXPECT_EQ(d.expires_ms, kNow + 5);
  // NX / XX.
  EXPECT_TRUE(on(touch(If::kNone, kNow + 5), "v").write);
  EXPECT_FALSE(on(touch(If::kNone, kNow + 5), "v", kNow + 9).write);
  EXPECT_FALSE(on(touch(If::kSome, kNow + 5), "v").write);
  EXPECT_TRUE(on(touch(If::kSome, kNow + 5), "v", kNow + 9).write);
  // GT / LT: no expiry counts as infinitely late.
  EXPECT_FALSE(on(touch(If::kLater, kNow + 5), "v").write);
  EXPECT_TRUE(on(touch(If::kLater, kNow + 10), "v", kNow + 9).write);
  EXPECT_FALSE(on(touch(If::kLater, kNow + 8), "v", kNow + 9).write);
  EXPECT_TRUE(on(touch(If::kEarlier, kNow + 5), "v").write);
  EXPECT_TRUE(on(touch(If::kEarlier, kNow + 8), "v", kNow + 9).write);
  EXPECT_FALSE(on(touch(If::kEarlier, kNow + 10), "v", kNow + 9).write);
  EXPECT_FALSE(on(touch(If::kSomeEarlier, kNow + 5), "v").write);  // XX LT
  EXPECT_TRUE(on(touch(If::kSomeEarlier, kNow + 8), "v", kNow + 9).write);
  // PERSIST: only a value with an expiry is changed.
  EXPECT_FALSE(on(touch(If::kSome, 0), "v").write);
  d = on(touch(If::kSome, 0), "v", kNow + 9);
  EXPECT_TRUE(d.write);
  EXPECT_EQ(d.expires_ms, 0);
}

// MemoryTable runs the same rules, with expiry by the clock it is given.
TEST(DtableMutationRulesTest, MemoryTableExpiresByItsClock) {
  std::int64_t now = kNow;
  MemoryTable t(3, [&] { return now; });
  Mutation set = op(Mutation::Op::kSet, "v");
  set.expiry = Mutation::Expiry::kAt;
  set.expires_ms = kNow + 100;
  ASSERT_TRUE(t.query().mutate("k", set).ok());
  EXPECT_EQ(t.query().get_entry("k")->expires_ms, kNow + 100);
  EXPECT_EQ(t.local_keys().size(), 1u);
  now = kNow + 100;
  EXPECT_EQ(t.query().get("k").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(t.local_keys().empty());
  Mutation nx = op(Mutation::Op::kSet, "again");
  nx.condition = Mutation::If::kAbsent;
  EXPECT_TRUE(t.query().mutate("k", nx)->applied);  // expired counts as absent
  EXPECT_EQ(*t.query().get("k"), "again");
  EXPECT_EQ(t.query().mutate("k", op(Mutation::Op::kIncrBy, "", 1)).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dendrite::dtable
