// The message envelope and the ring messages' protobuf codec: round trips,
// Err replies, and rejection of bad input.
#include <gtest/gtest.h>

#include "chord.pb.h"
#include "dendrite/id.h"
#include "dendrite/message.h"
#include "dendrite/status.h"

namespace dendrite {
namespace {

TEST(CodecTest, FrameRoundTrip) {
  Message m{msg::kFindSuccessors, std::string("\x01\x02\x00\xff", 4)};
  std::string frame = m.to_frame();
  ASSERT_EQ(frame.size(), 5u);
  EXPECT_EQ(static_cast<std::uint8_t>(frame[0]), msg::kFindSuccessors);
  auto back = Message::from_frame(frame);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->type, m.type);
  EXPECT_EQ(back->payload, m.payload);
}

TEST(CodecTest, TypeOnlyFrameHasEmptyPayload) {
  auto m = Message::from_frame(std::string(1, static_cast<char>(msg::kListVnodes)));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->type, msg::kListVnodes);
  EXPECT_TRUE(m->payload.empty());
}

TEST(CodecTest, EmptyFrameIsInvalid) {
  auto m = Message::from_frame("");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
}

TEST(CodecTest, PackUnpackFindSuccessors) {
  PBProtoFindSuccessors fs;
  fs.set_key(Id::hash("k").raw());
  fs.mutable_dest()->set_id(Id::hash("v").raw());
  fs.mutable_dest()->set_host("127.0.0.1:5000");
  fs.set_limit(3);
  fs.add_avoid(Id::hash("dead").raw());
  Message m = pack(msg::kFindSuccessors, fs);
  auto back = unpack<PBProtoFindSuccessors>(m, msg::kFindSuccessors);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->key(), fs.key());
  EXPECT_EQ(back->dest().host(), "127.0.0.1:5000");
  EXPECT_EQ(back->limit(), 3);
  ASSERT_EQ(back->avoid_size(), 1);
  EXPECT_EQ(back->avoid(0), Id::hash("dead").raw());
}

TEST(CodecTest, UnpackRejectsWrongTypeAndMissingRequiredFields) {
  PBProtoPing ping;
  ping.set_version(1);
  Message m = pack(msg::kPing, ping);
  EXPECT_FALSE(unpack<PBProtoPing>(m, msg::kAck).ok());
  // A Notify without its required fields does not parse.
  Message empty_notify{msg::kNotify, ""};
  auto r = unpack<PBProtoNotify>(empty_notify, msg::kNotify);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  // Garbage bytes do not parse either.
  Message garbage{msg::kPing, std::string("\xff\xff\xff\xff", 4)};
  EXPECT_FALSE(unpack<PBProtoPing>(garbage, msg::kPing).ok());
}

TEST(CodecTest, ErrorReplies) {
  Message err = make_error("no predecessor");
  EXPECT_EQ(err.type, msg::kErr);
  Status s = error_of(err);
  EXPECT_EQ(s.code(), StatusCode::kRemoteError);
  EXPECT_EQ(s.message(), "no predecessor");
  EXPECT_TRUE(error_of(Message{msg::kPing, ""}).ok());
  // PBProtoErr's only field is number 2 (wire compatibility): tag byte 0x12.
  ASSERT_FALSE(err.payload.empty());
  EXPECT_EQ(static_cast<std::uint8_t>(err.payload[0]), 0x12);
}

TEST(CodecTest, MessageTypeHex) {
  EXPECT_EQ(message_type_hex(0x00), "0x00");
  EXPECT_EQ(message_type_hex(0x05), "0x05");
  EXPECT_EQ(message_type_hex(0x2a), "0x2a");
  EXPECT_EQ(message_type_hex(0xff), "0xff");
}

TEST(CodecTest, StatusAndResult) {
  EXPECT_EQ(Status::Ok().to_string(), "ok");
  EXPECT_EQ(Status::ConsistencyNotMet("2 of 3").to_string(), "consistency not met: 2 of 3");
  Result<int> good = 7;
  EXPECT_TRUE(good.ok());
  EXPECT_EQ(*good, 7);
  Result<int> bad = Status::NotFound("key");
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(bad.value_or(3), 3);
}

}  // namespace
}  // namespace dendrite
