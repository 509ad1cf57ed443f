#include "batches.h"

namespace dendrite::dtable {

std::vector<std::vector<Item>> item_batches(const Settings& settings,
                                            const std::vector<Item>& items) {
  return item_batches(settings, std::vector<Item>(items));
}

std::vector<std::vector<Item>> item_batches(const Settings& settings, std::vector<Item>&& items) {
  std::vector<std::vector<Item>> out;
  const auto ranges =
      batch_ranges(items.size(), settings.batch_items, settings.batch_bytes,
                   [&](std::size_t i) { return items[i].key.size() + items[i].value.size(); });
  out.reserve(ranges.size());
  for (const auto& [from, to] : ranges) {
    out.emplace_back(std::make_move_iterator(items.begin() + static_cast<std::ptrdiff_t>(from)),
                     std::make_move_iterator(items.begin() + static_cast<std::ptrdiff_t>(to)));
  }
  return out;
}

}  // namespace dendrite::dtable
