#include "host/host_services.h"

namespace dendrite::host {

std::optional<Vnode> HostServices::predecessor(const Id& vnode) const {
  auto index = ring_.index_of(vnode);
  if (!index) return std::nullopt;
  return ring_.predecessor(*index);
}

std::vector<Vnode> HostServices::successors(const Id& vnode) const {
  auto index = ring_.index_of(vnode);
  if (!index) return {};
  return ring_.successors(*index);
}

std::vector<Vnode> HostServices::fingers(const Id& vnode) const {
  auto index = ring_.index_of(vnode);
  if (!index) return {};
  return ring_.fingers(*index);
}

std::vector<Vnode> HostServices::remote_successors(const Id& vnode) const {
  auto index = ring_.index_of(vnode);
  if (!index) return {};
  return ring_.remote_successors(*index);
}

}  // namespace dendrite::host
