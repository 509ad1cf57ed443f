#include "dendrite/vnode_pb.h"

namespace dendrite {

void to_pb(const Vnode& v, PBProtoVnode* out) {
  out->set_id(v.id.raw());
  out->set_host(v.host);
}

std::optional<Vnode> from_pb(const PBProtoVnode& pb) {
  auto id = Id::from_bytes(pb.id());
  if (!id) return std::nullopt;
  return Vnode{*id, pb.host()};
}

}  // namespace dendrite
