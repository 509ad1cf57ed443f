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

  friend bool operator==(const Item&, const Item&) = default;
};

}  // namespace dendrite::dtable
