#include "dtable_wire.h"

#include "chord.pb.h"
#include "dendrite/dtable/messages.h"
#include "dendrite/dtable/mutate_request.h"
#include "dendrite/dtable/write_request.h"
#include "dendrite/vnode_pb.h"
#include "dtable.pb.h"

namespace dendrite::client::detail {
namespace {

namespace msg = dendrite::dtable::msg;
namespace dt = dendrite::dtable;
namespace pb = ::dtable;

// The Status for a failure code of a Response or Item.
Status status_of(int code, const std::string& error) {
  const std::string text =
      error.empty() ? "request failed (code " + std::to_string(code) + ")" : error;
  switch (code) {
    case dt::kCodeOk:
      return Status::Ok();
    case dt::kCodeNotFound:
      return Status::NotFound(text);
    case dt::kCodeInvalidArgument:
      return Status::InvalidArgument(text);
    case dt::kCodeUnavailable:
      return Status::Unavailable(text);
    case dt::kCodeTimeout:
      return Status::Timeout(text);
    case dt::kCodeConsistencyNotMet:
      return Status::ConsistencyNotMet(text);
    case dt::kCodeWrongOwner:
      return Status::Unavailable(text);
    default:
      return Status::RemoteError(text);
  }
}

// How to go on after a failure code.
Next next_of(int code) {
  switch (code) {
    case dt::kCodeWrongOwner:
      return Next::kWrongOwner;
    case dt::kCodeUnavailable:  // e.g. the node is stopping
    case dt::kCodeTimeout:
      return Next::kRetry;
    default:
      return Next::kDone;
  }
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// An Err reply: wrong owner, a ring that moved (retry), or a refusal (final).
template <typename Answer>
Answer from_err(const Status& err) {
  Answer a;
  const std::string& text = err.message();
  if (text.find(dt::kWrongOwnerText) != std::string::npos) {
    a.next = Next::kWrongOwner;
    a.status = Status::Unavailable(text);
    a.hint = owner_hint(text);
    return a;
  }
  a.status = err;
  if (starts_with(text, "busy")) {
    // The node is shedding load: try again after the backoff.
    a.status = Status::Unavailable(text);
    a.next = Next::kRetry;
    return a;
  }
  // A node without dtable, a request it cannot decode, or a plugin failure will
  // not change on a retry; anything else (unknown vnode, ring not ready) may.
  if (starts_with(text, "unknown message type") || starts_with(text, "dtable: cannot decode") ||
      starts_with(text, "plugin error")) {
    a.next = Next::kDone;
  } else {
    a.next = Next::kRetry;
  }
  return a;
}

// A transport failure or an Err reply; nullopt when `reply` is a real answer.
template <typename Answer>
std::optional<Answer> failed(const Result<Message>& reply) {
  if (!reply.ok()) {
    Answer a;
    a.status = reply.status();
    const StatusCode code = a.status.code();
    a.next = (code == StatusCode::kTimeout || code == StatusCode::kUnavailable) ? Next::kNoAnswer
                                                                                : Next::kDone;
    return a;
  }
  if (Status err = error_of(*reply); !err.ok()) return from_err<Answer>(err);
  return std::nullopt;
}

template <typename Answer>
Answer malformed(const Result<Message>& reply, const std::string& what) {
  Answer a;
  a.next = Next::kDone;
  a.status = Status::Internal("malformed " + what + " (type " + std::to_string(reply->type) + ")");
  return a;
}

WriteAnswer write_answer(const pb::PBDTableResponse& r) {
  WriteAnswer a;
  if (r.ok()) return a;
  a.next = next_of(r.code());
  a.status = status_of(r.code(), r.error());
  if (a.next == Next::kWrongOwner) {
    if (r.has_owner()) a.hint = from_pb(r.owner());
    if (!a.hint) a.hint = owner_hint(r.error());
  }
  return a;
}

ReadAnswer read_answer(const pb::PBDTableItem& item) {
  ReadAnswer a;
  if (item.code() != dt::kCodeOk) {
    a.next = next_of(item.code());
    a.status = status_of(item.code(), item.error());
    if (a.next == Next::kWrongOwner) a.hint = owner_hint(item.error());
    return a;
  }
  // An expired value is a copy (a version) that reads as absent, like a
  // tombstone.
  const bool expired = !item.found() && !item.deleted() && item.expiresat() != 0;
  a.deleted = item.deleted() || expired;
  a.has_copy = item.found() || item.deleted() || expired;
  a.timestamp = item.timestamp();
  if (item.found()) {
    a.value = item.val();
    a.expires_ms = item.expiresat();
  }
  return a;
}

}  // namespace

std::optional<Vnode> owner_hint(std::string_view text) {
  constexpr std::string_view kOwner = "; owner ";
  const auto at = text.find(kOwner);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(at + kOwner.size());
  const auto space = rest.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  auto id = Id::from_hex(rest.substr(0, space));
  std::string_view host = rest.substr(space + 1);
  host = host.substr(0, host.find_first_of(" ;\n"));
  if (!id || host.empty()) return std::nullopt;
  return Vnode{*id, std::string(host)};
}

Message set_item_request(const Vnode& dest, std::string_view key, std::string_view value,
                         bool deleted, int consistency) {
  pb::PBDTableSetItem req;
  to_pb(dest, req.mutable_dest());
  dt::fill_write_request(req, key, {}, value, deleted, consistency);
  return pack(msg::kSetItem, req);
}

Message get_item_request(const Vnode& dest, const Id& hash, int consistency, bool replica) {
  pb::PBDTableGetItem req;
  to_pb(dest, req.mutable_dest());
  req.set_keyhash(hash.raw());
  if (consistency > 1) req.set_consistency(consistency);
  if (replica) req.set_replica(true);
  return pack(msg::kGetItem, req);
}

Message set_multi_request(const Vnode& dest, const std::vector<const KeyValue*>& items,
                          int consistency) {
  pb::PBDTableSetMultiItem req;
  to_pb(dest, req.mutable_dest());
  for (const KeyValue* kv : items) {
    auto* item = req.add_items();
    item->set_key(kv->key);
    item->set_val(kv->value);
  }
  if (consistency > 1) req.set_minacks(consistency);
  return pack(msg::kSetMultiItem, req);
}

Message get_multi_request(const Vnode& dest, const std::vector<Id>& hashes, int consistency) {
  pb::PBDTableGetMultiItem req;
  to_pb(dest, req.mutable_dest());
  for (const Id& h : hashes) req.add_keyhashes(h.raw());
  if (consistency > 1) req.set_consistency(consistency);
  return pack(msg::kGetMultiItem, req);
}

Message local_keys_request(const std::optional<Id>& after, int limit) {
  pb::PBDTableLocalKeys req;
  if (after) req.set_afterkeyhash(after->raw());
  if (limit > 0) req.set_limit(limit);
  return pack(msg::kLocalKeys, req);
}

Message checkpoint_request(const std::string& dir) {
  pb::PBDTableCheckpoint req;
  req.set_dir(dir);
  return pack(msg::kCheckpoint, req);
}

Message mutate_request(const Vnode& dest, std::string_view key, const dt::Mutation& m,
                       int consistency) {
  pb::PBDTableMutate req;
  to_pb(dest, req.mutable_dest());
  dt::fill_mutate_request(req, key, m, consistency);
  return pack(msg::kMutate, req);
}

MutateAnswer read_mutate_reply(const Result<Message>& reply) {
  MutateAnswer a;
  if (auto f = failed<WriteAnswer>(reply)) {
    a.next = f->next;
    a.status = f->status;
    a.hint = f->hint;
    return a;
  }
  auto r = unpack<pb::PBDTableResponse>(*reply, msg::kResponse);
  if (!r.ok()) {
    a.status = Status::Internal("malformed answer to a mutation (type " +
                                std::to_string(reply->type) + ")");
    return a;
  }
  const WriteAnswer w = write_answer(*r);
  // A primary's own failure code (unlike an Err) may follow a decision that
  // was applied (a copy not yet on disk): final, never retried.
  a.next = w.next == Next::kRetry ? Next::kDone : w.next;
  a.status = w.status;
  a.hint = w.hint;
  if (r->ok()) a.result = dt::mutation_result_of(r->mutation());
  return a;
}

WriteAnswer read_write_reply(const Result<Message>& reply) {
  if (auto f = failed<WriteAnswer>(reply)) return *f;
  auto r = unpack<pb::PBDTableResponse>(*reply, msg::kResponse);
  if (!r.ok()) return malformed<WriteAnswer>(reply, "answer to a write");
  return write_answer(*r);
}

std::vector<WriteAnswer> read_set_multi_reply(const Result<Message>& reply, std::size_t n) {
  if (auto f = failed<WriteAnswer>(reply)) return std::vector<WriteAnswer>(n, *f);
  auto r = unpack<pb::PBDTableResponse>(*reply, msg::kResponse);
  if (!r.ok() || static_cast<std::size_t>(r->results_size()) != n) {
    if (r.ok() && r->results_size() == 0 && !r->ok()) {
      // The request failed as a whole (e.g. consistency out of range).
      return std::vector<WriteAnswer>(n, write_answer(*r));
    }
    return std::vector<WriteAnswer>(n, malformed<WriteAnswer>(reply, "answer to a multi write"));
  }
  std::vector<WriteAnswer> out;
  out.reserve(n);
  for (const auto& item : r->results()) out.push_back(write_answer(item));
  return out;
}

ReadAnswer read_get_reply(const Result<Message>& reply) {
  if (auto f = failed<ReadAnswer>(reply)) return *f;
  auto item = unpack<pb::PBDTableItem>(*reply, msg::kItem);
  if (!item.ok()) return malformed<ReadAnswer>(reply, "answer to a read");
  return read_answer(*item);
}

std::vector<ReadAnswer> read_get_multi_reply(const Result<Message>& reply, std::size_t n) {
  if (auto f = failed<ReadAnswer>(reply)) return std::vector<ReadAnswer>(n, *f);
  auto r = unpack<pb::PBDTableMultiItemResponse>(*reply, msg::kMultiItemResponse);
  if (!r.ok() || static_cast<std::size_t>(r->items_size()) != n) {
    return std::vector<ReadAnswer>(n, malformed<ReadAnswer>(reply, "answer to a multi read"));
  }
  std::vector<ReadAnswer> out;
  out.reserve(n);
  for (const auto& item : r->items()) out.push_back(read_answer(item));
  return out;
}

Result<KeysPage> read_local_keys_reply(const Result<Message>& reply) {
  if (!reply.ok()) return reply.status();
  if (Status err = error_of(*reply); !err.ok()) return err;
  auto r = unpack<pb::PBDTableMultiItemResponse>(*reply, msg::kMultiItemResponse);
  if (!r.ok()) {
    return Status::Internal("malformed answer to a key listing (type " +
                            std::to_string(reply->type) + ")");
  }
  KeysPage page;
  page.more = r->more();
  page.keys.reserve(static_cast<std::size_t>(r->items_size()));
  for (const auto& item : r->items()) {
    if (auto h = Id::from_bytes(item.keyhash())) page.last = *h;
    if (item.has_deleted() && item.deleted()) continue;
    page.keys.push_back(item.key());
  }
  if (page.more && !page.last) {
    return Status::Internal("key listing says more but names no key hash");
  }
  return page;
}

}  // namespace dendrite::client::detail
