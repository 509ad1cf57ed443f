#include "host/ring_codec.h"

namespace dendrite::host {

std::optional<std::vector<Vnode>> from_pb(
    const google::protobuf::RepeatedPtrField<PBProtoVnode>& list) {
  std::vector<Vnode> out;
  out.reserve(static_cast<std::size_t>(list.size()));
  for (const PBProtoVnode& pb : list) {
    auto v = from_pb(pb);
    if (!v) return std::nullopt;
    out.push_back(std::move(*v));
  }
  return out;
}

Message make_ping() {
  PBProtoPing m;
  m.set_version(1);
  return pack(msg::kPing, m);
}

Message make_list_vnodes() {
  return pack(msg::kListVnodes, PBProtoListVnodes());
}

Message make_find_successors(const Id& key, const Vnode& dest, int limit,
                             const std::vector<Id>& avoid) {
  PBProtoFindSuccessors m;
  m.set_key(key.raw());
  to_pb(dest, m.mutable_dest());
  m.set_limit(limit);
  for (const Id& a : avoid) m.add_avoid(a.raw());
  return pack(msg::kFindSuccessors, m);
}

Message make_get_predecessor(const Vnode& dest) {
  PBProtoGetPredecessor m;
  to_pb(dest, m.mutable_dest());
  return pack(msg::kGetPredecessor, m);
}

Message make_notify(const Vnode& dest, const Vnode& self) {
  PBProtoNotify m;
  to_pb(dest, m.mutable_dest());
  to_pb(self, m.mutable_vnode());
  return pack(msg::kNotify, m);
}

Message make_leave(const Vnode& source, const Vnode& dest, const std::optional<Vnode>& predecessor,
                   const std::vector<Vnode>& successors) {
  PBProtoLeave m;
  to_pb(source, m.mutable_source());
  to_pb(dest, m.mutable_dest());
  if (predecessor) to_pb(*predecessor, m.mutable_predecessor());
  for (const Vnode& s : successors) to_pb(s, m.add_successors());
  return pack(msg::kLeave, m);
}

Message make_pong() {
  return make_ping();
}

Message make_ack(bool ok) {
  PBProtoAck m;
  m.set_version(1);
  m.set_ok(ok);
  return pack(msg::kAck, m);
}

Message make_vnode_list(const std::vector<Vnode>& vnodes) {
  PBProtoListVnodesResp m;
  for (const Vnode& v : vnodes) to_pb(v, m.add_vnodes());
  return pack(msg::kListVnodesResp, m);
}

Message make_forward(const Vnode& to) {
  PBProtoForward m;
  to_pb(to, m.mutable_vnode());
  return pack(msg::kForward, m);
}

Message make_proto_vnode(const Vnode& v) {
  PBProtoVnode m;
  to_pb(v, &m);
  return pack(msg::kProtoVnode, m);
}

Result<std::vector<Vnode>> parse_vnode_list(const Message& reply) {
  if (Status e = error_of(reply); !e.ok()) return e;
  auto pb = unpack<PBProtoListVnodesResp>(reply, msg::kListVnodesResp);
  if (!pb.ok()) return pb.status();
  auto list = from_pb(pb->vnodes());
  if (!list) return Status::InvalidArgument("malformed vnode in list");
  return std::move(*list);
}

}  // namespace dendrite::host
