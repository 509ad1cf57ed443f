// Who may talk to this node, and with which keys it talks to others: the
// `security` section of the config (docs/security.md) loaded into keys.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dendrite/status.h"
#include "dendrite/wire/curve_keys.h"

namespace dendrite::host {

// The `security.curve` section as written: file paths and allow-list entries
// (keys, "KEY host:port" lines or files of them). Value type.
struct CurveConfig {
  std::string secret_key_file;
  std::string public_key_file;
  std::vector<std::string> nodes;
  std::vector<std::string> clients;
};

// The `security` section as written. Value type.
struct SecurityConfig {
  std::optional<CurveConfig> curve;  // nullopt: plaintext, anyone may connect
  bool insecure = false;             // the operator means an open ring beyond loopback
};

// What a connection's key lets it do.
enum class PeerRole {
  kNone,    // not let in
  kNode,    // a ring member: every message type
  kClient,  // only the types the host and plugins mark as client-facing
};

// The ZAP user id libzmq attaches to every message of a connection let in as
// `role` ("node", "client"; "" for kNone), and back.
std::string_view role_user_id(PeerRole role);
PeerRole role_of_user_id(std::string_view user_id);

// The loaded CURVE keys of one node. Immutable after load(): any thread may
// read it.
class AccessPolicy {
 public:
  // Reads the key files and allow-lists of `curve`. Errors (InvalidArgument)
  // name the field and the file: an unreadable or world-readable secret key,
  // a public key file that is not the secret's, an empty `nodes` list.
  static Result<std::shared_ptr<const AccessPolicy>> load(const CurveConfig& curve);

  // This node's key pair (Z85): its server key and its client key.
  const wire::CurveKeyPair& own_keys() const { return identity_.own; }
  // Its pair and the ring's node keys, as its connections use them.
  const wire::CurveIdentity& identity() const { return identity_; }

  // The role of a peer whose CURVE public key is `public_key` (Z85). A key in
  // both lists is a node's.
  PeerRole role_of(std::string_view public_key) const;

  // The server keys listed for the node at `address` ("host:port"), in the
  // order listed (two during a key roll); empty when none is.
  std::vector<std::string> server_keys_for(std::string_view address) const {
    return identity_.server_keys_for(address);
  }

 private:
  wire::CurveIdentity identity_;
  std::vector<std::string> clients_;
};

}  // namespace dendrite::host
