// The primary's side of reads and writes: timestamps, replication with a
// consistency level, rollback, read repair, and reads that ask the previous
// holders of a key range while ownership settles.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "context.h"
#include "item.h"

namespace dendrite::dtable {

// The outcome of one write.
struct WriteOutcome {
  int code = 0;  // kCode*
  std::string error;
  std::int64_t timestamp = 0;
  int copies = 0;  // copies written (primary included) when the reply went out
};

// Writes client items (sets or tombstones) at local primary `v`: stamps them,
// stores them pending, replicates them to v's replica vnodes in parallel and
// commits each once `min_acks` copies hold it; the rest completes in the
// background. An item that falls short is rolled back here and on every replica
// that took it (kCodeConsistencyNotMet). One outcome per item, in order.
// Blocks up to about the request timeout. Thread-safe.
std::vector<WriteOutcome> primary_write(const std::shared_ptr<Context>& ctx, VnodeState& v,
                                        std::vector<Item> items, int min_acks);

// The outcome of one read: the newest committed version (a tombstone means
// deleted), none (never written), or a failure code.
struct ReadOutcome {
  int code = 0;  // kCode*
  std::string error;
  std::optional<Item> item;
};

// Reads `hashes` at local primary `v`. With `consistency` n > 1 it also reads
// n - 1 replicas, returns the newest and repairs stale copies. Thread-safe.
std::vector<ReadOutcome> primary_read(const std::shared_ptr<Context>& ctx, VnodeState& v,
                                      const std::vector<Id>& hashes, int consistency);

// Takes items handed over (migration, promotion) into v's primary table keeping
// their timestamps (last write wins), drops v's own replica copies they
// supersede, and (with `replicate`) writes them to v's replicas, waiting for the
// answers. Thread-safe.
void adopt(const std::shared_ptr<Context>& ctx, VnodeState& v, const std::vector<Item>& items,
           bool replicate);

// The newer of two optional versions.
std::optional<Item> newer(std::optional<Item> a, std::optional<Item> b);

}  // namespace dendrite::dtable
