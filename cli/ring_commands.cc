#include "ring_commands.h"

#include <iostream>

#include <nlohmann/json.hpp>

#include "dendrite/client/ring_view.h"

namespace dendrite::cli {
namespace {

void print_json(const nlohmann::json& doc) {
  std::cout << doc.dump(2) << "\n" << std::flush;
}

}  // namespace

int run_status(const Options& opt) {
  auto doc = dendrite::client::fetch_status(opt.node, opt.timeout());
  if (!doc.ok()) return fail("status", doc.status());
  print_json(*doc);
  return kExitOk;
}

int run_ring(const Options& opt) {
  auto ring = dendrite::client::walk_ring(opt.node, opt.timeout());
  if (!ring.ok()) return fail("ring", ring.status());
  nlohmann::json list = nlohmann::json::array();
  for (const auto& v : *ring) list.push_back(dendrite::client::vnode_json(v));
  print_json(list);
  return kExitOk;
}

}  // namespace dendrite::cli
