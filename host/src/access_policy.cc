#include "host/access_policy.h"

#include <algorithm>

namespace dendrite::host {

std::string_view role_user_id(PeerRole role) {
  switch (role) {
    case PeerRole::kNode:
      return "node";
    case PeerRole::kClient:
      return "client";
    case PeerRole::kNone:
      break;
  }
  return "";
}

PeerRole role_of_user_id(std::string_view user_id) {
  if (user_id == "node") return PeerRole::kNode;
  if (user_id == "client") return PeerRole::kClient;
  return PeerRole::kNone;
}

Result<std::shared_ptr<const AccessPolicy>> AccessPolicy::load(const CurveConfig& curve) {
  auto field = [](const std::string& name, const Status& s) {
    return Status::InvalidArgument("config: 'security.curve." + name + "': " + s.message());
  };
  auto policy = std::make_shared<AccessPolicy>();
  if (curve.public_key_file.empty()) {
    return field("public_key_file", Status::InvalidArgument("is required"));
  }
  auto own = wire::read_curve_key_pair(curve.secret_key_file, curve.public_key_file);
  if (!own.ok()) return field("secret_key_file", own.status());
  policy->identity_.own = std::move(own).value();
  auto nodes = wire::read_node_key_list(curve.nodes);
  if (!nodes.ok()) return field("nodes", nodes.status());
  if (nodes->empty()) {
    return field("nodes", Status::InvalidArgument(
                              "lists no key: a node needs the keys of the ring's nodes (its own "
                              "among them, with its address)"));
  }
  policy->identity_.nodes = std::move(nodes).value();
  auto clients = wire::read_key_list(curve.clients);
  if (!clients.ok()) return field("clients", clients.status());
  policy->clients_ = std::move(clients).value();
  return std::shared_ptr<const AccessPolicy>(std::move(policy));
}

PeerRole AccessPolicy::role_of(std::string_view public_key) const {
  for (const wire::ListedKey& k : identity_.nodes) {
    if (k.key == public_key) return PeerRole::kNode;
  }
  if (std::find(clients_.begin(), clients_.end(), public_key) != clients_.end()) {
    return PeerRole::kClient;
  }
  return PeerRole::kNone;
}

}  // namespace dendrite::host
