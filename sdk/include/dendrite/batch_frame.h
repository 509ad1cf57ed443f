// The batch frame (type msg::kBatch, ours): many requests, or many replies,
// in one ZeroMQ message, so that a client with several requests in flight to
// one node pays ZeroMQ's per-message work once per batch instead of once per
// request (docs/transport.md, "Batches"). Header-only; pure; thread-safe.
//
// Frame: the type byte msg::kBatch, then one or more entries, each
//   [tag length: 1 byte, 1..kMaxBatchTagBytes][tag]
//   [frame length: 4 bytes, big-endian, >= 1][frame: type byte + protobuf]
// A request entry's tag is echoed on the entry that answers it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "dendrite/message.h"

namespace dendrite {

// Longest tag of an entry.
inline constexpr std::size_t kMaxBatchTagBytes = 64;
// Most entries one batch frame may carry; a node refuses bigger batches whole.
inline constexpr std::size_t kMaxBatchEntries = 4096;
// Bytes an entry adds to its tag and frame.
inline constexpr std::size_t kBatchEntryOverhead = 5;
// The payload of a node's answer to msg::kBatchProbe.
inline constexpr std::string_view kBatchProbeYes = "batch/1";

// Appends one entry to `frame` (which starts with the msg::kBatch byte), its
// frame being `type` followed by `payload`. REQUIRES: 1 <= tag.size() <=
// kMaxBatchTagBytes and payload.size() < 2^32 - 1.
inline void append_batch_entry(std::string& frame, std::string_view tag, MessageType type,
                               std::string_view payload) {
  const std::uint32_t len = static_cast<std::uint32_t>(payload.size() + 1);
  const char head[] = {static_cast<char>(tag.size())};
  const char size[] = {static_cast<char>(len >> 24), static_cast<char>(len >> 16),
                       static_cast<char>(len >> 8), static_cast<char>(len),
                       static_cast<char>(type)};
  frame.append(head, 1);
  frame.append(tag);
  frame.append(size, sizeof size);
  frame.append(payload);
}

// Reads the entries of a batch frame in order. Usage:
//   BatchReader r(frame);  Entry e;
//   while (r.next(e)) { ... }   then r.error() is empty when the frame was whole.
class BatchReader {
 public:
  struct Entry {
    std::string_view tag;
    std::string_view frame;  // type byte + payload; never empty
  };

  // `frame` is the whole batch frame, type byte included; it must outlive the
  // reader and the entries it hands out.
  explicit BatchReader(std::string_view frame) {
    if (frame.empty() || static_cast<MessageType>(frame[0]) != msg::kBatch) {
      error_ = "not a batch frame";
      rest_ = {};
    } else {
      rest_ = frame.substr(1);
      if (rest_.empty()) error_ = "empty batch";
    }
  }

  // The next entry; false at the end or at the first malformed entry (then
  // error() says why, and the entries before it were whole).
  bool next(Entry& out) {
    if (!error_.empty() || rest_.empty()) return false;
    if (++count_ > kMaxBatchEntries) return fail("more than 4096 entries in a batch");
    const std::size_t tag_len = static_cast<unsigned char>(rest_[0]);
    if (tag_len == 0 || tag_len > kMaxBatchTagBytes) return fail("bad batch entry tag length");
    if (rest_.size() < kBatchEntryOverhead + tag_len) return fail("truncated batch entry");
    const auto* p = reinterpret_cast<const unsigned char*>(rest_.data()) + 1 + tag_len;
    const std::size_t len = (std::size_t{p[0]} << 24) | (std::size_t{p[1]} << 16) |
                            (std::size_t{p[2]} << 8) | std::size_t{p[3]};
    if (len == 0) return fail("empty frame in a batch entry");
    if (rest_.size() - kBatchEntryOverhead - tag_len < len) return fail("truncated batch entry");
    out.tag = rest_.substr(1, tag_len);
    out.frame = rest_.substr(kBatchEntryOverhead + tag_len, len);
    rest_.remove_prefix(kBatchEntryOverhead + tag_len + len);
    return true;
  }

  // Why reading stopped early; empty when every entry was whole.
  const std::string& error() const { return error_; }

 private:
  bool fail(const char* why) {
    error_ = why;
    return false;
  }

  std::string_view rest_;
  std::string error_;
  std::size_t count_ = 0;
};

// True when `reply` is a node's "yes" to the batch probe sent under `tag`: a
// batch whose first entry carries `tag` and a kBatchProbe saying
// kBatchProbeYes. Anything else (an Err, an echo of the probe) is a "no".
inline bool answers_batch_probe(std::string_view reply, std::string_view tag) {
  BatchReader reader(reply);
  BatchReader::Entry e;
  return reader.next(e) && e.tag == tag &&
         static_cast<MessageType>(e.frame[0]) == msg::kBatchProbe &&
         e.frame.substr(1) == kBatchProbeYes;
}

}  // namespace dendrite
