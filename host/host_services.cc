#include "host/host_services.h"

namespace dendrite::host {

std::optional<Vnode> HostServices::predecessor(const Id& vnode) const {
  auto index = ring_.index_of(vnode);
  if (!index) return std::nullopt;
  return ring_.state(*index).predecessor;
}

std::vector<Vnode> HostServices::successors(const Id& vnode) const {
  auto index = ring_.index_of(vnode);
  if (!index) return {};
  return ring_.state(*index).successors;
}

std::vector<Vnode> HostServices::fingers(const Id& vnode) const {
  auto index = ring_.index_of(vnode);
  if (!index) return {};
  return ring_.state(*index).fingers;
}

std::vector<Vnode> HostServices::remote_successors(const Id& vnode) const {
  auto index = ring_.index_of(vnode);
  if (!index) return {};
  return ring_.state(*index).remote_successors;
}

}  // namespace dendrite::host
