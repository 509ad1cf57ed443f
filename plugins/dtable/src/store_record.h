// The journal record of one key in one table: its key, every version held
// (value, timestamp, committed, tombstone, expiry), its aborted marks and its replica
// bookkeeping. A compact binary format of dtable's own, versioned by its first
// byte. Views point into the entry encoded or the record decoded.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dendrite/vnode.h"

namespace dendrite::dtable {

struct StoreRecord {
  struct Version {
    std::int64_t ts = 0;
    std::string_view value;
    bool deleted = false;
    bool committed = false;
    std::int64_t expires_ms = 0;  // 0: never
  };
  std::string_view key;
  std::vector<Version> versions;  // oldest first
  std::vector<std::int64_t> aborted;
  std::optional<Vnode> master;
  int depth = 0;
  // When the master last wrote or confirmed the copy (hybrid-clock ns; 0:
  // unknown). Written when an entry leaves memory for the disk only.
  std::int64_t refreshed_ns = 0;
  // Which change of the table the entry last took (Store's changes counter,
  // kept across restarts; 0: unknown).
  std::uint64_t seq = 0;
};

// Replaces `out` with the encoding of `r`.
void encode_record(const StoreRecord& r, std::string& out);
// Decodes `in` into `r` (views into `in`). False on anything malformed:
// truncated, trailing bytes, an unknown format, counts beyond the limits.
bool decode_record(std::string_view in, StoreRecord& r);

}  // namespace dendrite::dtable
