#include "faults/cluster.h"

#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "dendrite/wire/curve_keys.h"

#include "dendrite/client/ring_view.h"
#include "dendrite/id.h"
#include "support/serving.h"

namespace dendrite::faults {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string read_tail(const std::string& path, std::size_t bytes) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

}  // namespace

Cluster::Cluster(ClusterOptions options) : options_(std::move(options)) {
  // Nodes run in this directory (their data goes there): their paths must
  // not depend on the working directory.
  options_.dir = std::filesystem::absolute(options_.dir).string();
}

Cluster::~Cluster() {
  nodes_.clear();  // each ChildProcess SIGKILLs and reaps its process
  net_.stop();     // then the namespaces and links go
}

bool Cluster::launch(int i, const std::vector<std::string>& join, std::chrono::milliseconds limit) {
  Node& node = nodes_[i];
  json doc = {
      {"listen", node.address},
      {"join", join},
      {"vnodes", options_.vnodes},
      {"num_successors", options_.num_successors},
      {"replicas", options_.replicas},
      {"stabilize", {{"min_ms", 50}, {"max_ms", 150}}},
      {"timeout_ms", options_.timeout.count()},
      {"workers", {{"min", 2}, {"max", 16}, {"idle_ms", 2000}}},
      {"log", {{"level", "info"}}},
      {"plugins", json::array({{{"name", "dtable"},
                                {"config",
                                 {{"check_interval_ms", options_.check_interval_ms},
                                  {"tombstone_grace_ms", options_.tombstone_grace_ms}}}}})}};
  if (!options_.curve && options_.netns) {
    // Namespaces give the nodes addresses beyond loopback: an open ring
    // there is meant (protected mode would refuse the harness's clients).
    doc["security"] = {{"insecure", true}};
  }
  if (options_.curve) {
    const std::string keys = options_.dir + "/keys/";
    doc["security"] = {{"curve",
                        {{"secret_key_file", keys + node.name + "/secret.key"},
                         {"public_key_file", keys + node.name + "/public.key"},
                         {"nodes", {keys + "nodes.txt"}},
                         {"clients", {keys + "client/public.key"}}}}};
  }
  const std::string base = options_.dir + "/" + node.name;
  std::ofstream(base + ".json") << doc.dump(2);
  std::vector<std::string> argv;
  if (options_.netns) argv = net_.exec_prefix(i);
  if (!options_.faketime_lib.empty()) {
    if (!std::filesystem::exists(base + ".faketime")) std::ofstream(base + ".faketime") << "+0\n";
    // Under ASan the preloaded library comes before ASan's runtime, which ASan
    // refuses unless told that the order is intended.
    const char* asan = std::getenv("ASAN_OPTIONS");
    const std::string asan_options =
        std::string(asan && *asan ? std::string(asan) + ":" : "") + "verify_asan_link_order=0";
    argv.insert(argv.end(),
                {"/usr/bin/env", "LD_PRELOAD=" + options_.faketime_lib,
                 "FAKETIME_TIMESTAMP_FILE=" + base + ".faketime", "FAKETIME_DONT_FAKE_MONOTONIC=1",
                 "FAKETIME_NO_CACHE=1", "ASAN_OPTIONS=" + asan_options});
  }
  argv.insert(argv.end(), {options_.dendrited, "--config", base + ".json"});
  node.child = std::make_unique<test::ChildProcess>(argv, base + ".out", base + ".err",
                                                    test::Output::kAppend);
  node.stopped = false;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!node.child->running()) return false;
    if (test::serving(node.address, 500ms, credentials_)) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

bool Cluster::start(std::string* error) {
  nodes_.clear();
  if (options_.netns && !net_.start(options_.nodes, error)) return false;
  for (int i = 0; i < options_.nodes; ++i) {
    if (options_.netns) {
      nodes_.push_back(Node{"n" + std::to_string(i), net_.node_ip(i) + ":7100", nullptr});
      continue;
    }
    const int port = test::free_port();
    if (port == 0) {
      *error = "no free port on 127.0.0.1";
      return false;
    }
    nodes_.push_back(Node{"n" + std::to_string(i), "127.0.0.1:" + std::to_string(port), nullptr});
  }
  if (options_.curve && !make_keys(error)) return false;
  for (int i = 0; i < size(); ++i) {
    std::vector<std::string> join;
    if (i > 0) join.push_back(nodes_[0].address);
    if (!launch(i, join, 30s)) {
      *error = "node " + nodes_[i].name + " (" + nodes_[i].address + ") did not come up";
      return false;
    }
  }
  return true;
}

bool Cluster::make_keys(std::string* error) {
  const std::string keys = options_.dir + "/keys/";
  std::error_code ec;
  std::filesystem::create_directories(keys, ec);
  if (ec) {
    *error = "cannot create " + keys + ": " + ec.message();
    return false;
  }
  std::string lines;
  for (const Node& node : nodes_) {
    auto pair = wire::generate_curve_key_pair();
    Status s = pair.ok() ? wire::write_curve_key_pair(keys + node.name, *pair) : pair.status();
    if (!s.ok()) {
      *error = "keys of " + node.name + ": " + s.to_string();
      return false;
    }
    lines += pair->public_key + " " + node.address + "\n";
  }
  std::ofstream(keys + "nodes.txt") << lines;
  auto pair = wire::generate_curve_key_pair();
  Status s = pair.ok() ? wire::write_curve_key_pair(keys + "client", *pair) : pair.status();
  if (!s.ok()) {
    *error = "client keys: " + s.to_string();
    return false;
  }
  auto loaded = client::Credentials::load(keys + "client/secret.key", {keys + "nodes.txt"});
  if (!loaded.ok()) {
    *error = "client credentials: " + loaded.status().to_string();
    return false;
  }
  credentials_ = *loaded;
  return true;
}

bool Cluster::up(int i) {
  return nodes_[i].child && nodes_[i].child->running() && !nodes_[i].stopped;
}

std::vector<std::string> Cluster::up_addresses() {
  std::vector<std::string> out;
  for (int i = 0; i < size(); ++i) {
    if (up(i)) out.push_back(nodes_[i].address);
  }
  return out;
}

void Cluster::kill9(int i) {
  if (!nodes_[i].child) return;
  nodes_[i].child->signal(SIGKILL);
  nodes_[i].child->wait_for(10s);
  nodes_[i].stopped = false;
}

void Cluster::pause(int i) {
  if (!nodes_[i].child) return;
  nodes_[i].child->signal(SIGSTOP);
  nodes_[i].stopped = true;
}

void Cluster::resume(int i) {
  if (!nodes_[i].child) return;
  nodes_[i].child->signal(SIGCONT);
  nodes_[i].stopped = false;
}

std::optional<int> Cluster::leave(int i, std::chrono::milliseconds limit) {
  if (!nodes_[i].child) return std::nullopt;
  if (nodes_[i].stopped) resume(i);
  nodes_[i].child->signal(SIGTERM);
  auto code = nodes_[i].child->wait_for(limit);
  if (!code) kill9(i);
  return code;
}

bool Cluster::partition(const std::vector<int>& group) {
  return options_.netns && net_.partition(group);
}

bool Cluster::heal_partition() {
  return options_.netns && net_.heal();
}

bool Cluster::drop(const std::vector<std::pair<int, int>>& pairs) {
  return options_.netns && net_.drop(pairs);
}

bool Cluster::undrop() {
  return options_.netns && net_.undrop();
}

bool Cluster::jump_clock(int i, std::chrono::seconds offset) {
  if (options_.faketime_lib.empty()) return false;
  const std::string path = options_.dir + "/" + nodes_[i].name + ".faketime";
  {
    // Written aside and renamed: the node re-reads the file at every clock
    // reading and must never see it half written.
    std::ofstream out(path + ".new");
    out << (offset.count() >= 0 ? "+" : "") << offset.count() << "\n";
    if (!out) return false;
  }
  std::error_code ec;
  std::filesystem::rename(path + ".new", path, ec);
  return !ec;
}

bool Cluster::restart(int i, std::chrono::milliseconds limit) {
  if (nodes_[i].child && nodes_[i].child->running()) return true;
  std::vector<std::string> join;
  for (int j = 0; j < size(); ++j) {
    if (j != i && up(j)) join.push_back(nodes_[j].address);
  }
  return launch(i, join, limit);
}

std::vector<Vnode> Cluster::expected_ring() {
  std::vector<Vnode> ring;
  for (const std::string& h : up_addresses()) {
    for (int k = 0; k < options_.vnodes; ++k) {
      ring.push_back(Vnode{Id::for_vnode(h, static_cast<std::uint16_t>(k)), h});
    }
  }
  std::sort(ring.begin(), ring.end(), [](const Vnode& x, const Vnode& y) { return x.id < y.id; });
  return ring;
}

bool Cluster::ring_correct(std::string* detail) {
  const std::vector<Vnode> ring = expected_ring();
  const std::size_t n = ring.size();
  if (n == 0) {
    *detail = "no node is up";
    return false;
  }
  const std::size_t want = std::min<std::size_t>(options_.num_successors, n - 1);
  for (const std::string& h : up_addresses()) {
    auto doc = client::fetch_status(h, 1000ms, credentials_);
    if (!doc.ok()) {
      *detail = h + ": status: " + doc.status().to_string();
      return false;
    }
    auto vnodes = client::parse_vnodes(*doc);
    if (!vnodes.ok() || vnodes->size() != static_cast<std::size_t>(options_.vnodes)) {
      *detail = h + ": malformed status";
      return false;
    }
    for (std::size_t k = 0; k < vnodes->size(); ++k) {
      const Vnode& self = (*vnodes)[k].self;
      const auto pos =
          static_cast<std::size_t>(std::find(ring.begin(), ring.end(), self) - ring.begin());
      if (pos == n) {
        *detail = h + ": unexpected vnode " + self.to_string();
        return false;
      }
      const auto& succ = (*vnodes)[k].successors;
      if (succ.size() != want) {
        *detail = self.to_string() + ": " + std::to_string(succ.size()) + " successors, want " +
                  std::to_string(want);
        return false;
      }
      for (std::size_t j = 0; j < want; ++j) {
        if (succ[j] != ring[(pos + 1 + j) % n]) {
          *detail = self.to_string() + ": successor " + std::to_string(j) + " is " +
                    succ[j].to_string() + ", want " + ring[(pos + 1 + j) % n].to_string();
          return false;
        }
      }
      const json& pred = (*doc)["vnodes"][k]["predecessor"];
      if (!pred.is_object() || pred.value("id", "") != ring[(pos + n - 1) % n].id.hex()) {
        *detail = self.to_string() + ": wrong predecessor";
        return false;
      }
    }
  }
  for (const std::string& h : up_addresses()) {
    auto walk = client::walk_ring(h, 1000ms, 10 * n + 10, credentials_);
    if (!walk.ok()) {
      *detail = h + ": ring walk: " + walk.status().to_string();
      return false;
    }
    if (*walk != ring) {
      *detail = h + ": ring walk differs (" + std::to_string(walk->size()) + " vnodes, want " +
                std::to_string(n) + ")";
      return false;
    }
  }
  detail->clear();
  return true;
}

bool Cluster::wait_settled(std::chrono::milliseconds limit, std::string* detail) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ring_correct(detail)) return true;
    std::this_thread::sleep_for(200ms);
  }
  return ring_correct(detail);
}

std::string Cluster::logs_tail(std::size_t bytes_per_node) {
  std::string out;
  for (const Node& node : nodes_) {
    out += "---- " + node.name + " (" + node.address + ") stderr tail\n" +
           read_tail(options_.dir + "/" + node.name + ".err", bytes_per_node);
  }
  return out;
}

}  // namespace dendrite::faults
