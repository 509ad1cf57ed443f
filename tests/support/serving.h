// Whether a node just started takes plugin requests yet. Header-only; the
// includer links dendrite::client.
#pragma once

#include <string>

#include "dendrite/client/ring_view.h"
#include "dendrite/status.h"

namespace dendrite::test {

// True when the node at `address` answers its status with "state": "serving"
// (every plugin started). Before that its port already answers ring and
// status requests, but a plugin's message types get "unknown message type".
inline bool serving(const std::string& address, Milliseconds timeout) {
  auto doc = client::fetch_status(address, timeout);
  if (!doc.ok()) return false;
  auto state = doc->find("state");
  return state != doc->end() && state->is_string() && state->get<std::string>() == "serving";
}

}  // namespace dendrite::test
