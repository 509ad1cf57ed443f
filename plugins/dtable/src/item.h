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
  // Not data: which change of its entry a Store::select_hashes() copy saw
  // (0: unknown). A hand-over erases an item only if its entry did not change
  // since (a copy handed back meanwhile must stay).
  std::uint64_t seen = 0;

  friend bool operator==(const Item& a, const Item& b) {
    return a.key == b.key && a.hash == b.hash && a.value == b.value && a.timestamp == b.timestamp &&
           a.deleted == b.deleted;
  }
};

}  // namespace dendrite::dtable
