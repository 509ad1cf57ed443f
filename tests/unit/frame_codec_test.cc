// dendrite/wire/frame_codec.h: the request and reply shapes of docs/transport.md.
#include "dendrite/wire/frame_codec.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace dendrite::wire {
namespace {

using Role = RequestFramer::Role;
using Verdict = RequestFramer::Verdict;

// Feeds frames of these sizes; returns the roles and the outcome.
RequestFramer::Outcome frame(const std::vector<std::size_t>& sizes, std::vector<Role>* roles,
                             std::size_t max_frame_bytes = 100) {
  RequestFramer f;
  std::size_t payload = 0;
  for (std::size_t size : sizes) {
    Role r = f.take(size);
    if (r == Role::kPayload) payload = size;
    roles->push_back(r);
  }
  return f.finish(payload, max_frame_bytes);
}

TEST(FrameCodecTest, ServesTheOriginalsReqEnvelope) {
  std::vector<Role> roles;  // [identity][empty][payload]
  auto out = frame({5, 0, 3}, &roles);
  EXPECT_EQ(out.verdict, Verdict::kServe);
  EXPECT_EQ(roles, (std::vector<Role>{Role::kEnvelope, Role::kDelimiter, Role::kPayload}));
}

TEST(FrameCodecTest, ServesOurDealerEnvelope) {
  std::vector<Role> roles;  // [identity][id][empty][payload]
  auto out = frame({5, 8, 0, 3}, &roles);
  EXPECT_EQ(out.verdict, Verdict::kServe);
  EXPECT_EQ(roles, (std::vector<Role>{Role::kEnvelope, Role::kEnvelope, Role::kDelimiter,
                                      Role::kPayload}));
}

TEST(FrameCodecTest, JudgesMalformedRequestsAsTheTransportDocumentSays) {
  std::vector<Role> roles;
  EXPECT_EQ(frame({5, 3}, &roles).verdict, Verdict::kDrop);  // no delimiter
  EXPECT_EQ(frame({5, 1, 1, 1, 1, 1, 1, 0, 3}, &roles).why, "more than 6 envelope frames");
  EXPECT_EQ(frame({5, 0}, &roles).why, "missing payload frame");
  EXPECT_EQ(frame({5, 0, 0}, &roles).why, "empty frame");
  EXPECT_EQ(frame({5, 0, 3, 3, 3}, &roles).why, "2 unexpected frames after payload");
  auto big = frame({5, 0, 101}, &roles, 100);
  EXPECT_EQ(big.verdict, Verdict::kReject);
  EXPECT_EQ(big.why, "frame of 101 bytes exceeds the limit of 100");
}

TEST(FrameCodecTest, KeepsAtMostSixEnvelopeFrames) {
  RequestFramer f;
  for (int i = 0; i < 10; ++i) f.take(1);
  EXPECT_EQ(f.envelope_frames(), kMaxEnvelopeFrames);
}

TEST(FrameCodecTest, DecodesRepliesByCorrelationId) {
  unsigned char raw[kCorrelationIdBytes];
  put_correlation_id(0x0102030405060708u, raw);
  const std::string id(reinterpret_cast<const char*>(raw), sizeof raw);
  auto r = decode_reply(3, id, "", std::string("\x00\x08", 2), "h:1");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->id, 0x0102030405060708u);
  ASSERT_TRUE(r->message.ok());
  EXPECT_EQ(r->message->type, 0);
  EXPECT_EQ(r->message->payload, "\x08");

  auto empty = decode_reply(3, id, "", "", "h:1");
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(empty->message.status().message(), "malformed reply from h:1: empty frame");

  EXPECT_FALSE(decode_reply(2, id, "", "", "h:1").has_value());
  EXPECT_FALSE(decode_reply(4, id, "", "x", "h:1").has_value());
  EXPECT_FALSE(decode_reply(3, "short", "", "x", "h:1").has_value());
  EXPECT_FALSE(decode_reply(3, id, "x", "x", "h:1").has_value());
}

}  // namespace
}  // namespace dendrite::wire
