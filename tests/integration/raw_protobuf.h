// Hand encoding of the few protobuf fields the dtable tests send raw. The
// tests do not link the plugin's generated protobuf code: it would clash with
// the loaded plugin's copy.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chord.pb.h"
#include "dendrite/dtable/messages.h"
#include "dendrite/message.h"
#include "dendrite/status.h"
#include "dendrite/vnode.h"

namespace dendrite::test::raw_pb {

// Appends `v` as a base-128 varint.
inline void varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// Appends field `field` as length-delimited `bytes`.
inline void field_bytes(std::string& out, int field, const std::string& bytes) {
  varint(out, static_cast<std::uint64_t>(field) << 3 | 2);
  varint(out, bytes.size());
  out += bytes;
}

// Appends field `field` as the varint `v`.
inline void field_varint(std::string& out, int field, std::uint64_t v) {
  varint(out, static_cast<std::uint64_t>(field) << 3);
  varint(out, v);
}

// `v` as a serialized PBProtoVnode.
inline std::string vnode_bytes(const Vnode& v) {
  PBProtoVnode pb;
  pb.set_id(v.id.raw());
  pb.set_host(v.host);
  return pb.SerializeAsString();
}

// One field read back: its number, and its value (varint) or bytes
// (length-delimited).
struct Field {
  int number = 0;
  std::uint64_t value = 0;
  std::string bytes;
};

// The varint and length-delimited fields of `message`, in order; nullopt when
// it is malformed or has a field of another wire type.
inline std::optional<std::vector<Field>> read_fields(std::string_view message) {
  std::size_t pos = 0;
  auto read_varint = [&](std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64 && pos < message.size(); shift += 7) {
      const auto byte = static_cast<unsigned char>(message[pos++]);
      v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if (byte < 0x80) return true;
    }
    return false;
  };
  std::vector<Field> out;
  while (pos < message.size()) {
    std::uint64_t tag = 0;
    if (!read_varint(tag)) return std::nullopt;
    Field f;
    f.number = static_cast<int>(tag >> 3);
    if ((tag & 7) == 0) {
      if (!read_varint(f.value)) return std::nullopt;
    } else if ((tag & 7) == 2) {
      std::uint64_t n = 0;
      if (!read_varint(n) || n > message.size() - pos) return std::nullopt;
      f.bytes = std::string(message.substr(pos, n));
      pos += n;
    } else {
      return std::nullopt;
    }
    out.push_back(std::move(f));
  }
  return out;
}

// SetItem(dest, {key, val, keyHash}, minAcks): a client write to its primary.
inline Message dtable_set_item(const Vnode& dest, const std::string& key, const std::string& value,
                               int min_acks) {
  std::string item;
  field_bytes(item, 1, key);
  field_bytes(item, 2, value);
  field_bytes(item, 5, Id::hash(key).raw());
  std::string m;
  field_bytes(m, 1, vnode_bytes(dest));
  field_bytes(m, 2, item);
  field_varint(m, 5, static_cast<std::uint64_t>(min_acks));
  return Message{dtable::msg::kSetItem, m};
}

// Response{ok: true, copies: 1}: what a replica answers a write it took.
inline Message dtable_replica_ok() {
  std::string m;
  field_varint(m, 1, 1);
  field_varint(m, 5, 1);
  return Message{dtable::msg::kResponse, m};
}

// Whether `reply` is a Response with ok set (field 1, serialized first).
inline bool dtable_response_ok(const Result<Message>& reply) {
  if (!reply.ok() || reply->type != dtable::msg::kResponse) return false;
  const std::string& p = reply->payload;
  return p.size() >= 2 && p[0] == 0x08 && p[1] == 0x01;
}

}  // namespace dendrite::test::raw_pb
