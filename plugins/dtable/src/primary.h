// The primary's side of reads and writes: timestamps, replication with a
// consistency level, rollback, read repair, and reads that ask the previous
// holders of a key range while ownership settles.
#pragma once

#include <cstdint>
#include <functional>
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
  int copies = 0;         // copies written (primary included) when the reply went out
  bool declined = false;  // a decided write that wrote nothing (code ok)
};

// Receives the outcomes of a write: one per item, in order.
using WriteDone = std::function<void(std::vector<WriteOutcome>)>;

// Writes client items (sets or tombstones) at local primary `v`: stamps them,
// stores them pending, replicates them to v's replica vnodes in parallel and
// commits each once `min_acks` copies hold it; the rest completes in the
// background. An item that falls short is rolled back here and on every replica
// that took it (kCodeConsistencyNotMet). Returns without waiting: `done` runs
// exactly once, on this thread when no replica answer is needed, else on the
// host thread that delivers the deciding answer (within about the request
// timeout). Write hooks run just before `done`, on the same thread.
// With `decide`, each item is decided under its key's lock before it is
// stamped (Store::put_decided; an item it declines is answered ok and
// `declined`); `decide` is called on this thread, before this returns.
// Thread-safe.
void primary_write_async(const std::shared_ptr<Context>& ctx, VnodeState& v,
                         std::vector<Item> items, int min_acks, WriteDone done,
                         const Store::Decide* decide = nullptr);

// primary_write_async() that waits for the outcomes. Must not be called from a
// host callback (it may wait up to about the request timeout).
std::vector<WriteOutcome> primary_write(const std::shared_ptr<Context>& ctx, VnodeState& v,
                                        std::vector<Item> items, int min_acks);

// The outcome of one read: the newest committed version (a tombstone means
// deleted), none (never written), or a failure code.
struct ReadOutcome {
  int code = 0;  // kCode*
  std::string error;
  std::optional<Item> item;
};

// Receives the outcomes of a read: one per hash, in order.
using ReadDone = std::function<void(std::vector<ReadOutcome>)>;

// Reads `hashes` at local primary `v`. With `consistency` n > 1 it also reads
// n - 1 replicas, returns the newest and repairs stale copies; while v settles
// after a change of ownership, misses ask the previous holders. Returns without
// waiting: `done` runs exactly once, on this thread when no other node must be
// asked, else on the host thread that delivers the last answer. Thread-safe.
// `strict` (consistency 1 only): a miss whose previous holder (v's
// successor) did not answer, or that no holder asked answered, is
// kCodeUnavailable instead of "absent" (a decision must not rest on it).
void primary_read_async(const std::shared_ptr<Context>& ctx, VnodeState& v,
                        const std::vector<Id>& hashes, int consistency, ReadDone done,
                        bool strict = false);

// primary_read_async() of one hash at consistency 1 when it needs no other
// host: v's copy (primary table, or replica table during a promotion), or
// nullopt when v holds none and settles and a previous holder on another host
// (or the local successor, which holds a copy) must be asked: then use
// primary_read_async(). Never waits for another host. Thread-safe.
std::optional<ReadOutcome> primary_read_here(const std::shared_ptr<Context>& ctx, VnodeState& v,
                                             const Id& hash);

// primary_read_async() that waits for the outcomes. Must not be called from a
// host callback.
std::vector<ReadOutcome> primary_read(const std::shared_ptr<Context>& ctx, VnodeState& v,
                                      const std::vector<Id>& hashes, int consistency);

// Takes items handed over (migration, promotion) into v's primary table keeping
// their timestamps (last write wins), drops v's own replica copies they
// supersede, and (with `replicate`) writes them to v's replicas, waiting for the
// answers. Thread-safe.
void adopt(const std::shared_ptr<Context>& ctx, VnodeState& v, const std::vector<Item>& items,
           bool replicate);

// adopt() with replication that does not wait: `done` runs once v's replicas
// answered every batch (true when all acknowledged everything), at once when
// there is nothing to replicate, else on the host thread that delivers the
// last answer. The items are in v's primary table before it returns. `done`
// must not block. `keeper`: the vnode that handed the items over and keeps
// them as replica copies of v; when it is one of v's replica vnodes, the items
// adopted as handed (not superseded by a newer version held here) are not
// sent to it again. Thread-safe.
void adopt_async(const std::shared_ptr<Context>& ctx, VnodeState& v, std::vector<Item> items,
                 const std::optional<Vnode>& keeper, std::function<void(bool)> done);

// The newer of two optional versions.
std::optional<Item> newer(std::optional<Item> a, std::optional<Item> b);

}  // namespace dendrite::dtable
