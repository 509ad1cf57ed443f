// Mutations at a key's primary (dendrite/dtable/mutation.h): running one at a
// local primary: the read-through of a primary that is settling, the
// decision under the key's lock, replication like any write. (Their wire
// form: dendrite/dtable/mutate_request.h.)
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "codec.h"
#include "context.h"
#include "dendrite/dtable/mutation.h"

namespace dendrite::dtable {

// The outcome of a mutation at a primary: `result` when code is kCodeOk.
struct MutateOutcome {
  int code = 0;  // kCode*
  std::string error;
  MutationResult result;
};
using MutateDone = std::function<void(MutateOutcome)>;

// Runs `m` on `key` (hash `hash`) at local primary `v`, with `min_acks`
// copies as for primary_write_async(). While v settles after a change of
// ownership, the key is first read through from its previous holders (as
// reads do), so a newcomer decides on the value the ring holds. The decision
// (decide_mutation() at this node's wall clock) and the stamping run under
// the key's lock; the value written is replicated like any write, and a
// write that falls short is rolled back (kCodeConsistencyNotMet). A
// decision that is refused (not a number, too large) is kCodeInvalidArgument
// with Redis's wording. `done` runs exactly once, on this thread or on the
// host thread of the deciding answer. Thread-safe.
void primary_mutate_async(const std::shared_ptr<Context>& ctx, VnodeState& v, std::string key,
                          const Id& hash, Mutation m, int min_acks, MutateDone done);

}  // namespace dendrite::dtable
