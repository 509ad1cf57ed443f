#include "wire.h"

#include "clock.h"
#include "codec.h"
#include "dendrite/dtable/messages.h"

namespace dendrite::dtable {

Message get_item_request(const Vnode& dest, const Id& hash, GetMode mode, int consistency) {
  pb::PBDTableGetItem req;
  to_pb(dest, req.mutable_dest());
  req.set_keyhash(hash.raw());
  if (consistency > 1) req.set_consistency(consistency);
  if (mode == GetMode::kReplica) req.set_replica(true);
  if (mode == GetMode::kPeek) req.set_peek(true);
  return pack(msg::kGetItem, req);
}

Result<std::optional<Item>> item_from_reply(const Result<Message>& reply) {
  if (!reply.ok()) return reply.status();
  if (Status e = error_of(*reply); !e.ok()) return e;
  auto pb = unpack<pb::PBDTableItem>(*reply, msg::kItem);
  if (!pb.ok()) return pb.status();
  if (pb->code() != kCodeOk) return status_of(pb->code(), pb->error());
  if (!pb->found() && !pb->deleted() && pb->expiresat() == 0) return std::optional<Item>();
  auto item = item_from_pb(*pb);
  if (!item.ok()) return item.status();
  return std::optional<Item>(std::move(*item));
}

Message item_reply(const std::optional<Item>& item) {
  pb::PBDTableItem pb;
  if (item) {
    to_pb(*item, &pb);
    pb.set_found(live_at(*item, system_wall_ms()));
  } else {
    pb.set_found(false);
  }
  return pack(msg::kItem, pb);
}

Message item_error_reply(int code, const std::string& error) {
  pb::PBDTableItem pb;
  pb.set_found(false);
  pb.set_code(code);
  pb.set_error(error);
  return pack(msg::kItem, pb);
}

bool is_wrong_owner(const Status& s) {
  return s.code() == StatusCode::kRemoteError &&
         s.message().find(kWrongOwnerText) != std::string::npos;
}

}  // namespace dendrite::dtable
