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
// `credentials`: a client's keys, for a node that runs CURVE.
inline bool serving(const std::string& address, Milliseconds timeout,
                    std::shared_ptr<const client::Credentials> credentials = nullptr) {
  auto doc = client::fetch_status(address, timeout, std::move(credentials));
  if (!doc.ok()) return false;
  auto state = doc->find("state");
  return state != doc->end() && state->is_string() && state->get<std::string>() == "serving";
}

}  // namespace dendrite::test
