#include "settings.h"

#include <nlohmann/json.hpp>

namespace dendrite::dtable {
namespace {

Status bad(const std::string& key, const std::string& problem) {
  return Status::InvalidArgument("dtable config: '" + key + "' " + problem);
}

// Reads an integer in [min, max] from doc[key] into `out`.
Status read_int(const nlohmann::json& value, const std::string& key, std::int64_t min,
                std::int64_t max, std::int64_t& out) {
  if (!value.is_number_integer()) return bad(key, "must be an integer");
  const std::int64_t v = value.get<std::int64_t>();
  if (v < min || v > max) {
    return bad(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  out = v;
  return Status::Ok();
}

Status parse_storage(const nlohmann::json& doc, StorageSettings& s) {
  if (!doc.is_object()) return bad("storage", "must be a JSON object");
  for (const auto& [key, value] : doc.items()) {
    const std::string name = "storage." + key;
    std::int64_t v = 0;
    Status st;
    if (key == "engine") {
      if (!value.is_string() || (value != "rocksdb" && value != "memory")) {
        return bad(name, "must be \"rocksdb\" or \"memory\"");
      }
      s.engine =
          value == "rocksdb" ? StorageSettings::Engine::kRocksdb : StorageSettings::Engine::kMemory;
    } else if (key == "path") {
      if (!value.is_string() || value.get<std::string>().empty()) {
        return bad(name, "must be a non-empty string (a directory)");
      }
      s.path = value.get<std::string>();
    } else if (key == "sync") {
      if (!value.is_string() || (value != "always" && value != "periodic")) {
        return bad(name, "must be \"always\" or \"periodic\"");
      }
      s.sync =
          value == "always" ? StorageSettings::Sync::kAlways : StorageSettings::Sync::kPeriodic;
    } else if (key == "sync_period_ms") {
      st = read_int(value, name, 1, 60000, v);
      s.sync_period = Milliseconds(v);
    } else if (key == "cache_mb") {
      st = read_int(value, name, 1, 1 << 20, v);
      s.cache_mb = static_cast<std::size_t>(v);
    } else if (key == "reserve_mb") {
      st = read_int(value, name, 0, 1 << 20, v);
      s.reserve_mb = static_cast<std::size_t>(v);
    } else {
      return Status::InvalidArgument(
          "dtable config: unknown key '" + name +
          "' (valid: engine, path, sync, sync_period_ms, cache_mb, reserve_mb)");
    }
    if (!st.ok()) return st;
  }
  return Status::Ok();
}

}  // namespace

std::string default_data_path(const std::string& address) {
  std::string name = address;
  for (char& c : name) {
    if (c == ':' || c == '/' || c == '[' || c == ']') c = '_';
  }
  return "dendrite-data/" + name;
}

Result<Settings> parse_settings(const std::string& json_text) {
  Settings s;
  nlohmann::json doc = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::InvalidArgument("dtable config: not valid JSON");
  if (doc.is_null()) return s;
  if (!doc.is_object()) return Status::InvalidArgument("dtable config: must be a JSON object");
  constexpr std::int64_t kDay = 86400000;
  for (const auto& [key, value] : doc.items()) {
    std::int64_t v = 0;
    Status st;
    if (key == "check_interval_ms") {
      st = read_int(value, key, 10, kDay, v);
      s.check_interval = Milliseconds(v);
    } else if (key == "tombstone_grace_ms") {
      st = read_int(value, key, 1, 30 * kDay, v);
      s.tombstone_grace = Milliseconds(v);
    } else if (key == "settle_ms") {
      st = read_int(value, key, 0, kDay, v);
      s.settle = Milliseconds(v);
    } else if (key == "batch_items") {
      st = read_int(value, key, 1, 100000, v);
      s.batch_items = static_cast<std::size_t>(v);
    } else if (key == "batch_bytes") {
      st = read_int(value, key, 1 << 10, std::int64_t{1} << 30, v);
      s.batch_bytes = static_cast<std::size_t>(v);
    } else if (key == "max_key_bytes") {
      st = read_int(value, key, 1, 1 << 20, v);
      s.max_key_bytes = static_cast<std::size_t>(v);
    } else if (key == "max_value_bytes") {
      st = read_int(value, key, 0, std::int64_t{1} << 30, v);
      s.max_value_bytes = static_cast<std::size_t>(v);
    } else if (key == "partition_writes") {
      if (!value.is_string() || (value != "strict" && value != "sloppy")) {
        return bad(key, "must be \"strict\" or \"sloppy\"");
      }
      s.strict_writes = value == "strict";
    } else if (key == "storage") {
      st = parse_storage(value, s.storage);
    } else {
      return Status::InvalidArgument("dtable config: unknown key '" + key +
                                     "' (valid: check_interval_ms, tombstone_grace_ms, settle_ms, "
                                     "batch_items, batch_bytes, max_key_bytes, max_value_bytes, "
                                     "partition_writes, storage)");
    }
    if (!st.ok()) return st;
  }
  if (s.tombstone_grace < 4 * s.check_interval) {
    return bad("tombstone_grace_ms", "must be at least 4 x check_interval_ms (" +
                                         std::to_string(4 * s.check_interval.count()) + ")");
  }
  return s;
}

std::string write_problem(std::string_view key, std::size_t value_bytes, const Settings& s) {
  if (key.empty()) return "a write needs the key";
  if (key.size() > s.max_key_bytes) {
    return "key of " + std::to_string(key.size()) + " bytes exceeds the limit of " +
           std::to_string(s.max_key_bytes) + " (max_key_bytes)";
  }
  if (value_bytes > s.max_value_bytes) {
    return "value of " + std::to_string(value_bytes) + " bytes exceeds the limit of " +
           std::to_string(s.max_value_bytes) + " (max_value_bytes)";
  }
  return "";
}

}  // namespace dendrite::dtable
