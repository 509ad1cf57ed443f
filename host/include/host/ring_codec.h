// Conversions between ring values and the wire messages of proto/chord.proto,
// and builders for the ring's requests and replies. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "chord.pb.h"
#include "dendrite/message.h"
#include "dendrite/status.h"
#include "dendrite/vnode.h"
#include "dendrite/vnode_pb.h"

namespace dendrite::host {

// One vnode: dendrite::to_pb / from_pb (dendrite/vnode_pb.h).
using ::dendrite::from_pb;
using ::dendrite::to_pb;
// The vnodes of a repeated field; fails (nullopt) if any entry is malformed.
std::optional<std::vector<Vnode>> from_pb(
    const google::protobuf::RepeatedPtrField<PBProtoVnode>& list);

// Requests.
Message make_ping();
Message make_list_vnodes();
Message make_find_successors(const Id& key, const Vnode& dest, int limit,
                             const std::vector<Id>& avoid = {});
Message make_get_predecessor(const Vnode& dest);
Message make_notify(const Vnode& dest, const Vnode& self);
Message make_leave(const Vnode& source, const Vnode& dest, const std::optional<Vnode>& predecessor,
                   const std::vector<Vnode>& successors);

// Replies.
Message make_pong();
Message make_ack(bool ok = true);
Message make_vnode_list(const std::vector<Vnode>& vnodes);
Message make_forward(const Vnode& to);
Message make_proto_vnode(const Vnode& v);

// Decodes a ListVnodesResp reply. Errors: RemoteError for an Err reply,
// InvalidArgument for anything else that is not a well-formed list.
Result<std::vector<Vnode>> parse_vnode_list(const Message& reply);

}  // namespace dendrite::host
