// 160-bit ring identifiers and the ring arithmetic of Chord.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dendrite {

// A 160-bit identifier on the Chord ring, stored big-endian (byte 0 is the most
// significant), compared as an unsigned number. Value type; thread-safe to read.
class Id {
 public:
  static constexpr std::size_t kBytes = 20;
  static constexpr int kBits = 160;
  using Bytes = std::array<std::uint8_t, kBytes>;

  // The zero id.
  constexpr Id() = default;
  explicit constexpr Id(const Bytes& b) : bytes_(b) {}

  // SHA-1 of `data` (the key hash of the original protocol).
  static Id hash(std::string_view data);
  // The id of vnode `index` of `host`: SHA-1(host bytes ++ index as 2 bytes, big-endian).
  static Id for_vnode(std::string_view host, std::uint16_t index);
  // Exactly 20 raw bytes, else nullopt.
  static std::optional<Id> from_bytes(std::string_view raw);
  // Exactly 40 hex digits (either case), else nullopt.
  static std::optional<Id> from_hex(std::string_view hex);
  // The largest id, 2^160 - 1.
  static Id max();

  // 40 lower-case hex digits.
  std::string hex() const;
  // The first `n` hex digits, for logs.
  std::string short_hex(std::size_t n = 8) const;
  // The 20 raw bytes as a string (what goes on the wire).
  std::string raw() const {
    return std::string(reinterpret_cast<const char*>(bytes_.data()), kBytes);
  }
  const Bytes& bytes() const { return bytes_; }

  // (this + 2^i) mod 2^160, for 0 <= i < 160.
  Id plus_pow2(int i) const;
  // (this + other) mod 2^160.
  Id operator+(const Id& other) const;
  // (this - other) mod 2^160.
  Id operator-(const Id& other) const;

  friend auto operator<=>(const Id&, const Id&) = default;
  friend bool operator==(const Id&, const Id&) = default;

 private:
  Bytes bytes_{};
};

// Clockwise distance from `from` to `to`: (to - from) mod 2^160.
inline Id distance(const Id& from, const Id& to) {
  return to - from;
}

// True when k lies in the ring interval (a, b), or (a, b] when right_inclusive.
// The interval wraps past zero when a >= b; (a, a) is every id but a, and
// (a, a] is every id.
bool between(const Id& a, const Id& b, const Id& k, bool right_inclusive);

}  // namespace dendrite
