// A Vnode as the ring's wire message PBProtoVnode (proto/chord.proto), for the
// host, plugins and the client alike. Pure functions, any thread.
#pragma once

#include <optional>

#include "chord.pb.h"
#include "dendrite/vnode.h"

namespace dendrite {

// Fills `out` with `v` (its 20-byte id and its host).
void to_pb(const Vnode& v, PBProtoVnode* out);
// The vnode in `pb`, or nullopt when its id is not exactly 20 bytes.
std::optional<Vnode> from_pb(const PBProtoVnode& pb);

}  // namespace dendrite
