// Reads each key at every host that should hold a copy of it: the primary
// vnode (first vnode >= SHA-1(key)) and the `replicas` vnodes after it on
// distinct other hosts, with GetItem{replica} (the newer of that vnode's
// replica and primary copies; no ownership check). Uses the client library's
// wire helpers (client/src/dtable_wire.h) over one Connection per host.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dendrite/client/credentials.h"
#include "dendrite/vnode.h"
#include "faults/checker.h"

namespace dendrite::faults {

// One CopiesRead per key of `histories`: how many of its expected copy holders
// (in `ring`, sorted by id, with `replicas` replicas) hold exactly the state
// `finals` says (a value, or nothing / a tombstone for absent). A holder that
// does not answer counts as not good. `credentials`: for a CURVE ring.
std::vector<CopiesRead> read_copies(const std::vector<Vnode>& ring, int replicas,
                                    const std::vector<KeyHistory>& histories,
                                    const std::vector<FinalRead>& finals,
                                    std::chrono::milliseconds timeout,
                                    std::shared_ptr<const client::Credentials> credentials);

}  // namespace dendrite::faults
