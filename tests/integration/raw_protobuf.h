// Hand encoding of the few protobuf fields the dtable tests send raw. The
// tests do not link the plugin's generated protobuf code: it would clash with
// the loaded plugin's copy.
#pragma once

#include <cstdint>
#include <string>

#include "chord.pb.h"
#include "dendrite/vnode.h"

namespace dendrite::testing::raw_pb {

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

}  // namespace dendrite::testing::raw_pb
