// System tests: real dendrited processes on 127.0.0.1 and dendrite-cli run as
// a program, checking the external contract of docs/contract.md ("dendrited",
// "dendrite-cli", "Exit codes").
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "dendrite/client/ring_view.h"
#include "dendrite/id.h"
#include "support/eventually.h"
#include "support/process.h"
#include "support/programs.h"

namespace dendrite::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using test::eventually;

// How often a wait polls: its conditions run programs or walk the ring.
constexpr auto kPoll = 100ms;

const std::string kDendrited = test::program("dendrited");
const std::string kCli = test::program("dendrite-cli");
// Generous bounds: the machine is shared and sanitizer builds are slow. Tests
// wait for outcomes, they never assert how long something took.
constexpr auto kSettle = 90s;
constexpr int kVnodes = 3;

// Polls `cond` every 100 ms until it holds or `limit` passes.
// The ids a stable ring of `hosts` has, ascending.
std::vector<std::string> expected_ids(const std::vector<std::string>& hosts) {
  std::vector<Id> ids;
  for (const auto& h : hosts) {
    for (int i = 0; i < kVnodes; ++i) ids.push_back(Id::for_vnode(h, static_cast<uint16_t>(i)));
  }
  std::sort(ids.begin(), ids.end());
  std::vector<std::string> hex;
  for (const Id& id : ids) hex.push_back(id.hex());
  return hex;
}

bool is_id(const json& j) {
  if (!j.is_string()) return false;
  const std::string s = j.get<std::string>();
  return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool is_vnode_ref(const json& j) {
  return j.is_object() && j.size() == 2 && is_id(j.value("id", json())) && j.contains("host") &&
         j["host"].is_string();
}

class SystemTest : public ::testing::Test {
 protected:
  struct Node {
    std::string address;
    std::unique_ptr<Process> process;
  };

  // Stops every node still running with SIGTERM (a clean exit, so sanitizer
  // builds check the shutdown path too) and checks no node log holds a
  // sanitizer report. Whatever does not exit in time is SIGKILLed.
  void TearDown() override {
    for (auto& [name, node] : nodes_) node.process->signal(SIGTERM);
    for (auto& [name, node] : nodes_) {
      auto code = node.process->wait_for(kSettle);
      EXPECT_TRUE(code.has_value()) << "node " << name << " ignored SIGTERM";
      if (code) {
        EXPECT_EQ(*code, 0) << "node " << name;
      }
    }
    check_node_logs(dir_.path(), node_list(), HasFailure());
    nodes_.clear();  // SIGKILLs whatever still runs
  }

  // (name, address) of every node, for check_node_logs().
  std::vector<std::pair<std::string, std::string>> node_list() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [name, node] : nodes_) out.emplace_back(name, node.address);
    return out;
  }

  // A config for a test node: fast stabilisation, short timeouts, no plugins.
  std::string write_config(const std::string& name, const std::string& address,
                           const std::vector<std::string>& join) {
    json doc = {
        {"listen", address},          {"join", join},
        {"vnodes", kVnodes},          {"stabilize", {{"min_ms", 50}, {"max_ms", 150}}},
        {"timeout_ms", 1000},         {"workers", {{"min", 2}, {"max", 16}, {"idle_ms", 2000}}},
        {"log", {{"level", "info"}}}, {"plugins", json::array()}};
    return dir_.write(name + ".json", doc.dump(2));
  }

  // Starts node `name` on a free port, joining `join`, and waits until it
  // answers a status request.
  std::string start_node(const std::string& name, const std::vector<std::string>& join = {}) {
    const std::string address = "127.0.0.1:" + std::to_string(free_port());
    const std::string config = write_config(name, address, join);
    Node node{address, std::make_unique<Process>(
                           std::vector<std::string>{kDendrited, "--config", config},
                           dir_.path() + "/" + name + ".out", dir_.path() + "/" + name + ".err")};
    Process& p = *node.process;
    nodes_[name] = std::move(node);
    const bool up = eventually(
        [&] { return !p.running() || client::fetch_status(address, 500ms).ok(); }, kSettle, kPoll);
    EXPECT_TRUE(up && p.running()) << "node " << name << " did not come up";
    return address;
  }

  Process& process(const std::string& name) { return *nodes_.at(name).process; }

  // The stderr of node `name` once it says it is up (or as it is after
  // kSettle, when it never does).
  std::string startup_log(const std::string& name) {
    const std::string path = dir_.path() + "/" + name + ".err";
    eventually([&] { return read_file(path).find(" is up with ") != std::string::npos; }, kSettle,
               kPoll);
    return read_file(path);
  }

  // Waits until walking the ring from each of `hosts` gives exactly their vnodes.
  bool converged(const std::vector<std::string>& hosts) {
    const std::vector<std::string> want = expected_ids(hosts);
    return eventually(
        [&] {
          for (const auto& h : hosts) {
            auto ring = client::walk_ring(h, 1000ms);
            if (!ring.ok()) return false;
            std::vector<std::string> got;
            for (const Vnode& v : *ring) got.push_back(v.id.hex());
            if (got != want) return false;
          }
          return true;
        },
        kSettle, kPoll);
  }

  RunResult cli(const std::vector<std::string>& args) {
    std::vector<std::string> argv{kCli};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, dir_.path());
  }

  RunResult dendrited(const std::vector<std::string>& args) {
    std::vector<std::string> argv{kDendrited};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, dir_.path());
  }

  TempDir dir_;
  std::map<std::string, Node> nodes_;
};

// One line of text ending in a newline.
bool is_one_line(const std::string& s) {
  return !s.empty() && s.back() == '\n' && std::count(s.begin(), s.end(), '\n') == 1;
}

TEST_F(SystemTest, ThreeNodesFormOneRingSeenAlikeFromEveryNode) {
  const std::string a = start_node("a");
  const std::string b = start_node("b", {a});
  const std::string c = start_node("c", {a});
  ASSERT_TRUE(converged({a, b, c}));

  const std::vector<std::string> want = expected_ids({a, b, c});
  std::string first_output;
  for (const auto& node : {a, b, c}) {
    RunResult r = cli({"--node", node, "ring"});
    ASSERT_EQ(r.code, 0) << r.err;
    json ring = json::parse(r.out);
    ASSERT_TRUE(ring.is_array());
    ASSERT_EQ(ring.size(), 9u) << r.out;
    std::map<std::string, int> per_host;
    for (std::size_t i = 0; i < ring.size(); ++i) {
      ASSERT_TRUE(is_vnode_ref(ring[i])) << ring[i].dump();
      EXPECT_EQ(ring[i]["id"], want[i]);  // one ring, in id order
      ++per_host[ring[i]["host"].get<std::string>()];
    }
    EXPECT_EQ(per_host, (std::map<std::string, int>{{a, 3}, {b, 3}, {c, 3}}));
    if (first_output.empty()) first_output = r.out;
    EXPECT_EQ(r.out, first_output) << "ring from " << node << " differs";
  }
}

// The program links the allocator the build chose (cmake/DendriteAllocator.cmake)
// and says which one serves it once it is up.
TEST_F(SystemTest, StartupLogNamesTheAllocatorTheBuildChose) {
  start_node("a");
  const std::string log = startup_log("a");
  ASSERT_NE(log.find(" is up with "), std::string::npos) << log;
  const std::string want = std::string("(allocator: ") + DENDRITE_PROGRAM_ALLOCATOR;
  EXPECT_NE(log.find(want), std::string::npos) << "expected '" << want << "' in:\n" << log;
  if (std::string(DENDRITE_PROGRAM_ALLOCATOR) == "mimalloc") {
    EXPECT_NE(log.find("(allocator: mimalloc 2."), std::string::npos) << log;  // with its version
  }
}

// A node others may reach is open to them until the ring is secured: it says
// so at start; a node on loopback does not.
TEST_F(SystemTest, ANodeListeningBeyondLoopbackWarnsThatItIsOpen) {
  start_node("a");
  const int port = free_port();
  const std::string address = "127.0.0.1:" + std::to_string(port);
  json doc = {{"listen", "0.0.0.0:" + std::to_string(port)},
              {"advertise", address},
              {"log", {{"level", "info"}}},
              {"plugins", json::array()}};
  const std::string config = dir_.write("open.json", doc.dump(2));
  nodes_["open"] = Node{
      address, std::make_unique<Process>(std::vector<std::string>{kDendrited, "--config", config},
                                         dir_.path() + "/open.out", dir_.path() + "/open.err")};
  const std::string log = startup_log("open");
  ASSERT_NE(log.find(" is up with "), std::string::npos) << log;
  EXPECT_NE(log.find(" W [node] listening on 0.0.0.0:" + std::to_string(port) +
                     ", which other machines may reach"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("neither encrypted nor authenticated"), std::string::npos) << log;
  const std::string loopback = startup_log("a");
  EXPECT_NE(loopback.find(" is up with "), std::string::npos) << loopback;
  EXPECT_EQ(loopback.find("other machines may reach"), std::string::npos) << loopback;
}

TEST_F(SystemTest, StatusShowsVnodesWithPredecessorAndSuccessors) {
  const std::string a = start_node("a");
  const std::string b = start_node("b", {a});
  ASSERT_TRUE(converged({a, b}));

  RunResult r = cli({"--node", b, "status"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\n  \""), std::string::npos) << "not pretty-printed:\n" << r.out;
  json doc = json::parse(r.out);
  EXPECT_EQ(doc["address"], b);
  ASSERT_TRUE(doc["vnodes"].is_array());
  ASSERT_EQ(doc["vnodes"].size(), static_cast<std::size_t>(kVnodes));
  for (const json& v : doc["vnodes"]) {
    EXPECT_TRUE(is_id(v["id"])) << v.dump();
    EXPECT_EQ(v["host"], b);
    ASSERT_TRUE(v.contains("predecessor"));
    EXPECT_TRUE(v["predecessor"].is_null() || is_vnode_ref(v["predecessor"])) << v.dump();
    ASSERT_TRUE(v["successors"].is_array());
    EXPECT_FALSE(v["successors"].empty());
    for (const json& s : v["successors"]) EXPECT_TRUE(is_vnode_ref(s)) << s.dump();
  }
  EXPECT_TRUE(doc["plugins"].is_array());
  EXPECT_EQ(doc["state"], "serving");
  EXPECT_EQ(doc["config"]["listen"], b);
  EXPECT_EQ(doc["config"]["join"], json::array({a}));
}

TEST_F(SystemTest, SigtermLeavesAndTheOthersReconverge) {
  const std::string a = start_node("a");
  const std::string b = start_node("b", {a});
  const std::string c = start_node("c", {a});
  ASSERT_TRUE(converged({a, b, c}));

  process("c").signal(SIGTERM);
  auto code = process("c").wait_for(kSettle);
  ASSERT_TRUE(code.has_value()) << "c did not exit after SIGTERM";
  EXPECT_EQ(*code, 0);
  ASSERT_TRUE(converged({a, b}));

  for (const auto& node : {a, b}) {
    // A probe c answered while it shut down can make a node see it alive
    // for a moment after the leave ("not one settled ring"): the next probe
    // tells it is gone, so the CLI's ring settles soon.
    RunResult r;
    EXPECT_TRUE(eventually(
        [&] {
          r = cli({"--node", node, "ring"});
          return r.code == 0;
        },
        kSettle, kPoll));
    ASSERT_EQ(r.code, 0) << r.err;
    json ring = json::parse(r.out);
    EXPECT_EQ(ring.size(), 6u) << r.out;
    for (const json& v : ring) EXPECT_NE(v["host"], c);
  }
}

TEST_F(SystemTest, UnknownConfigKeyExits2WithOneLine) {
  const std::string config = dir_.write("bad.json", R"({"stabilise": {"min_ms": 10}})");
  RunResult r = dendrited({"--config", config});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(is_one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("config: unknown key 'stabilise' (did you mean 'stabilize'?)"),
            std::string::npos)
      << r.err;
}

TEST_F(SystemTest, BadFlagValueExits2) {
  RunResult r = dendrited({"--vnodes", "0", "--print-config"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(is_one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("'vnodes' must be an integer from 1 to 1024"), std::string::npos) << r.err;

  r = dendrited({"--no-such-flag"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(is_one_line(r.err)) << r.err;
}

TEST_F(SystemTest, PortInUseExits1) {
  // Hold a listening socket on the port the node wants.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string address = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  RunResult r = dendrited({"--config", write_config("busy", address, {})});
  ::close(fd);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find(address), std::string::npos) << r.err;
}

TEST_F(SystemTest, UnreachableSeedExits1) {
  const std::string nobody = "127.0.0.1:" + std::to_string(free_port());
  const std::string self = "127.0.0.1:" + std::to_string(free_port());
  RunResult r = dendrited({"--config", write_config("lonely", self, {nobody})});
  EXPECT_EQ(r.code, 1) << r.err;
}

// While a node is still joining (here a seed that never answers), its port
// answers status requests, and the status says it is not serving yet.
TEST_F(SystemTest, StatusSaysStartingUntilTheJoinIsDone) {
  const std::string nobody = "127.0.0.1:" + std::to_string(free_port());
  const std::string self = "127.0.0.1:" + std::to_string(free_port());
  Process p({kDendrited, "--config", write_config("joining", self, {nobody})},
            dir_.path() + "/joining.out", dir_.path() + "/joining.err");
  std::string state;
  eventually(
      [&] {
        auto doc = client::fetch_status(self, 300ms);
        if (doc.ok()) state = (*doc)["state"].get<std::string>();
        return doc.ok() || !p.running();
      },
      kSettle, kPoll);
  EXPECT_EQ(state, "starting") << read_file(dir_.path() + "/joining.err");
  EXPECT_EQ(p.wait_for(std::chrono::seconds(60)), std::optional<int>(1))
      << "a join that never succeeds ends the node with exit 1";
}

TEST_F(SystemTest, PrintConfigExits0WithTheEffectiveConfig) {
  const std::string config = write_config("p", "127.0.0.1:7001", {"127.0.0.1:7002"});
  RunResult r = dendrited({"--config", config, "--vnodes", "5", "--join", "127.0.0.1:7003",
                           "--join", "127.0.0.1:7004", "--print-config"});
  ASSERT_EQ(r.code, 0) << r.err;
  json doc = json::parse(r.out);
  EXPECT_EQ(doc["listen"], "127.0.0.1:7001");  // from the file
  EXPECT_EQ(doc["vnodes"], 5);                 // flag over file
  EXPECT_EQ(doc["join"], json::array({"127.0.0.1:7003", "127.0.0.1:7004"}));
  EXPECT_EQ(doc["stabilize"]["min_ms"], 50);
  EXPECT_EQ(doc["num_successors"], 8);  // default

  r = dendrited({"--print-config"});
  ASSERT_EQ(r.code, 0) << r.err;
  doc = json::parse(r.out);
  EXPECT_EQ(doc["listen"], "127.0.0.1:5000");
  EXPECT_EQ(doc["vnodes"], 3);
}

TEST_F(SystemTest, CliUnreachableNodeExits3) {
  const std::string nobody = "127.0.0.1:" + std::to_string(free_port());
  for (const char* command : {"status", "ring"}) {
    RunResult r = cli({"--node", nobody, "--timeout", "300", command});
    EXPECT_EQ(r.code, 3) << command << ": " << r.err;
    EXPECT_TRUE(is_one_line(r.err)) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}

TEST_F(SystemTest, CliUsageErrorsExit2) {
  RunResult r = cli({"frobnicate"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(is_one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("unknown command 'frobnicate'"), std::string::npos) << r.err;

  r = cli({"--node", "not-an-address", "status"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(is_one_line(r.err)) << r.err;

  r = cli({});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(is_one_line(r.err)) << r.err;
}

}  // namespace
}  // namespace dendrite::test
