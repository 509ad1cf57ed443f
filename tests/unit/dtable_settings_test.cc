// The dtable plugin's config: defaults, every key, and errors that name the key.
#include <gtest/gtest.h>

#include "settings.h"

namespace dendrite::dtable {
namespace {

TEST(DtableSettingsTest, EmptyConfigGivesTheDefaults) {
  auto s = parse_settings("{}");
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(s->check_interval, Milliseconds(60000));
  EXPECT_EQ(s->tombstone_grace, Milliseconds(600000));
  EXPECT_TRUE(parse_settings("null").ok());
}

TEST(DtableSettingsTest, EveryKeyIsRead) {
  auto s = parse_settings(R"({"check_interval_ms": 100, "tombstone_grace_ms": 400,
      "settle_ms": 7, "batch_items": 9})");
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(s->check_interval, Milliseconds(100));
  EXPECT_EQ(s->tombstone_grace, Milliseconds(400));
  EXPECT_EQ(s->settle, Milliseconds(7));
  EXPECT_EQ(s->batch_items, 9u);
}

TEST(DtableSettingsTest, ErrorsNameTheKey) {
  auto unknown = parse_settings(R"({"check_intervl_ms": 5})");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("unknown key 'check_intervl_ms'"), std::string::npos)
      << unknown.status().message();
  auto type = parse_settings(R"({"batch_items": "many"})");
  ASSERT_FALSE(type.ok());
  EXPECT_NE(type.status().message().find("'batch_items'"), std::string::npos);
  auto range = parse_settings(R"({"check_interval_ms": 1})");
  ASSERT_FALSE(range.ok());
  EXPECT_NE(range.status().message().find("'check_interval_ms'"), std::string::npos);
  auto grace = parse_settings(R"({"check_interval_ms": 1000, "tombstone_grace_ms": 3000})");
  ASSERT_FALSE(grace.ok());
  EXPECT_NE(grace.status().message().find("'tombstone_grace_ms'"), std::string::npos);
  EXPECT_FALSE(parse_settings("[1]").ok());
  EXPECT_FALSE(parse_settings("{").ok());
}

}  // namespace
}  // namespace dendrite::dtable
