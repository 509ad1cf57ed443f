// dendrite-cli status and ring: read-only views of the node and the ring.
#pragma once

#include "cli.h"

namespace dendrite::cli {

// Prints the node's status document (JSON, 2-space indent).
int run_status(const Options& opt);
// Walks the ring; prints its vnodes as a JSON list of {id, host}.
int run_ring(const Options& opt);

}  // namespace dendrite::cli
