// CURVE key pairs as nodes, clients and dendrite-cli keep them: ZeroMQ's Z85
// text (40 characters for a 32-byte key) in small files, one key per file for
// a node's or a client's own pair, and allow-lists of public keys. Nothing
// here opens a socket; every function may be called from any thread.
//
// A key file holds one key line; blank lines and lines starting with '#'
// (that are not themselves a key: '#' is a Z85 character) are ignored. A
// secret key file must not be readable or writable by others.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "dendrite/status.h"

namespace dendrite::wire {

// Characters of a CURVE key in Z85.
inline constexpr std::size_t kZ85KeyChars = 40;

// Names of the files write_curve_key_pair() writes into its directory.
inline constexpr const char* kSecretKeyFileName = "secret.key";
inline constexpr const char* kPublicKeyFileName = "public.key";

// A CURVE key pair, both in Z85.
struct CurveKeyPair {
  std::string public_key;
  std::string secret_key;
};

// True when the linked libzmq supports CURVE (it was built with libsodium).
bool curve_available();

// A new random key pair. Unavailable when libzmq lacks CURVE.
Result<CurveKeyPair> generate_curve_key_pair();

// OK when `text` is a CURVE key in Z85; else InvalidArgument saying why.
Status check_z85_key(std::string_view text);

// The public key of the Z85 secret key `secret_key`. InvalidArgument when it
// is no key; Unavailable when libzmq lacks CURVE.
Result<std::string> public_key_of(std::string_view secret_key);

// Writes `pair` into `dir` (created, mode 0700, when missing) as
// kSecretKeyFileName (mode 0600) and kPublicKeyFileName (0644 less the
// umask), each synced to disk. Refuses with AlreadyExists, changing nothing,
// when either file exists; leaves no half-written pair behind on failure.
Status write_curve_key_pair(const std::string& dir, const CurveKeyPair& pair);

// The key held by a public key file (path named in every error).
Result<std::string> read_public_key_file(const std::string& path);

// The key held by a secret key file. Refused (InvalidArgument) when the file
// is not a regular file or others may read or write it (mode & 0007).
Result<std::string> read_secret_key_file(const std::string& path);

// A key of an allow-list, with the node address it serves when the list
// says ("KEY host:port"); `address` is empty otherwise.
struct ListedKey {
  std::string key;
  std::string address;
};

// An allow-list: each entry is either a key or the path of a file holding
// keys (one per line, same rules as a key file, any number). Keys in the
// order first seen, each once. InvalidArgument naming the entry (and the
// file's line) that is neither.
Result<std::vector<std::string>> read_key_list(const std::vector<std::string>& entries);

// A node allow-list: like read_key_list(), but every line (and every entry)
// may name the address whose server key it is: "KEY host:port" (the address
// checked with check_peer_address). A key listed for two addresses counts
// twice; the same key and address once.
Result<std::vector<ListedKey>> read_node_key_list(const std::vector<std::string>& entries);

// The key pair whose secret is in `secret_key_file` (checked as
// read_secret_key_file does). With a `public_key_file`, that file must hold
// the secret's public key (InvalidArgument naming both when it does not);
// without one ("") the public key is derived from the secret.
Result<CurveKeyPair> read_curve_key_pair(const std::string& secret_key_file,
                                         const std::string& public_key_file);

// A node's or a client's CURVE identity: its own pair and the node keys of
// the ring it talks to. Value type.
struct CurveIdentity {
  CurveKeyPair own;
  std::vector<ListedKey> nodes;

  // The server keys listed for the node at `address`, in list order (two
  // during a key roll); empty when none is.
  std::vector<std::string> server_keys_for(std::string_view address) const;
};

}  // namespace dendrite::wire
