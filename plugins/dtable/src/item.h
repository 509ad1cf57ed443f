// The unit of data of dtable: one version of one key.
#pragma once

#include <cstdint>
#include <string>

#include "dendrite/id.h"

namespace dendrite::dtable {

// One version of a key. A tombstone (`deleted`) records a delete at `timestamp`
// and has an empty value. Value type.
struct Item {
  std::string key;
  Id hash;  // Id::hash(key)
  std::string value;
  std::int64_t timestamp = 0;  // hybrid-clock ns, assigned by the primary
  bool deleted = false;
  // When this version expires: Unix time in ms (wall clock); 0: never. An
  // expired version reads as absent everywhere (expired_at()), is a version
  // like any other for last-write-wins, and is collected like a tombstone.
  std::int64_t expires_ms = 0;
  // Not data: which change of its entry a Store::select_hashes() copy saw
  // (0: unknown). A hand-over erases an item only if its entry did not change
  // since (a copy handed back meanwhile must stay).
  std::uint64_t seen = 0;

  friend bool operator==(const Item& a, const Item& b) {
    return a.key == b.key && a.hash == b.hash && a.value == b.value && a.timestamp == b.timestamp &&
           a.deleted == b.deleted && a.expires_ms == b.expires_ms;
  }
};

// Whether a version that expires at `expires_ms` (0: never) has expired at
// `now_ms` (Unix ms). Like Redis, a key is gone from its expiry's ms on.
inline bool expired_at(std::int64_t expires_ms, std::int64_t now_ms) {
  return expires_ms != 0 && expires_ms <= now_ms;
}

// Whether `item` is a live value at `now_ms`: neither a tombstone nor expired.
inline bool live_at(const Item& item, std::int64_t now_ms) {
  return !item.deleted && !expired_at(item.expires_ms, now_ms);
}

}  // namespace dendrite::dtable
