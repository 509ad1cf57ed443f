// Views of a ring from outside it: a node's status document, the whole ring
// found by walking successors, and the remembered hosts (dendrite-cli status /
// ring / forget).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dendrite/client/connection.h"
#include "dendrite/host.h"
#include "dendrite/status.h"
#include "dendrite/vnode.h"

namespace dendrite::client {

// Fetches the host status document of the node behind `conn` (message
// kHostStatus; shape in docs/cli.md). Errors: those of Connection::request(),
// RemoteError for an Err reply, Internal for a reply that is not a status
// document.
Result<nlohmann::json> fetch_status(Connection& conn, Milliseconds timeout);

// Same, over a connection opened for this one call. Errors as above, plus
// InvalidArgument for a malformed address.
// `credentials`: the client's CURVE keys for a ring that runs CURVE.
Result<nlohmann::json> fetch_status(const std::string& node, Milliseconds timeout,
                                    std::shared_ptr<const Credentials> credentials = nullptr);

// The vnodes of one status document, each with its successor list.
// Errors: Internal when the document lacks a well-formed "vnodes" list.
struct VnodeStatus {
  Vnode self;
  std::vector<Vnode> successors;
};
Result<std::vector<VnodeStatus>> parse_vnodes(const nlohmann::json& status);

// The vnodes of the node behind `conn` and their successor lists asked with
// the original's own messages (ListVnodes, then FindSuccessors for the key
// after each vnode), for a node of the original Go implementation, which has
// no HostStatus. A vnode whose list could not be read has none. Errors: those
// of Connection::request() and RemoteError for the ListVnodes.
Result<std::vector<VnodeStatus>> fetch_original_vnodes(Connection& conn, Milliseconds timeout);

// Walks the ring from `node`: starting at its first vnode, follows each
// vnode's first successor (the next ones when a host does not answer),
// fetching the status of every host not seen yet (with the original's own
// messages from a host that has no status: fetch_original_vnodes), until it is back at the
// start. Each request waits at most `timeout`; at most `max_steps` vnodes are
// visited. Returns every vnode once, in ring order, starting with the smallest
// id (so walks from different nodes of a stable ring are equal).
// Errors: those of fetch_status() for `node` itself; Unavailable when no
// successor of some vnode answers; FailedPrecondition when the successor
// pointers do not lead back to the start (an unsettled ring).
Result<std::vector<Vnode>> walk_ring(const std::string& node, Milliseconds timeout,
                                     std::size_t max_steps = 100000,
                                     std::shared_ptr<const Credentials> credentials = nullptr);

// A host the node remembers (status document "members").
struct MemberStatus {
  std::string host;
  std::string state;  // "up", "suspect", "down" or "left"
};
// The "members" list of a status document (empty when it has none).
// Errors: Internal for a malformed list.
Result<std::vector<MemberStatus>> parse_members(const nlohmann::json& status);

// Asks `node` to forget the remembered host `host` for good (kForgetHost).
// Errors: NotFound when the node does not remember it; InvalidArgument for a
// malformed address; those of Connection::request().
// Only a node's key may ask it on a ring that runs CURVE.
Status forget_host(const std::string& node, const std::string& host, Milliseconds timeout,
                   std::shared_ptr<const Credentials> credentials = nullptr);

}  // namespace dendrite::client
