// dendrite-cli status and ring: read-only views of the node and the ring.
#pragma once

#include "cli.h"

namespace dendrite::cli {

// Prints the node's status document (JSON, 2-space indent).
int run_status(const Options& opt);
// Walks the ring; prints its vnodes as a JSON list of {id, host}. Then checks
// the node's remembered hosts: down ones are named on stderr (exit 0); one that
// answers but is not in the walked ring means the node's view is not one
// settled ring (stderr, exit 3).
int run_ring(const Options& opt);
// Makes the node forget a remembered host for good (exit 1 when it does not
// remember it).
int run_forget(const Options& opt, const std::string& host);

}  // namespace dendrite::cli
