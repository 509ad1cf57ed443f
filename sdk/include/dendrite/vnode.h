// A virtual node: a position on the ring served by one host.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "dendrite/id.h"

namespace dendrite {

// One vnode: its ring id and the advertised "ip:port" of the host serving it.
// Value type.
struct Vnode {
  Id id;
  std::string host;

  friend bool operator==(const Vnode&, const Vnode&) = default;
  // "<first 8 hex digits>@host", for logs.
  std::string to_string() const { return id.short_hex() + "@" + host; }
};

// A host the node remembers as a member of its ring (see Host::members()):
// its address, whether it answers now, and its vnodes. Value type.
struct Member {
  std::string host;
  bool reachable = true;
  std::vector<Vnode> vnodes;
};

}  // namespace dendrite

template <>
struct std::hash<dendrite::Id> {
  std::size_t operator()(const dendrite::Id& id) const noexcept {
    std::size_t h = 0;
    for (int i = 0; i < 8; ++i) h = (h << 8) | id.bytes()[i];
    return h;
  }
};
