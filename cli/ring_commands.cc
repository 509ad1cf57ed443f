#include "ring_commands.h"

#include <iostream>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "dendrite/client/ring_view.h"
#include "dendrite/vnode_json.h"

namespace dendrite::cli {
namespace {

void print_json(const nlohmann::json& doc) {
  std::cout << doc.dump(2) << "\n" << std::flush;
}

}  // namespace

int run_status(const Options& opt) {
  auto doc = dendrite::client::fetch_status(opt.node, opt.timeout(), opt.credentials);
  if (!doc.ok()) return fail("status", doc.status());
  print_json(*doc);
  return kExitOk;
}

int run_ring(const Options& opt) {
  auto ring = dendrite::client::walk_ring(opt.node, opt.timeout(), 100000, opt.credentials);
  if (!ring.ok()) return fail("ring", ring.status());
  nlohmann::json list = nlohmann::json::array();
  for (const auto& v : *ring) list.push_back(dendrite::vnode_to_json(v));
  print_json(list);

  auto doc = dendrite::client::fetch_status(opt.node, opt.timeout(), opt.credentials);
  if (!doc.ok()) return fail("ring", doc.status());
  auto members = dendrite::client::parse_members(*doc);
  if (!members.ok()) return fail("ring", members.status());
  std::set<std::string> in_ring;
  for (const auto& v : *ring) in_ring.insert(v.host);
  std::string down, outside;
  for (const auto& m : *members) {
    if (m.state == "down" || m.state == "suspect") down += (down.empty() ? "" : ", ") + m.host;
    if (m.state == "up" && !in_ring.contains(m.host)) {
      outside += (outside.empty() ? "" : ", ") + m.host;
    }
  }
  if (!down.empty()) {
    std::cerr << "dendrite-cli: ring: remembered hosts down (not answering): " << down << "\n";
  }
  if (!outside.empty()) {
    return fail("ring", Status::FailedPrecondition(
                            "not one settled ring: " + outside +
                            " answered the node's probes but are not in this ring (a merge may "
                            "be under way)"));
  }
  return kExitOk;
}

int run_forget(const Options& opt, const std::string& host) {
  if (Status s = dendrite::client::forget_host(opt.node, host, opt.timeout(), opt.credentials);
      !s.ok()) {
    return fail("forget", s);
  }
  return kExitOk;
}

}  // namespace dendrite::cli
