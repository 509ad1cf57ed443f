// The dtable plugin's config: defaults, every key, and errors that name the key.
#include <gtest/gtest.h>

#include "batches.h"
#include "settings.h"

namespace dendrite::dtable {
namespace {

TEST(DtableSettingsTest, EmptyConfigGivesTheDefaults) {
  auto s = parse_settings("{}");
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(s->check_interval, Milliseconds(60000));
  EXPECT_EQ(s->tombstone_grace, Milliseconds(600000));
  EXPECT_EQ(s->batch_bytes, 4u << 20);
  EXPECT_EQ(s->max_key_bytes, 8u << 10);
  EXPECT_EQ(s->max_value_bytes, 16u << 20);
  EXPECT_TRUE(parse_settings("null").ok());
}

TEST(DtableSettingsTest, EveryKeyIsRead) {
  auto s = parse_settings(R"({"check_interval_ms": 100, "tombstone_grace_ms": 400,
      "settle_ms": 7, "batch_items": 9, "batch_bytes": 2048, "max_key_bytes": 10,
      "max_value_bytes": 0})");
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(s->check_interval, Milliseconds(100));
  EXPECT_EQ(s->tombstone_grace, Milliseconds(400));
  EXPECT_EQ(s->settle, Milliseconds(7));
  EXPECT_EQ(s->batch_items, 9u);
  EXPECT_EQ(s->batch_bytes, 2048u);
  EXPECT_EQ(s->max_key_bytes, 10u);
  EXPECT_EQ(s->max_value_bytes, 0u);
}

TEST(DtableSettingsTest, StorageDefaultsToRocksdbWithSyncAlways) {
  auto s = parse_settings("{}");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->storage.engine, StorageSettings::Engine::kRocksdb);
  EXPECT_EQ(s->storage.sync, StorageSettings::Sync::kAlways);
  EXPECT_EQ(s->storage.path, "");
  EXPECT_EQ(default_data_path("127.0.0.1:5000"), "dendrite-data/127.0.0.1_5000");
  EXPECT_EQ(default_data_path("[::1]:5000"), "dendrite-data/___1__5000");
}

TEST(DtableSettingsTest, EveryStorageKeyIsRead) {
  auto s = parse_settings(R"({"storage": {"engine": "memory", "path": "/var/lib/d",
      "sync": "periodic", "sync_period_ms": 250, "cache_mb": 512, "reserve_mb": 0}})");
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(s->storage.engine, StorageSettings::Engine::kMemory);
  EXPECT_EQ(s->storage.path, "/var/lib/d");
  EXPECT_EQ(s->storage.sync, StorageSettings::Sync::kPeriodic);
  EXPECT_EQ(s->storage.sync_period, Milliseconds(250));
  EXPECT_EQ(s->storage.cache_mb, 512u);
  EXPECT_EQ(s->storage.reserve_mb, 0u);
}

TEST(DtableSettingsTest, StorageErrorsNameTheKey) {
  auto error = [](const std::string& json) { return parse_settings(json).status().message(); };
  EXPECT_EQ(error(R"({"storage": "disk"})"), "dtable config: 'storage' must be a JSON object");
  EXPECT_EQ(error(R"({"storage": {"engine": "leveldb"}})"),
            "dtable config: 'storage.engine' must be \"rocksdb\" or \"memory\"");
  EXPECT_EQ(error(R"({"storage": {"sync": "never"}})"),
            "dtable config: 'storage.sync' must be \"always\" or \"periodic\"");
  EXPECT_EQ(error(R"({"storage": {"path": ""}})"),
            "dtable config: 'storage.path' must be a non-empty string (a directory)");
  EXPECT_EQ(error(R"({"storage": {"sync_period_ms": 0}})"),
            "dtable config: 'storage.sync_period_ms' must be between 1 and 60000");
  EXPECT_EQ(error(R"({"storage": {"cache": 1}})"),
            "dtable config: unknown key 'storage.cache' (valid: engine, path, sync, "
            "sync_period_ms, cache_mb, reserve_mb)");
}

TEST(DtableSettingsTest, WriteProblemNamesTheLimit) {
  Settings s;
  s.max_key_bytes = 4;
  s.max_value_bytes = 10;
  EXPECT_EQ(write_problem("abcd", 10, s), "");
  EXPECT_EQ(write_problem("", 1, s), "a write needs the key");
  EXPECT_EQ(write_problem("abcde", 1, s), "key of 5 bytes exceeds the limit of 4 (max_key_bytes)");
  EXPECT_EQ(write_problem("a", 11, s),
            "value of 11 bytes exceeds the limit of 10 (max_value_bytes)");
}

TEST(DtableBatchesTest, RangesHoldTheItemAndByteLimits) {
  using Ranges = std::vector<std::pair<std::size_t, std::size_t>>;
  const std::vector<std::size_t> sizes{3, 3, 3, 10, 1, 1, 1, 1};
  auto size_of = [&](std::size_t i) { return sizes[i]; };
  // By bytes (7): a 10-byte item travels alone.
  EXPECT_EQ(batch_ranges(sizes.size(), 100, 7, size_of), (Ranges{{0, 2}, {2, 3}, {3, 4}, {4, 8}}));
  // By items (3).
  EXPECT_EQ(batch_ranges(sizes.size(), 3, 1000, size_of), (Ranges{{0, 3}, {3, 6}, {6, 8}}));
  EXPECT_TRUE(batch_ranges(0, 3, 10, size_of).empty());
  // item_batches keeps every item once, in order.
  Settings s;
  s.batch_items = 2;
  std::vector<Item> items(5);
  for (std::size_t i = 0; i < items.size(); ++i) items[i].key = std::to_string(i);
  auto parts = item_batches(s, items);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[2].size(), 1u);
  EXPECT_EQ(parts[2][0].key, "4");
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
  auto key_range = parse_settings(R"({"max_key_bytes": 0})");
  ASSERT_FALSE(key_range.ok());
  EXPECT_NE(key_range.status().message().find("'max_key_bytes'"), std::string::npos);
  auto grace = parse_settings(R"({"check_interval_ms": 1000, "tombstone_grace_ms": 3000})");
  ASSERT_FALSE(grace.ok());
  EXPECT_NE(grace.status().message().find("'tombstone_grace_ms'"), std::string::npos);
  EXPECT_FALSE(parse_settings("[1]").ok());
  EXPECT_FALSE(parse_settings("{").ok());
}

}  // namespace
}  // namespace dendrite::dtable
