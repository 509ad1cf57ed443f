// What a node or client makes of received ZeroMQ multipart messages
// (docs/wire.md "Framing"): requests on a ROUTER, as
// [identity][envelope...][empty][payload] (the original's REQ clients send
// [empty][payload], our DEALERs [id][empty][payload]), and replies on our
// DEALERs, [id][empty][reply]. Pure; thread-safe. Socket I/O stays with the
// callers (host/src/zmq_transport.cc, peer_channel.cc), which feed these the frames
// they receive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "dendrite/message.h"
#include "dendrite/status.h"

namespace dendrite::wire {

// Envelope frames kept per request; a request with more is dropped as hostile
// (REQ clients send 1 after the ROUTER's identity, our DEALERs 2).
inline constexpr std::size_t kMaxEnvelopeFrames = 6;
// The correlation frame of our DEALERs: a big-endian 64-bit request id.
inline constexpr std::size_t kCorrelationIdBytes = 8;

// Classifies the frames of one request received on the ROUTER, one at a time,
// then judges the whole. At most kMaxEnvelopeFrames frames are kEnvelope.
class RequestFramer {
 public:
  enum class Role {
    kEnvelope,   // keep it: echoed in front of the reply
    kDelimiter,  // the empty frame that ends the envelope
    kPayload,    // the request (type byte + protobuf)
    kIgnored,    // past the envelope limit, or after the payload
  };
  // What the next frame, of `size` bytes, is.
  Role take(std::size_t size);

  enum class Verdict {
    kServe,   // hand the payload to the handler
    kReject,  // reply Err "malformed request: <why>" behind the envelope
    kDrop,    // no reply is possible or wanted
  };
  struct Outcome {
    Verdict verdict = Verdict::kServe;
    std::string why;  // for kReject and kDrop
  };
  // The verdict after the last frame; `payload_size` is the size of the
  // kPayload frame (0 when there was none).
  Outcome finish(std::size_t payload_size, std::size_t max_frame_bytes) const;

  std::size_t envelope_frames() const { return envelope_; }

 private:
  std::size_t index_ = 0;
  std::size_t envelope_ = 0;
  std::size_t payload_frames_ = 0;
  bool delimiter_ = false;
  bool overflow_ = false;
};

// Writes `id` as the kCorrelationIdBytes of a correlation frame.
void put_correlation_id(std::uint64_t id, unsigned char* out);
// The correlation frame of `id` (kCorrelationIdBytes bytes).
std::string correlation_frame(std::uint64_t id);
// The id in the first kCorrelationIdBytes of `frame` (the caller checked its size).
std::uint64_t get_correlation_id(std::string_view frame);

// A reply received on one of our DEALERs.
struct ReceivedReply {
  std::uint64_t id = 0;     // the correlation id of the request it answers
  Result<Message> message;  // Unavailable when the reply frame is empty
};

// Decodes [id][empty][reply]: `frame_count` frames were received, the first
// three are given (missing ones empty). Nullopt when the shape is wrong (not
// three frames, an id that is not kCorrelationIdBytes, a non-empty delimiter).
// `peer` names the sender in the error of an empty reply frame.
std::optional<ReceivedReply> decode_reply(std::size_t frame_count, std::string_view id,
                                          std::string_view delimiter, std::string_view reply,
                                          const std::string& peer);

}  // namespace dendrite::wire
