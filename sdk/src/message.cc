#include "dendrite/message.h"

#include "chord.pb.h"
#include "dendrite/hooks.h"

namespace dendrite {

std::string message_type_hex(MessageType type) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s = "0x00";
  s[2] = kDigits[type >> 4];
  s[3] = kDigits[type & 0xf];
  return s;
}

Message make_error(std::string_view error) {
  PBProtoErr e;
  e.set_error(std::string(error));
  return pack(msg::kErr, e);
}

Status error_of(const Message& m) {
  if (m.type != msg::kErr) return Status::Ok();
  PBProtoErr e;
  if (!e.ParseFromString(m.payload)) return Status::RemoteError("undecodable Err reply");
  return Status::RemoteError(e.error());
}

std::string_view ring_event_name(RingEventType type) {
  switch (type) {
    case RingEventType::kPredecessorJoined:
      return "predecessor_joined";
    case RingEventType::kPredecessorLeft:
      return "predecessor_left";
    case RingEventType::kReplicasChanged:
      return "replicas_changed";
  }
  return "unknown";
}

}  // namespace dendrite
