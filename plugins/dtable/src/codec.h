// Conversions between dtable's values and its wire messages (dtable.proto).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chord.pb.h"
#include "dendrite/message.h"
#include "dendrite/status.h"
#include "dendrite/vnode.h"
#include "dendrite/vnode_pb.h"
#include "dtable.pb.h"
#include "item.h"

namespace dendrite::dtable {

// The generated messages (package dtable, so namespace ::dtable).
namespace pb = ::dtable;

// One vnode: dendrite::to_pb / from_pb (dendrite/vnode_pb.h).
using ::dendrite::from_pb;
using ::dendrite::to_pb;

// Fills key, keyHash, timestamp, commited, val (unless a tombstone or
// !with_value), deleted and expiresAt (when the value expires).
void to_pb(const Item& item, pb::PBDTableItem* out, bool with_value = true);
// Appends items [from, to) to `out` as entries of the repeated pb::PBDTableItem
// field `field` of the message `out` encodes, each as to_pb(item) fills it,
// without building messages (one buffer for a whole batch). Appending to a
// message's serialization is a valid encoding of it with those items added.
void append_items(const std::vector<Item>& items, std::size_t from, std::size_t to, int field,
                  std::string* out);

// The item of a write: keyHash from the field when 20 bytes, else SHA-1(key).
// As in the original, an item without `val` is a delete. Errors: no key and no
// keyHash, a bad keyHash, or a key that does not hash to keyHash.
Result<Item> item_from_pb(const pb::PBDTableItem& pb);
// The same, taking the key and value out of `pb` (no copies).
Result<Item> item_from_pb(pb::PBDTableItem&& pb);

// A key hash from the wire (exactly 20 bytes).
Result<Id> hash_from_pb(const std::string& raw);

// `reply` decoded as a `Pb` message of type `type`. Errors: the transport's
// (no reply), an Err reply (its text), or a reply that does not decode.
template <typename Pb>
Result<Pb> reply_as(const Result<Message>& reply, MessageType type) {
  if (!reply.ok()) return reply.status();
  if (Status err = error_of(*reply); !err.ok()) return err;
  return unpack<Pb>(*reply, type);
}

// Response{ok=true}.
Message ok_response();
// Response{ok=false, code, error}.
Message fail_response(int code, std::string_view error);
// The kCode* value for a failed Status.
int code_of(const Status& s);
// The Status for a kCode* value and its text.
Status status_of(int code, const std::string& error);

}  // namespace dendrite::dtable
