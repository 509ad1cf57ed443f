// Message types and reply codes of the dtable wire protocol (proto/dtable.proto).
// Types 0x20-0x29 and 0x30 are the original fastfn/dendrite's (same numbers and
// fields); 0x2A-0x2F are ours. Every request names its `dest` vnode; a request
// about a key sent to a vnode that is not the key's primary gets an Err reply
// whose text starts with kWrongOwnerText (see below).
#pragma once

#include <cstdint>
#include <string_view>

#include "dendrite/message.h"

namespace dendrite::dtable {

namespace msg {
// Is `dest` a vnode with a table here? PBDTableStatus -> Response.
inline constexpr MessageType kStatus = 0x20;
// Reply: PBDTableResponse.
inline constexpr MessageType kResponse = 0x21;
// Reply: PBDTableItem (GetItem).
inline constexpr MessageType kItem = 0x22;
// Reply: PBDTableMultiItemResponse (GetMultiItem, LocalKeys, ReplicaDigest).
inline constexpr MessageType kMultiItemResponse = 0x23;
// client -> primary: read a key. PBDTableGetItem -> Item.
inline constexpr MessageType kGetItem = 0x24;
// client -> primary: write (or delete: item.deleted) a key with minAcks.
// PBDTableSetItem -> Response (timestamp, copies; code on failure).
inline constexpr MessageType kSetItem = 0x25;
// Batches. PBDTableSetMultiItem -> Response with one result per item.
// client -> primary (sets), primary -> replica (replica = true),
// old owner -> new owner (demoting = true, migration / graceful leave).
inline constexpr MessageType kSetMultiItem = 0x26;
// primary -> replica: drop the replica of a key. PBDTableClearReplica -> Response.
inline constexpr MessageType kClearReplica = 0x27;
// primary -> replica: write one replica copy. PBDTableSetItem -> Response.
inline constexpr MessageType kSetReplica = 0x28;
// primary -> replica: set replica info / commit a version. -> Response.
inline constexpr MessageType kSetReplicaInfo = 0x29;
// Ours. client -> primary: read several keys. PBDTableGetMultiItem -> MultiItemResponse.
inline constexpr MessageType kGetMultiItem = 0x2A;
// Ours. anyone -> host: keys whose primary is on that host. PBDTableLocalKeys ->
// MultiItemResponse.
inline constexpr MessageType kLocalKeys = 0x2B;
// Ours. primary -> replica (or primary): roll back / drop items.
// PBDTableDropItems -> Response.
inline constexpr MessageType kDropItems = 0x2C;
// Ours. primary -> replica (self-check): versions the replica should hold.
// PBDTableReplicaDigest -> MultiItemResponse (the keyHashes it lacks).
inline constexpr MessageType kReplicaDigest = 0x2D;
// Ours. anyone -> host: back up the host's tables into a directory there.
// PBDTableCheckpoint -> Response.
inline constexpr MessageType kCheckpoint = 0x2E;
// Ours. client -> primary: a write decided at the primary against the key's
// current value (dtable/mutation.h). PBDTableMutate -> Response (applied,
// the previous and the resulting value as asked).
inline constexpr MessageType kMutate = 0x2F;
// replica -> new primary: promote an item. PBDTablePromoteKey -> Response.
inline constexpr MessageType kPromoteKey = 0x30;
}  // namespace msg

// PBDTableResponse.code / PBDTableItem.code values.
inline constexpr std::int32_t kCodeOk = 0;
inline constexpr std::int32_t kCodeNotFound = 1;
inline constexpr std::int32_t kCodeInvalidArgument = 2;
inline constexpr std::int32_t kCodeUnavailable = 3;
inline constexpr std::int32_t kCodeTimeout = 4;
inline constexpr std::int32_t kCodeConsistencyNotMet = 5;
inline constexpr std::int32_t kCodeWrongOwner = 6;
inline constexpr std::int32_t kCodeOlder = 7;  // refused: a newer version exists
inline constexpr std::int32_t kCodeInternal = 8;

// The text that starts the Err reply (and Response.error) of a request sent to a
// vnode that is not the key's primary:
//   "wrong owner: <key hash hex> is not owned by <vnode hex>[; owner <vnode hex> <host>]"
// Clients refresh their routing on it (and may go straight to the owner named).
inline constexpr std::string_view kWrongOwnerText = "wrong owner";
// Starts the error of a write that reached fewer copies than asked.
inline constexpr std::string_view kConsistencyNotMetText = "consistency not met";

}  // namespace dendrite::dtable
