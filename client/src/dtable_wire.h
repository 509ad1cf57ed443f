// The dtable requests the client sends and how it reads the answers
// (plugins/dtable/include/dendrite/dtable/messages.h). Internal to
// libdendrite_client.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dendrite/client/dtable_client.h"
#include "dendrite/id.h"
#include "dendrite/message.h"
#include "dendrite/status.h"
#include "dendrite/vnode.h"

namespace dendrite::client::detail {

// SetItem to `dest`: a write of `value`, or a delete (the value field is still
// set, to "", as the protocol asks). minAcks only when consistency > 1.
Message set_item_request(const Vnode& dest, std::string_view key, std::string_view value,
                         bool deleted, int consistency);
// GetItem to `dest`: the primary's read (consistency n > 1: n copies), or with
// `replica` the copy in dest's replica table.
Message get_item_request(const Vnode& dest, const Id& hash, int consistency, bool replica);
// SetMultiItem to `dest`: every item of `items` (pointers into the caller's list).
Message set_multi_request(const Vnode& dest, const std::vector<const KeyValue*>& items,
                          int consistency);
// GetMultiItem to `dest`.
Message get_multi_request(const Vnode& dest, const std::vector<Id>& hashes, int consistency);
// LocalKeys to a host (all its vnodes): keys after `after`, at most `limit`.
Message local_keys_request(const std::optional<Id>& after, int limit);
// Checkpoint to a host: back up its tables into `dir` there.
Message checkpoint_request(const std::string& dir);
// Mutate to `dest`: `m` on `key`, with `consistency` copies.
Message mutate_request(const Vnode& dest, std::string_view key, const dtable::Mutation& m,
                       int consistency);

// What the caller does after an answer.
enum class Next {
  kDone,        // final: `status` is the outcome (ok or an error)
  kWrongOwner,  // the vnode asked does not own the key; `hint` names the owner if known
  kRetry,       // the ring may have moved (e.g. unknown vnode, node stopping): refresh, retry
  kNoAnswer,    // timeout or unavailable: refresh and retry (a get reads the replicas first)
};

// The answer to a write (SetItem, or one item of SetMultiItem).
struct WriteAnswer {
  Next next = Next::kDone;
  Status status;
  std::optional<Vnode> hint;
};

// The answer to a read (GetItem, or one item of GetMultiItem).
struct ReadAnswer {
  Next next = Next::kDone;
  Status status;          // ok when the node answered (with or without a copy)
  bool has_copy = false;  // a version exists: a value or a tombstone
  bool deleted = false;   // that version is a tombstone or an expired value
  std::int64_t timestamp = 0;
  std::string value;
  std::int64_t expires_ms = 0;  // of the value (Unix ms; 0: never)
  std::optional<Vnode> hint;
};

WriteAnswer read_write_reply(const Result<Message>& reply);
// The answer to a mutation: `result` when `next` is kDone and `status` ok.
struct MutateAnswer {
  Next next = Next::kDone;
  Status status;
  dtable::MutationResult result;
  std::optional<Vnode> hint;
};
MutateAnswer read_mutate_reply(const Result<Message>& reply);
// One answer per item (`n` items asked). A reply that fails as a whole gives
// the same answer for every item.
std::vector<WriteAnswer> read_set_multi_reply(const Result<Message>& reply, std::size_t n);
ReadAnswer read_get_reply(const Result<Message>& reply);
std::vector<ReadAnswer> read_get_multi_reply(const Result<Message>& reply, std::size_t n);

// One page of LocalKeys.
struct KeysPage {
  std::vector<std::string> keys;
  std::optional<Id> last;  // keyHash of the last item (where the next page starts)
  bool more = false;
};
Result<KeysPage> read_local_keys_reply(const Result<Message>& reply);

// The owner named in a "wrong owner" text ("...; owner <40 hex> <host>"), if any.
std::optional<Vnode> owner_hint(std::string_view text);

}  // namespace dendrite::client::detail
