// How a client proves itself to a ring that runs CURVE (docs/security.md):
// its own key pair, and the server key of every node it may talk to.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dendrite/status.h"

namespace dendrite::client {

// Environment variables from_environment() reads.
inline constexpr const char* kSecretKeyFileEnv = "DENDRITE_CURVE_SECRET_KEY_FILE";
inline constexpr const char* kNodeKeysEnv = "DENDRITE_CURVE_NODES";

// Immutable once loaded: any thread may use it; connections share it.
class Credentials {
 public:
  // `secret_key_file`: the client's secret key (a file others may not read;
  // its public key is derived from it). `nodes`: entries as in a node's
  // security.curve.nodes: "KEY host:port" lines, or files of them. Errors
  // (InvalidArgument) name the file or the entry.
  static Result<std::shared_ptr<const Credentials>> load(const std::string& secret_key_file,
                                                         const std::vector<std::string>& nodes);

  // The credentials the environment names: kSecretKeyFileEnv and kNodeKeysEnv
  // (entries separated by commas). nullptr, and no error, when neither is
  // set; InvalidArgument when only one is, or as load().
  static Result<std::shared_ptr<const Credentials>> from_environment();

  // What a command line asks for: load() when either of `secret_key_file`
  // and `nodes` is given (InvalidArgument naming --curve-secret-key and
  // --curve-node when only one is), else from_environment().
  static Result<std::shared_ptr<const Credentials>> from_flags_or_environment(
      const std::string& secret_key_file, const std::vector<std::string>& nodes);

  // The client's public key (Z85): the key the nodes' `clients` list holds.
  const std::string& public_key() const;

  struct Impl;
  explicit Credentials(std::unique_ptr<Impl> impl);
  ~Credentials();
  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace dendrite::client
