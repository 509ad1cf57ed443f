#include "dendrite/wire/frame_codec.h"

namespace dendrite::wire {

RequestFramer::Role RequestFramer::take(std::size_t size) {
  const std::size_t index = index_++;
  if (!delimiter_) {
    if (index > 0 && size == 0) {
      delimiter_ = true;
      return Role::kDelimiter;
    }
    if (envelope_ == kMaxEnvelopeFrames) {
      overflow_ = true;
      return Role::kIgnored;
    }
    ++envelope_;
    return Role::kEnvelope;
  }
  return ++payload_frames_ == 1 ? Role::kPayload : Role::kIgnored;
}

RequestFramer::Outcome RequestFramer::finish(std::size_t payload_size,
                                             std::size_t max_frame_bytes) const {
  if (overflow_) return {Verdict::kDrop, "more than 6 envelope frames"};
  if (!delimiter_) return {Verdict::kDrop, "no empty delimiter frame"};
  if (payload_frames_ == 0) return {Verdict::kReject, "missing payload frame"};
  if (payload_frames_ > 1) {
    return {Verdict::kReject,
            std::to_string(payload_frames_ - 1) + " unexpected frames after payload"};
  }
  if (payload_size == 0) return {Verdict::kReject, "empty frame"};
  if (payload_size > max_frame_bytes) {
    return {Verdict::kReject, "frame of " + std::to_string(payload_size) +
                                  " bytes exceeds the limit of " + std::to_string(max_frame_bytes)};
  }
  return {Verdict::kServe, {}};
}

void put_correlation_id(std::uint64_t id, unsigned char* out) {
  for (std::size_t i = 0; i < kCorrelationIdBytes; ++i) {
    out[i] = static_cast<unsigned char>(id >> (56 - 8 * i));
  }
}

std::uint64_t get_correlation_id(std::string_view frame) {
  std::uint64_t id = 0;
  for (std::size_t i = 0; i < kCorrelationIdBytes; ++i) {
    id = (id << 8) | static_cast<unsigned char>(frame[i]);
  }
  return id;
}

std::string correlation_frame(std::uint64_t id) {
  std::string out(kCorrelationIdBytes, '\0');
  put_correlation_id(id, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::optional<ReceivedReply> decode_reply(std::size_t frame_count, std::string_view id,
                                          std::string_view delimiter, std::string_view reply,
                                          const std::string& peer) {
  if (frame_count != 3 || id.size() != kCorrelationIdBytes || !delimiter.empty()) {
    return std::nullopt;
  }
  const std::uint64_t value = get_correlation_id(id);
  Result<Message> message = Message::from_frame(reply);
  if (!message.ok())
    message = Status::Unavailable("malformed reply from " + peer + ": empty frame");
  ReceivedReply out{value, std::move(message)};
  return out;
}

}  // namespace dendrite::wire
