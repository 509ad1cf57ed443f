// The two-host ring (A, B) of the ring fuzz target, shared with the seed
// generator so that seeds address the vnodes the target hosts.
#pragma once

#include <memory>
#include <string>

#include "host/ring.h"
#include "records.h"
#include "support/mem_network.h"

namespace dendrite::fuzz {

inline std::unique_ptr<host::Ring> make_fuzz_ring(test::MemNetwork& net,
                                                  const std::string& address) {
  host::RingConfig c;
  c.address = address;
  c.vnodes = kRingVnodes;
  c.num_successors = 4;
  c.replicas = 2;
  c.timeout = Milliseconds(100);
  c.seed = 1;
  return std::make_unique<host::Ring>(c, net.endpoint(address), [](const RingEvent&) {});
}

}  // namespace dendrite::fuzz
