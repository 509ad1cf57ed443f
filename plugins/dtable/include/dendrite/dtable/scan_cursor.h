// The cursor of Table::scan: a position in the key-hash space. A key hash's
// bucket is its first 64 bits (big-endian); cursor c > 0 stands for "the keys
// whose bucket is at least c", and 0 for the start (as the first request) and
// the end (as the last answer). A page ends at a bucket boundary, so the next
// one starts where it stopped whatever nodes joined or left meanwhile.
// Header-only; any thread.
#pragma once

#include <cstdint>
#include <optional>

#include "dendrite/id.h"

namespace dendrite::dtable {

// The bucket of a key hash: its first 64 bits.
inline std::uint64_t scan_bucket(const Id& hash) {
  std::uint64_t b = 0;
  for (int i = 0; i < 8; ++i) b = (b << 8) | hash.bytes()[static_cast<std::size_t>(i)];
  return b;
}

// The largest hash below bucket `cursor`: the keys of the walk from `cursor`
// on are those whose hash is greater. Nothing for cursor 0 (every key).
inline std::optional<Id> scan_after(std::uint64_t cursor) {
  if (cursor == 0) return std::nullopt;
  Id::Bytes b;
  const std::uint64_t before = cursor - 1;
  for (std::size_t i = 0; i < 8; ++i) b[i] = static_cast<std::uint8_t>(before >> (56 - 8 * i));
  for (std::size_t i = 8; i < Id::kBytes; ++i) b[i] = 0xff;
  return Id(b);
}

}  // namespace dendrite::dtable
