// Building dtable requests and reading their replies.
#pragma once

#include <optional>

#include "dendrite/message.h"
#include "dendrite/status.h"
#include "dendrite/vnode.h"
#include "item.h"

namespace dendrite::dtable {

// Which table a GetItem reads.
enum class GetMode {
  kPrimary,  // the owner's primary table (owner check, read-through, consistency)
  kReplica,  // dest's replica table, no owner check
  kPeek,     // dest's primary table, no owner check, no read-through
};

// A GetItem request for `hash` to `dest`.
Message get_item_request(const Vnode& dest, const Id& hash, GetMode mode, int consistency);

// The version a GetItem reply carries (a tombstone included: `deleted`; an
// expired value too: `expires_ms` set), or nullopt when the key is absent
// there. Errors: the transport's, an Err reply
// (RemoteError with its text), a malformed reply, or the reply's code.
Result<std::optional<Item>> item_from_reply(const Result<Message>& reply);

// The Item reply for `item` (found unless absent, a tombstone or expired at
// this node's wall clock; an expired version still carries its key,
// timestamp and expiresAt, so a peer comparing copies sees it as a version).
Message item_reply(const std::optional<Item>& item);
// An Item reply carrying a failure code.
Message item_error_reply(int code, const std::string& error);

// True when `s` is an Err reply text saying the vnode asked is not the owner.
bool is_wrong_owner(const Status& s);

}  // namespace dendrite::dtable
