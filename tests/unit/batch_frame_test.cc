// dendrite/batch_frame.h: entries written by append_batch_entry() read back
// whole and in order, and every malformed shape stops the reader with a reason.
#include "dendrite/batch_frame.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace dendrite {
namespace {

std::string batch() {
  return std::string(1, static_cast<char>(msg::kBatch));
}

struct Read {
  std::vector<std::pair<std::string, std::string>> entries;  // tag, frame
  std::string error;
};

Read read_all(const std::string& frame) {
  Read out;
  BatchReader reader(frame);
  for (BatchReader::Entry e; reader.next(e);) out.entries.emplace_back(e.tag, e.frame);
  out.error = reader.error();
  return out;
}

TEST(BatchFrame, EntriesRoundTripInOrder) {
  std::string frame = batch();
  append_batch_entry(frame, "a", 0x24, "payload one");
  append_batch_entry(frame, std::string(kMaxBatchTagBytes, 't'), 0x25, "");
  const std::string big(70000, 'v');  // a length above 16 bits
  append_batch_entry(frame, "12345678", msg::kErr, big);
  EXPECT_EQ(frame.size(), 1 + 3 * kBatchEntryOverhead + 1 + kMaxBatchTagBytes + 8 + (1 + 11) + 1 +
                              (1 + big.size()));

  Read r = read_all(frame);
  EXPECT_EQ(r.error, "");
  ASSERT_EQ(r.entries.size(), 3u);
  EXPECT_EQ(r.entries[0], (std::pair<std::string, std::string>{"a", "\x24payload one"}));
  EXPECT_EQ(r.entries[1].first, std::string(kMaxBatchTagBytes, 't'));
  EXPECT_EQ(r.entries[1].second, "\x25");
  EXPECT_EQ(r.entries[2].first, "12345678");
  EXPECT_EQ(r.entries[2].second, std::string(1, static_cast<char>(msg::kErr)) + big);
}

TEST(BatchFrame, RefusesWhatIsNotABatch) {
  EXPECT_EQ(read_all("").error, "not a batch frame");
  EXPECT_EQ(read_all("\x24xyz").error, "not a batch frame");
  EXPECT_EQ(read_all(batch()).error, "empty batch");
}

TEST(BatchFrame, StopsAtTheFirstMalformedEntryAfterTheWholeOnes) {
  std::string good = batch();
  append_batch_entry(good, "ok", 0x24, "x");

  // Tag length 0, and above the limit.
  Read r = read_all(good + std::string(1, '\0') + "rest");
  EXPECT_EQ(r.entries.size(), 1u);
  EXPECT_EQ(r.error, "bad batch entry tag length");
  r = read_all(good + std::string(1, static_cast<char>(kMaxBatchTagBytes + 1)) +
               std::string(100, 'x'));
  EXPECT_EQ(r.error, "bad batch entry tag length");

  // A frame length of zero.
  r = read_all(good + std::string("\x01t\x00\x00\x00\x00", 6));
  EXPECT_EQ(r.entries.size(), 1u);
  EXPECT_EQ(r.error, "empty frame in a batch entry");

  // Cut anywhere inside an entry: never read past the end.
  std::string whole = batch();
  append_batch_entry(whole, "tag", 0x24, "abcdef");
  for (std::size_t cut = 2; cut < whole.size(); ++cut) {
    r = read_all(whole.substr(0, cut));
    EXPECT_TRUE(r.entries.empty()) << cut;
    EXPECT_EQ(r.error, "truncated batch entry") << cut;
  }
  // A length that claims more than the frame holds.
  r = read_all(batch() + std::string("\x01t\x00\x01\x00\x00\x24", 7));
  EXPECT_EQ(r.error, "truncated batch entry");
}

TEST(BatchFrame, RefusesMoreThanTheEntryLimit) {
  std::string frame = batch();
  for (std::size_t i = 0; i < kMaxBatchEntries; ++i) append_batch_entry(frame, "t", 0x24, "");
  Read r = read_all(frame);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.entries.size(), kMaxBatchEntries);

  append_batch_entry(frame, "t", 0x24, "");
  r = read_all(frame);
  EXPECT_EQ(r.entries.size(), kMaxBatchEntries);
  EXPECT_EQ(r.error, "more than 4096 entries in a batch");
}

TEST(BatchFrame, ProbeAnswerIsYesOnlyWithItsTagTypeAndText) {
  std::string yes = batch();
  append_batch_entry(yes, "probe-1", msg::kBatchProbe, kBatchProbeYes);
  EXPECT_TRUE(answers_batch_probe(yes, "probe-1"));
  EXPECT_FALSE(answers_batch_probe(yes, "probe-2"));  // another probe's answer

  std::string echo = batch();  // a node that echoes the probe it got
  append_batch_entry(echo, "probe-1", msg::kBatchProbe, "");
  EXPECT_FALSE(answers_batch_probe(echo, "probe-1"));
  std::string err = batch();
  append_batch_entry(err, "probe-1", msg::kErr, "unknown message type");
  EXPECT_FALSE(answers_batch_probe(err, "probe-1"));
  EXPECT_FALSE(answers_batch_probe(std::string(1, static_cast<char>(msg::kErr)), "probe-1"));
}

}  // namespace
}  // namespace dendrite
