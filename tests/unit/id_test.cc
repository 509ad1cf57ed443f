// Ring ids: SHA-1 derivation against known digests, hex and raw forms, and the
// ring arithmetic (between, + 2^i, distance) against hand-computed cases.
#include "dendrite/id.h"

#include <gtest/gtest.h>

namespace dendrite {
namespace {

Id hex(const char* h) {
  return *Id::from_hex(h);
}

// An id whose last byte is `b` and every other byte zero.
Id small(std::uint8_t b) {
  Id::Bytes bytes{};
  bytes[Id::kBytes - 1] = b;
  return Id(bytes);
}

TEST(IdTest, HashMatchesKnownSha1Digests) {
  EXPECT_EQ(Id::hash("").hex(), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(Id::hash("abc").hex(), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(Id::hash("testkey").hex(), "913a73b565c8e2c8ed94497580f619397709b8b6");
}

TEST(IdTest, VnodeIdHashesHostThenBigEndianIndex) {
  // SHA1("127.0.0.1:5000" ++ [hi, lo]) computed independently (Python hashlib).
  EXPECT_EQ(Id::for_vnode("127.0.0.1:5000", 0).hex(), "fb4fe40dd5a8ba2ce34ee77954fe83ea4d5505bd");
  EXPECT_EQ(Id::for_vnode("127.0.0.1:5000", 1).hex(), "ae013960cc06b14fbb96855d2a38540fa6a4e536");
  EXPECT_EQ(Id::for_vnode("127.0.0.1:5000", 2).hex(), "a61682e5d41ad467b192d24df2821fd4b3088dc1");
  EXPECT_EQ(Id::for_vnode("127.0.0.1:5000", 258).hex(), "34cb207e24cae7718fa47e5f365d005913543100");
}

TEST(IdTest, HexAndRawRoundTrip) {
  Id id = Id::hash("round trip");
  EXPECT_EQ(Id::from_hex(id.hex()), id);
  EXPECT_EQ(Id::from_bytes(id.raw()), id);
  EXPECT_EQ(Id::from_hex("DA39A3EE5E6B4B0D3255BFEF95601890AFD80709"), Id::hash(""));
  EXPECT_EQ(id.short_hex(), id.hex().substr(0, 8));
}

TEST(IdTest, RejectsMalformedForms) {
  EXPECT_FALSE(Id::from_hex(""));
  EXPECT_FALSE(Id::from_hex("da39a3ee5e6b4b0d3255bfef95601890afd8070"));    // 39 digits
  EXPECT_FALSE(Id::from_hex("da39a3ee5e6b4b0d3255bfef95601890afd807090"));  // 41 digits
  EXPECT_FALSE(Id::from_hex("zz39a3ee5e6b4b0d3255bfef95601890afd80709"));
  EXPECT_FALSE(Id::from_bytes(std::string(19, 'x')));
  EXPECT_FALSE(Id::from_bytes(std::string(21, 'x')));
}

TEST(IdTest, OrderIsBigEndianUnsigned) {
  EXPECT_LT(small(1), small(2));
  EXPECT_LT(small(0xff), hex("0000000000000000000000000000000000000100"));
  EXPECT_LT(hex("7fffffffffffffffffffffffffffffffffffffff"),
            hex("8000000000000000000000000000000000000000"));
  EXPECT_EQ(Id(), small(0));
}

TEST(IdTest, PlusPowerOfTwo) {
  EXPECT_EQ(Id().plus_pow2(0), small(1));
  EXPECT_EQ(Id().plus_pow2(7), small(0x80));
  EXPECT_EQ(Id().plus_pow2(8).hex(), "0000000000000000000000000000000000000100");
  EXPECT_EQ(Id().plus_pow2(159).hex(), "8000000000000000000000000000000000000000");
  // Carries ripple through bytes.
  EXPECT_EQ(small(0xff).plus_pow2(0).hex(), "0000000000000000000000000000000000000100");
  // Wraps modulo 2^160.
  EXPECT_EQ(Id::max().plus_pow2(0), Id());
  EXPECT_EQ(hex("8000000000000000000000000000000000000005").plus_pow2(159), small(5));
}

TEST(IdTest, AdditionAndDistanceWrap) {
  EXPECT_EQ(small(3) + small(4), small(7));
  EXPECT_EQ(Id::max() + small(2), small(1));
  EXPECT_EQ(distance(small(3), small(10)), small(7));
  EXPECT_EQ(distance(small(10), small(3)), Id::max() - small(6));  // 2^160 - 7
  EXPECT_EQ(distance(small(5), small(5)), Id());
  EXPECT_EQ(small(1) - small(2), Id::max());
}

// Carries and borrows across every byte (and so across any word the
// arithmetic may use internally), checked against a byte-at-a-time reference.
TEST(IdTest, ArithmeticCarriesAcrossEveryByte) {
  auto reference = [](const Id& a, const Id& b, bool add) {
    Id::Bytes out{};
    int carry = 0;
    for (int i = Id::kBytes - 1; i >= 0; --i) {
      const int x = add ? a.bytes()[i] + b.bytes()[i] + carry : a.bytes()[i] - b.bytes()[i] - carry;
      carry = add ? x >> 8 : (x < 0 ? 1 : 0);
      out[i] = static_cast<std::uint8_t>(x & 0xff);
    }
    return Id(out);
  };
  EXPECT_EQ((hex("00000000ffffffffffffffffffffffffffffffff") + small(1)).hex(),
            "0000000100000000000000000000000000000000");
  EXPECT_EQ((hex("0000000100000000000000000000000000000000") - small(1)).hex(),
            "00000000ffffffffffffffffffffffffffffffff");
  EXPECT_EQ((hex("0000000000000000000000010000000000000000") - small(1)).hex(),
            "000000000000000000000000ffffffffffffffff");
  // 2,000 mixes of all-ones, zero and small bytes: between them a carry and a
  // borrow cross every byte boundary (checked when the test was written).
  for (int i = 0; i < 2000; ++i) {
    Id::Bytes x{}, y{};
    for (std::size_t k = 0; k < Id::kBytes; ++k) {
      x[k] = static_cast<std::uint8_t>(((i * 7 + k * 13) % 5 == 0) ? 0 : 0xff);
      y[k] = static_cast<std::uint8_t>(((i * 11 + k * 3) % 4 == 0) ? 0xff : (i + k) % 3);
    }
    const Id a(x), b(y);
    ASSERT_EQ(a + b, reference(a, b, true)) << a.hex() << " + " << b.hex();
    ASSERT_EQ(a - b, reference(a, b, false)) << a.hex() << " - " << b.hex();
    ASSERT_EQ(b - a, reference(b, a, false)) << b.hex() << " - " << a.hex();
  }
}

TEST(IdTest, BetweenWithoutWrap) {
  EXPECT_TRUE(between(small(10), small(20), small(15), false));
  EXPECT_FALSE(between(small(10), small(20), small(10), false));  // open on the left
  EXPECT_FALSE(between(small(10), small(20), small(20), false));
  EXPECT_TRUE(between(small(10), small(20), small(20), true));  // right-inclusive
  EXPECT_FALSE(between(small(10), small(20), small(25), true));
  EXPECT_FALSE(between(small(10), small(20), small(5), true));
}

TEST(IdTest, BetweenWrapsPastZero) {
  Id a = hex("f000000000000000000000000000000000000000");
  Id b = small(0x10);
  EXPECT_TRUE(between(a, b, Id::max(), false));
  EXPECT_TRUE(between(a, b, Id(), false));
  EXPECT_TRUE(between(a, b, small(0x0f), false));
  EXPECT_FALSE(between(a, b, small(0x10), false));
  EXPECT_TRUE(between(a, b, small(0x10), true));
  EXPECT_FALSE(between(a, b, small(0x11), true));
  EXPECT_FALSE(between(a, b, a, true));
  EXPECT_FALSE(between(a, b, hex("8000000000000000000000000000000000000000"), true));
}

TEST(IdTest, BetweenEqualEndsIsWholeRingButTheEnd) {
  Id a = small(42);
  EXPECT_FALSE(between(a, a, a, false));
  EXPECT_TRUE(between(a, a, a, true));
  EXPECT_TRUE(between(a, a, small(41), false));
  EXPECT_TRUE(between(a, a, small(43), false));
  EXPECT_TRUE(between(a, a, Id(), false));
}

}  // namespace
}  // namespace dendrite
