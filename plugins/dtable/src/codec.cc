#include "codec.h"

#include "dendrite/dtable/messages.h"

namespace dendrite::dtable {

void to_pb(const Vnode& v, dendrite::PBProtoVnode* out) {
  out->set_id(v.id.raw());
  out->set_host(v.host);
}

std::optional<Vnode> from_pb(const dendrite::PBProtoVnode& v) {
  auto id = Id::from_bytes(v.id());
  if (!id) return std::nullopt;
  return Vnode{*id, v.host()};
}

void to_pb(const Item& item, PBDTableItem* out, bool with_value) {
  if (!item.key.empty()) out->set_key(item.key);
  out->set_keyhash(item.hash.raw());
  out->set_timestamp(item.timestamp);
  out->set_commited(true);
  if (item.deleted) {
    out->set_deleted(true);
  } else if (with_value) {
    out->set_val(item.value);
  }
}

Result<Id> hash_from_pb(const std::string& raw) {
  auto id = Id::from_bytes(raw);
  if (!id)
    return Status::InvalidArgument("keyHash must be 20 bytes, got " + std::to_string(raw.size()));
  return *id;
}

namespace {

// item_from_pb() with the key and value given by `take_key(item)` and
// `take_value(item)`.
template <typename TakeKey, typename TakeValue>
Result<Item> make_item(const PBDTableItem& pb, TakeKey take_key, TakeValue take_value) {
  Item item;
  take_key(item);
  if (pb.has_keyhash()) {
    auto h = hash_from_pb(pb.keyhash());
    if (!h.ok()) return h.status();
    item.hash = *h;
    if (!item.key.empty() && Id::hash(item.key) != item.hash) {
      return Status::InvalidArgument("keyHash does not match the key");
    }
  } else if (!item.key.empty()) {
    item.hash = Id::hash(item.key);
  } else {
    return Status::InvalidArgument("item has neither key nor keyHash");
  }
  item.timestamp = pb.timestamp();
  item.deleted = pb.deleted() || !pb.has_val();
  if (!item.deleted) take_value(item);
  return item;
}

}  // namespace

Result<Item> item_from_pb(const PBDTableItem& pb) {
  return make_item(
      pb, [&](Item& item) { item.key = pb.key(); }, [&](Item& item) { item.value = pb.val(); });
}

Result<Item> item_from_pb(PBDTableItem&& pb) {
  return make_item(
      pb, [&](Item& item) { item.key = std::move(*pb.mutable_key()); },
      [&](Item& item) { item.value = std::move(*pb.mutable_val()); });
}

Message ok_response() {
  PBDTableResponse r;
  r.set_ok(true);
  return pack(msg::kResponse, r);
}

Message fail_response(int code, std::string_view error) {
  PBDTableResponse r;
  r.set_ok(false);
  r.set_code(code);
  r.set_error(std::string(error));
  return pack(msg::kResponse, r);
}

int code_of(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return kCodeOk;
    case StatusCode::kNotFound:
      return kCodeNotFound;
    case StatusCode::kInvalidArgument:
      return kCodeInvalidArgument;
    case StatusCode::kUnavailable:
      return kCodeUnavailable;
    case StatusCode::kTimeout:
      return kCodeTimeout;
    case StatusCode::kConsistencyNotMet:
      return kCodeConsistencyNotMet;
    default:
      return kCodeInternal;
  }
}

Status status_of(int code, const std::string& error) {
  switch (code) {
    case kCodeOk:
      return Status::Ok();
    case kCodeNotFound:
      return Status::NotFound(error);
    case kCodeInvalidArgument:
      return Status::InvalidArgument(error);
    case kCodeUnavailable:
      return Status::Unavailable(error);
    case kCodeTimeout:
      return Status::Timeout(error);
    case kCodeConsistencyNotMet:
      return Status::ConsistencyNotMet(error);
    case kCodeWrongOwner:
      return Status::FailedPrecondition(error);
    default:
      return Status::RemoteError(error.empty() ? "request failed" : error);
  }
}

}  // namespace dendrite::dtable
