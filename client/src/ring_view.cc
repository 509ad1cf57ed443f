#include "dendrite/client/ring_view.h"

#include <algorithm>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "chord.pb.h"
#include "dendrite/address.h"
#include "dendrite/vnode_json.h"
#include "dendrite/vnode_pb.h"

namespace dendrite::client {
namespace {

using nlohmann::json;

// How many successors of each vnode an original is asked for (its default
// successor list length).
constexpr int kOriginalSuccessors = 8;

// The vnodes in a ListVnodesResp reply, or why there are none.
Result<std::vector<Vnode>> vnode_list(const Result<Message>& reply) {
  if (!reply.ok()) return reply.status();
  if (Status err = error_of(*reply); !err.ok()) return err;
  auto list = unpack<PBProtoListVnodesResp>(*reply, msg::kListVnodesResp);
  if (!list.ok()) return list.status();
  std::vector<Vnode> out;
  for (const auto& v : list->vnodes()) {
    auto vnode = from_pb(v);
    if (!vnode) return Status::Internal("malformed vnode in a ListVnodesResp");
    out.push_back(*vnode);
  }
  return out;
}

}  // namespace

Result<std::vector<VnodeStatus>> fetch_original_vnodes(Connection& conn, Milliseconds timeout) {
  auto vnodes = vnode_list(conn.request(pack(msg::kListVnodes, PBProtoListVnodes()), timeout));
  if (!vnodes.ok()) return vnodes.status();
  std::vector<VnodeStatus> out;
  for (const Vnode& v : *vnodes) {
    // The successors of the key right after v are v's own successor list
    // (the key lies in (v, first successor]), which every node answers.
    PBProtoFindSuccessors req;
    req.set_key(v.id.plus_pow2(0).raw());
    to_pb(v, req.mutable_dest());
    req.set_limit(kOriginalSuccessors);
    auto succs = vnode_list(conn.request(pack(msg::kFindSuccessors, req), timeout));
    out.push_back(VnodeStatus{v, succs.ok() ? *succs : std::vector<Vnode>{}});
  }
  return out;
}

Result<json> fetch_status(Connection& conn, Milliseconds timeout) {
  auto reply = conn.request(pack(msg::kHostStatus, PBHostStatusRequest()), timeout);
  if (!reply.ok()) return reply.status();
  if (Status err = error_of(*reply); !err.ok()) return err;
  auto decoded = unpack<PBHostStatusReply>(*reply, msg::kHostStatusReply);
  if (!decoded.ok()) {
    return Status::Internal("bad status reply from " + conn.node() + ": " +
                            decoded.status().message());
  }
  json doc = json::parse(decoded->json(), nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) {
    return Status::Internal("bad status reply from " + conn.node() + ": not a JSON object");
  }
  return doc;
}

Result<json> fetch_status(const std::string& node, Milliseconds timeout,
                          std::shared_ptr<const Credentials> credentials) {
  auto conn = Connection::open(node, std::move(credentials));
  if (!conn.ok()) return conn.status();
  return fetch_status(**conn, timeout);
}

Result<std::vector<VnodeStatus>> parse_vnodes(const json& status) {
  auto vnodes = status.find("vnodes");
  if (vnodes == status.end() || !vnodes->is_array()) {
    return Status::Internal("status document has no 'vnodes' list");
  }
  std::vector<VnodeStatus> out;
  for (const json& v : *vnodes) {
    auto self = vnode_from_json(v);
    auto succ = v.find("successors");
    if (!self || succ == v.end() || !succ->is_array()) {
      return Status::Internal("status document has a malformed vnode: " + v.dump());
    }
    VnodeStatus vs{*self, {}};
    for (const json& s : *succ) {
      auto ref = vnode_from_json(s);
      if (!ref) return Status::Internal("status document has a malformed successor: " + s.dump());
      vs.successors.push_back(*ref);
    }
    out.push_back(std::move(vs));
  }
  return out;
}

Result<std::vector<MemberStatus>> parse_members(const json& status) {
  std::vector<MemberStatus> out;
  auto members = status.find("members");
  if (members == status.end()) return out;
  if (!members->is_array()) return Status::Internal("status document has a malformed 'members'");
  for (const json& m : *members) {
    auto host = m.find("host");
    auto state = m.find("state");
    if (!m.is_object() || host == m.end() || state == m.end() || !host->is_string() ||
        !state->is_string()) {
      return Status::Internal("status document has a malformed member: " + m.dump());
    }
    out.push_back(MemberStatus{host->get<std::string>(), state->get<std::string>()});
  }
  return out;
}

Status forget_host(const std::string& node, const std::string& host, Milliseconds timeout,
                   std::shared_ptr<const Credentials> credentials) {
  if (Status s = check_peer_address(host); !s.ok()) return s;
  auto conn = Connection::open(node, std::move(credentials));
  if (!conn.ok()) return conn.status();
  PBForgetHostRequest req;
  req.set_host(host);
  auto reply = (*conn)->request(pack(msg::kForgetHost, req), timeout);
  if (!reply.ok()) return reply.status();
  if (Status err = error_of(*reply); !err.ok()) {
    if (err.message().find("is not a remembered host") != std::string::npos) {
      return Status::NotFound(err.message());
    }
    return err;
  }
  return Status::Ok();
}

Result<std::vector<Vnode>> walk_ring(const std::string& node, Milliseconds timeout,
                                     std::size_t max_steps,
                                     std::shared_ptr<const Credentials> credentials) {
  // Successor lists of every vnode seen, by id, from one status per host.
  std::unordered_map<Id, std::vector<Vnode>> successors;
  std::set<std::string> hosts_seen;
  std::set<std::string> hosts_dead;

  auto load = [&](const std::string& host) -> Result<std::vector<VnodeStatus>> {
    hosts_seen.insert(host);
    auto conn = Connection::open(host, credentials);
    if (!conn.ok()) return conn.status();
    auto doc = fetch_status(**conn, timeout);
    Result<std::vector<VnodeStatus>> vnodes = doc.status();
    if (doc.ok()) {
      vnodes = parse_vnodes(*doc);
    } else if (doc.status().code() == StatusCode::kRemoteError) {
      // An original node answers HostStatus with Err: ask it in its own terms.
      vnodes = fetch_original_vnodes(**conn, timeout);
    }
    if (!vnodes.ok()) return vnodes.status();
    for (const VnodeStatus& v : *vnodes) successors[v.self.id] = v.successors;
    return vnodes;
  };

  auto first = load(node);
  if (!first.ok()) return first.status();
  if (first->empty()) return Status::Internal(node + " reports no vnodes");

  const Vnode start = first->front().self;
  std::vector<Vnode> ring{start};
  std::unordered_set<Id> visited{start.id};
  Vnode current = start;
  for (std::size_t step = 0; step < max_steps; ++step) {
    const std::vector<Vnode> candidates = successors[current.id];  // copy: load() may write
    if (candidates.empty()) {
      return Status::FailedPrecondition("vnode " + current.to_string() + " has no successor");
    }
    std::optional<Vnode> next;
    for (const Vnode& cand : candidates) {
      if (cand.id == start.id) {
        // Back at the start: report from the smallest id on.
        std::rotate(ring.begin(),
                    std::min_element(ring.begin(), ring.end(),
                                     [](const Vnode& a, const Vnode& b) { return a.id < b.id; }),
                    ring.end());
        return ring;
      }
      if (!successors.contains(cand.id)) {
        if (hosts_dead.contains(cand.host) || hosts_seen.contains(cand.host)) continue;
        auto loaded = load(cand.host);
        if (!loaded.ok()) {
          const StatusCode code = loaded.status().code();
          if (code != StatusCode::kTimeout && code != StatusCode::kUnavailable) {
            return loaded.status();
          }
          hosts_dead.insert(cand.host);
          continue;
        }
        if (!successors.contains(cand.id)) continue;  // stale pointer: that host moved on
      }
      next = cand;
      break;
    }
    if (!next) {
      return Status::Unavailable("no successor of vnode " + current.to_string() + " answers");
    }
    if (!visited.insert(next->id).second) {
      return Status::FailedPrecondition("successors loop back to " + next->to_string() +
                                        " without reaching the start " + start.to_string() +
                                        " (ring not settled)");
    }
    ring.push_back(*next);
    current = *next;
  }
  return Status::FailedPrecondition("ring walk did not return to the start within " +
                                    std::to_string(max_steps) + " steps");
}

}  // namespace dendrite::client
