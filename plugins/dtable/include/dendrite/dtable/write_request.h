// How a client write (SetItem, 0x25) is filled so that any primary takes it,
// an original Go node included (docs/wire.md "What an original node
// requires"). Shared by the client library and the dtable service, the two
// senders of client writes. Header-only and free of protobuf: it fills the
// generated message it is given.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace dendrite::dtable {

// Fills `req` (a generated PBDTableSetItem; `dest` is the caller's) with the
// write of `value` under `key`, or its deletion when `deleted`:
// - a delete carries no `val` (how the original deletes) and `deleted` (ours);
// - `timestamp` is the wall clock now (Unix ns): our primary stamps the write
//   itself, an original keeps the one given and refuses an absent one as too
//   old;
// - `item.replicaInfo` is present, empty (an original dereferences it);
// - `minAcks` is the consistency level, at least 1 (an original never answers
//   a write without one).
template <typename SetItemPb>
void fill_write_request(SetItemPb& req, std::string_view key, std::string_view key_hash,
                        std::string_view value, bool deleted, int consistency) {
  auto* item = req.mutable_item();
  item->set_key(std::string(key));
  if (!key_hash.empty()) item->set_keyhash(std::string(key_hash));
  if (deleted) {
    item->set_deleted(true);
  } else {
    item->set_val(std::string(value));
  }
  item->set_timestamp(std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count());
  item->mutable_replicainfo();
  req.set_minacks(std::max(consistency, 1));
}

}  // namespace dendrite::dtable
