// Shared by the dendrite-cli commands: the global options, the exit codes of
// docs/contract.md and the one-line error report.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dendrite/client/credentials.h"
#include "dendrite/host.h"
#include "dendrite/status.h"

namespace dendrite::cli {

// Exit codes (docs/contract.md "Exit codes").
inline constexpr int kExitOk = 0;
inline constexpr int kExitNotFound = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitUnreachable = 3;
inline constexpr int kExitConsistency = 4;

// The options before the command.
struct Options {
  std::string node = "127.0.0.1:5000";
  int timeout_ms = 5000;
  Milliseconds timeout() const { return Milliseconds(timeout_ms); }
  // --curve-secret-key and --curve-node as given (else the environment's).
  std::string curve_secret_key_file;
  std::vector<std::string> curve_nodes;
  // Loaded from them after parsing; nullptr = plaintext.
  std::shared_ptr<const client::Credentials> credentials;
};

// The exit code for a failed command. Anything the node could not answer
// usefully (no reply, Err reply, garbled reply) counts as unreachable.
int exit_code(const Status& s);

// Prints "dendrite-cli: <command>: <status>" on stderr; returns exit_code(s).
int fail(const std::string& command, const Status& s);

// Prints "dendrite-cli: <command>: <message>" on stderr; returns kExitUsage.
int usage_error(const std::string& command, const std::string& message);

}  // namespace dendrite::cli
