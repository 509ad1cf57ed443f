// Splitting a run of items into the batches one message carries.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "item.h"
#include "settings.h"

namespace dendrite::dtable {

// Splits [0, n) into consecutive [from, to) ranges of at most `max_items`
// items whose sizes (size_of(i), in bytes) add up to at most `max_bytes`; a
// range always holds at least one item, so one larger item travels alone.
template <typename SizeOf>
std::vector<std::pair<std::size_t, std::size_t>> batch_ranges(std::size_t n, std::size_t max_items,
                                                              std::size_t max_bytes,
                                                              SizeOf size_of) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  std::size_t from = 0, bytes = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t size = size_of(i);
    if (i > from && (i - from >= max_items || bytes + size > max_bytes)) {
      out.emplace_back(from, i);
      from = i;
      bytes = 0;
    }
    bytes += size;
  }
  if (from < n) out.emplace_back(from, n);
  return out;
}

// `items` cut into batch_ranges() of the settings' batch_items and
// batch_bytes (a key and value count as their bytes).
std::vector<std::vector<Item>> item_batches(const Settings& settings,
                                            const std::vector<Item>& items);
// The same, moving the items.
std::vector<std::vector<Item>> item_batches(const Settings& settings, std::vector<Item>&& items);

}  // namespace dendrite::dtable
