// Fuzz target: the transport's frame decoding (dendrite/wire/frame_codec.h).
// Input: records (records.h). Tag bit 0 of the first record picks the side:
// 0 = a request received on the ROUTER ([identity][envelope...][empty][payload],
// the original's REQ envelope or our DEALER's), 1 = a reply received on one of
// our DEALERs ([id][empty][reply]). Each record's bytes are one frame. A
// request payload of type kBatch is also read as a batch (dendrite/batch_frame.h).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "dendrite/batch_frame.h"
#include "dendrite/message.h"
#include "dendrite/wire/frame_codec.h"
#include "records.h"

namespace {

using dendrite::Message;
using dendrite::wire::RequestFramer;

// Small, so the fuzzer reaches the size check.
constexpr std::size_t kMaxFrameBytes = 4096;

void check(bool ok) {
  if (!ok) std::abort();
}

// Reads a batch frame: entries are within bounds, and writing them again gives
// back the bytes read.
void batch(std::string_view payload) {
  dendrite::BatchReader reader(payload);
  std::string again(1, static_cast<char>(dendrite::msg::kBatch));
  std::size_t entries = 0;
  for (dendrite::BatchReader::Entry e; reader.next(e);) {
    check(!e.tag.empty() && e.tag.size() <= dendrite::kMaxBatchTagBytes);
    check(!e.frame.empty());
    ++entries;
    dendrite::append_batch_entry(again, e.tag, static_cast<dendrite::MessageType>(e.frame[0]),
                                 e.frame.substr(1));
  }
  check(entries <= dendrite::kMaxBatchEntries);
  check(payload.substr(0, again.size()) == again);
  if (reader.error().empty()) check(again.size() == payload.size());
}

void request_side(const std::vector<std::string_view>& frames) {
  RequestFramer framer;
  std::vector<std::string_view> envelope;
  std::string_view payload;
  bool have_payload = false;
  for (std::string_view f : frames) {
    switch (framer.take(f.size())) {
      case RequestFramer::Role::kEnvelope:
        envelope.push_back(f);
        break;
      case RequestFramer::Role::kPayload:
        check(!have_payload);
        payload = f;
        have_payload = true;
        break;
      case RequestFramer::Role::kDelimiter:
        check(f.empty());
        break;
      case RequestFramer::Role::kIgnored:
        break;
    }
  }
  // The transport keeps the envelope in fixed storage of this size.
  check(envelope.size() <= dendrite::wire::kMaxEnvelopeFrames);
  check(envelope.size() == framer.envelope_frames());
  const RequestFramer::Outcome outcome = framer.finish(payload.size(), kMaxFrameBytes);
  if (outcome.verdict != RequestFramer::Verdict::kServe) {
    check(!outcome.why.empty());
    return;
  }
  check(have_payload && !payload.empty() && payload.size() <= kMaxFrameBytes);
  check(!envelope.empty());
  auto request = Message::from_frame(payload);
  check(request.ok());
  check(request->to_frame() == payload);
  if (request->type == dendrite::msg::kBatch) batch(payload);
}

void reply_side(const std::vector<std::string_view>& frames) {
  std::string_view parts[3];
  for (std::size_t i = 0; i < frames.size() && i < 3; ++i) parts[i] = frames[i];
  auto reply =
      dendrite::wire::decode_reply(frames.size(), parts[0], parts[1], parts[2], "127.0.0.1:1");
  if (!reply) return;
  check(frames.size() == 3 && parts[1].empty());
  unsigned char id[dendrite::wire::kCorrelationIdBytes];
  dendrite::wire::put_correlation_id(reply->id, id);
  check(std::string_view(reinterpret_cast<const char*>(id), sizeof id) == parts[0]);
  if (reply->message.ok()) {
    check(reply->message->to_frame() == parts[2]);
  } else {
    check(parts[2].empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  dendrite::fuzz::RecordReader in(data, size);
  dendrite::fuzz::Record r;
  std::vector<std::string_view> frames;
  bool reply = false;
  while (in.next(r)) {
    if (frames.empty()) reply = (r.tag & 1) != 0;
    frames.push_back(r.bytes);
  }
  if (frames.empty()) return 0;
  if (reply) {
    reply_side(frames);
  } else {
    request_side(frames);
  }
  return 0;
}
