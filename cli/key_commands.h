// dendrite-cli keygen: makes a CURVE key pair for a node or a client. Local
// only: it talks to no node.
#pragma once

#include <string>

#include "cli.h"

namespace dendrite::cli {

// Writes a new key pair into `dir` (created when missing) as secret.key (mode
// 0600) and public.key, and prints the public key on stdout. Refuses (exit 2,
// nothing written) when either file exists.
int run_keygen(const std::string& dir);

}  // namespace dendrite::cli
