#include "codec.h"

#include <cstdint>

#include "dendrite/dtable/messages.h"

namespace dendrite::dtable {

void to_pb(const Item& item, pb::PBDTableItem* out, bool with_value) {
  if (!item.key.empty()) out->set_key(item.key);
  out->set_keyhash(item.hash.raw());
  out->set_timestamp(item.timestamp);
  out->set_commited(true);
  if (item.deleted) {
    out->set_deleted(true);
  } else if (with_value) {
    out->set_val(item.value);
  }
  if (!item.deleted && item.expires_ms != 0) out->set_expiresat(item.expires_ms);
}

namespace {

void put_varint(std::uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

std::size_t varint_size(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Wire types of the protobuf encoding.
constexpr int kVarint = 0;
constexpr int kBytes = 2;

// A tag of a pb::PBDTableItem field (numbers below 16: one byte).
char tag(int field, int wire_type) {
  return static_cast<char>((field << 3) | wire_type);
}

// The encoded size of a pb::PBDTableItem as to_pb() fills it, less its key and
// value bytes.
std::size_t item_size(const Item& item) {
  std::size_t n = 0;
  if (!item.key.empty()) n += 1 + varint_size(item.key.size()) + item.key.size();
  if (!item.deleted) n += 1 + varint_size(item.value.size()) + item.value.size();
  n += 1 + varint_size(static_cast<std::uint64_t>(item.timestamp));  // timestamp
  n += 2;                                                            // commited
  n += 2 + Id::kBytes;                                               // keyHash
  if (item.deleted) n += 2;                                          // deleted
  if (!item.deleted && item.expires_ms != 0) {
    n += 1 + varint_size(static_cast<std::uint64_t>(item.expires_ms));  // expiresAt
  }
  return n;
}

}  // namespace

void append_items(const std::vector<Item>& items, std::size_t from, std::size_t to, int field,
                  std::string* out) {
  const auto outer = static_cast<std::uint64_t>((field << 3) | kBytes);
  std::size_t total = out->size();
  for (std::size_t i = from; i < to; ++i) {
    const std::size_t n = item_size(items[i]);
    total += varint_size(outer) + varint_size(n) + n;
  }
  out->reserve(total);
  for (std::size_t i = from; i < to; ++i) {
    const Item& item = items[i];
    put_varint(outer, out);
    put_varint(item_size(item), out);
    // Field numbers of pb::PBDTableItem (dtable.proto).
    if (!item.key.empty()) {
      out->push_back(tag(1, kBytes));
      put_varint(item.key.size(), out);
      out->append(item.key);
    }
    if (!item.deleted) {
      out->push_back(tag(2, kBytes));
      put_varint(item.value.size(), out);
      out->append(item.value);
    }
    out->push_back(tag(3, kVarint));
    put_varint(static_cast<std::uint64_t>(item.timestamp), out);
    out->push_back(tag(4, kVarint));
    out->push_back(1);
    out->push_back(tag(5, kBytes));
    put_varint(Id::kBytes, out);
    out->append(reinterpret_cast<const char*>(item.hash.bytes().data()), Id::kBytes);
    if (item.deleted) {
      out->push_back(tag(9, kVarint));
      out->push_back(1);
    }
    if (!item.deleted && item.expires_ms != 0) {
      out->push_back(tag(12, kVarint));
      put_varint(static_cast<std::uint64_t>(item.expires_ms), out);
    }
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
Result<Item> make_item(const pb::PBDTableItem& pb, TakeKey take_key, TakeValue take_value) {
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
  if (!item.deleted) {
    take_value(item);
    if (pb.expiresat() < 0) return Status::InvalidArgument("expiresAt must not be negative");
    item.expires_ms = pb.expiresat();
  }
  return item;
}

}  // namespace

Result<Item> item_from_pb(const pb::PBDTableItem& pb) {
  return make_item(
      pb, [&](Item& item) { item.key = pb.key(); }, [&](Item& item) { item.value = pb.val(); });
}

Result<Item> item_from_pb(pb::PBDTableItem&& pb) {
  return make_item(
      pb, [&](Item& item) { item.key = std::move(*pb.mutable_key()); },
      [&](Item& item) { item.value = std::move(*pb.mutable_val()); });
}

Message ok_response() {
  pb::PBDTableResponse r;
  r.set_ok(true);
  return pack(msg::kResponse, r);
}

Message fail_response(int code, std::string_view error) {
  pb::PBDTableResponse r;
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
