// The dtable plugin's configuration (the "config" object of its plugin entry).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "dendrite/host.h"
#include "dendrite/status.h"

namespace dendrite::dtable {

// Where and how dtable keeps its tables (the "storage" object; docs/dtable.md
// "Storage").
struct StorageSettings {
  enum class Engine {
    kRocksdb,  // on disk, every change written through (the default)
    kMemory,   // in memory only: lost when the node stops
  };
  enum class Sync {
    kAlways,    // a write is acknowledged once its log record is on disk (fsync)
    kPeriodic,  // the log is synced every sync_period; acknowledged at once
  };
  Engine engine = Engine::kRocksdb;
  // The node's data directory; "" means dendrite-data/<advertise address with
  // ':' as '_'> under the working directory.
  std::string path;
  Sync sync = Sync::kAlways;
  Milliseconds sync_period{1000};
  // Memory for the tables, MiB: three quarters for the entries kept in
  // memory (the rest stay on disk only, read back when used), one quarter
  // for RocksDB's block cache. Besides it: RocksDB's write buffers (up to
  // 3 x 32 MiB) and the journal's queue (about 16 MiB).
  std::size_t cache_mb = 256;
  // Writes are refused (reads go on) while the file system of `path` has
  // less than this free, MiB: the node says "disk full" before the engine
  // fails on it.
  std::size_t reserve_mb = 128;
};

// The default data directory of a node advertising `address` ("ip:port").
std::string default_data_path(const std::string& address);

struct Settings {
  // Period of the self-check (replica repair, orphan clearing, collection).
  Milliseconds check_interval{60000};
  // A tombstone is collected this long after the delete (and, on a primary,
  // only once every replica confirmed it). Must be >= 4 x check_interval so an
  // orphan replica is handed back before the tombstone that beats it goes.
  Milliseconds tombstone_grace{600000};
  // After start, a lost predecessor or a received hand-over, reads that miss
  // ask the previous holders (the successor, the replicas) for this long.
  Milliseconds settle{30000};
  // Items per replication / migration batch.
  std::size_t batch_items = 512;
  // Payload bytes per batch (keys and values); a batch holds at least one
  // item, so a single larger item travels alone.
  std::size_t batch_bytes = 4u << 20;
  // Largest key and value a client may write (larger writes are refused with
  // "invalid argument" naming the limit). Values must fit the host's
  // limits.max_frame_bytes with their key.
  std::size_t max_key_bytes = 8u << 10;
  std::size_t max_value_bytes = 16u << 20;
  // "partition_writes": "strict" (true, the default): a write at consistency
  // c counts only copies on the key's true holders among every remembered
  // member, so a side of a partition that lacks them refuses it; "sloppy"
  // (false): copies on whichever hosts the reachable ring places them count
  // (handed back to the true holders after the heal). docs/dtable.md
  // "Partitions".
  bool strict_writes = true;
  StorageSettings storage;
};

// Why a client's write of `key` with a value of `value_bytes` is refused, or
// "" when it is fine (non-empty key within max_key_bytes, value within
// max_value_bytes).
std::string write_problem(std::string_view key, std::size_t value_bytes, const Settings& s);

// Parses the plugin's JSON config over the defaults. Unknown keys and bad
// values fail with InvalidArgument naming the key.
Result<Settings> parse_settings(const std::string& json_text);

}  // namespace dendrite::dtable
