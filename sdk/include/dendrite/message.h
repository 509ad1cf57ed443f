// The message envelope: one ZeroMQ frame = one type byte + a protobuf payload.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "dendrite/status.h"

namespace dendrite {

// A message type: the first byte of every frame. The host owns 0x00-0x1F;
// plugins claim types from 0x20 up (dtable uses 0x20-0x3F).
using MessageType = std::uint8_t;

// Message types of the host (wire-compatible with the original's).
namespace msg {
inline constexpr MessageType kPing = 0;
inline constexpr MessageType kAck = 1;
inline constexpr MessageType kErr = 2;
inline constexpr MessageType kForward = 3;
inline constexpr MessageType kJoin = 4;
inline constexpr MessageType kLeave = 5;
inline constexpr MessageType kListVnodes = 6;
inline constexpr MessageType kListVnodesResp = 7;
inline constexpr MessageType kFindSuccessors = 8;
inline constexpr MessageType kGetPredecessor = 9;
inline constexpr MessageType kProtoVnode = 10;
inline constexpr MessageType kNotify = 11;
inline constexpr MessageType kHostStatus = 12;       // ours
inline constexpr MessageType kHostStatusReply = 13;  // ours
// Many requests, or their replies, in one frame (dendrite/batch_frame.h).
inline constexpr MessageType kBatch = 14;  // ours
// "Do you serve batches?": a node's transport answers it itself (never a
// handler) with a kBatchProbe whose payload is kBatchProbeYes.
inline constexpr MessageType kBatchProbe = 15;  // ours
// "Forget this remembered host" (dendrite-cli forget): Ack or Err.
inline constexpr MessageType kForgetHost = 16;  // ours
// The last type reserved for the host.
inline constexpr MessageType kLastHostType = 0x1F;
}  // namespace msg

// A decoded envelope. Value type.
struct Message {
  MessageType type = msg::kErr;
  std::string payload;  // the protobuf encoding of the type's message (may be empty)

  // The single wire frame: type byte followed by the payload.
  std::string to_frame() const {
    std::string f;
    f.reserve(payload.size() + 1);
    f.push_back(static_cast<char>(type));
    f.append(payload);
    return f;
  }
  // Splits a wire frame. An empty frame is an InvalidArgument error.
  static Result<Message> from_frame(std::string_view frame) {
    if (frame.empty()) return Status::InvalidArgument("empty frame");
    return Message{static_cast<MessageType>(frame[0]), std::string(frame.substr(1))};
  }
};

// Encodes protobuf message `m` as a Message of type `type`. `Pb` is any
// generated protobuf (lite or full) message class.
template <typename Pb>
Message pack(MessageType type, const Pb& m) {
  Message out{type, {}};
  m.SerializeToString(&out.payload);
  return out;
}

// Decodes `m.payload` into a `Pb`. Fails with InvalidArgument when the type is
// not `expected` or the payload does not parse (including missing required fields).
template <typename Pb>
Result<Pb> unpack(const Message& m, MessageType expected) {
  if (m.type != expected) {
    return Status::InvalidArgument("expected message type " + std::to_string(expected) + ", got " +
                                   std::to_string(m.type));
  }
  Pb out;
  // Parse, then check required fields ourselves: ParseFromString would log
  // every hostile frame through protobuf's logger.
  if (!out.ParsePartialFromString(m.payload) || !out.IsInitialized()) {
    return Status::InvalidArgument("cannot decode message type " + std::to_string(m.type));
  }
  return out;
}

// `type` as "0x" and two lower-case hex digits ("0x05", "0x40"), for messages.
std::string message_type_hex(MessageType type);

// Builds an Err reply carrying `error` (PBProtoErr, field 2).
Message make_error(std::string_view error);
// If `m` is an Err reply, its text as a RemoteError status; else Ok.
Status error_of(const Message& m);

}  // namespace dendrite
