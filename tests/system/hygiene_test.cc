// A long-lived dendrited must not keep what its peers took: newcomers join it
// and then crash (kill -9) or leave (SIGTERM), eight times, and afterwards its
// descriptors and threads come back to what it had alone (connections to dead
// peers are closed once idle, within about a minute). The original leaked a
// descriptor per dead peer. Release builds only (it waits for the idle close).
#include <dirent.h>
#include <signal.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "dendrite/client/ring_view.h"
#include "support/process.h"
#include "support/programs.h"

namespace dendrite::test {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

// Entries of /proc/<pid>/<what> ("fd" or "task"), or -1.
int count(pid_t pid, const char* what) {
  const std::string path = "/proc/" + std::to_string(pid) + "/" + what;
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n;
}

class Nodes {
 public:
  // Starts dendrited on a free port (joining `join` if given) and waits until
  // it answers; nullptr after 60 s.
  Process* start(const std::string& name, const std::string& join = "") {
    const std::string address = "127.0.0.1:" + std::to_string(free_port());
    json config = {{"listen", address},
                   {"vnodes", 3},
                   {"stabilize", {{"min_ms", 50}, {"max_ms", 150}}},
                   {"timeout_ms", 1000},
                   {"workers", {{"min", 2}, {"max", 16}, {"idle_ms", 1000}}},
                   {"plugins", json::array()}};
    if (!join.empty()) config["join"] = {join};
    const std::string path = dir_.write(name + ".json", config.dump());
    procs_.push_back(std::make_unique<Process>(
        std::vector<std::string>{test::program("dendrited"), "--config", path},
        dir_.path() + "/" + name + ".out", dir_.path() + "/" + name + ".err"));
    addresses_.push_back(address);
    Process* p = procs_.back().get();
    for (int i = 0; i < 600 && p->running(); ++i) {
      if (client::fetch_status(address, 500ms).ok()) return p;
      std::this_thread::sleep_for(100ms);
    }
    return nullptr;
  }
  const std::string& address(std::size_t i) const { return addresses_.at(i); }
  std::size_t size() const { return addresses_.size(); }
  // Waits until a walk from `from` sees exactly `hosts` x 3 vnodes.
  bool ring_of(const std::string& from, std::size_t hosts) {
    for (int i = 0; i < 600; ++i) {
      auto ring = client::walk_ring(from, 1000ms);
      if (ring.ok() && ring->size() == 3 * hosts) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }
  std::string log(const std::string& name) const {
    return read_file(dir_.path() + "/" + name + ".err");
  }

 private:
  TempDir dir_;
  std::vector<std::unique_ptr<Process>> procs_;
  std::vector<std::string> addresses_;
};

TEST(HygieneTest, DeadAndDepartedPeersLeaveNoDescriptorsOrThreadsBehind) {
  Nodes nodes;
  Process* a = nodes.start("a");
  ASSERT_NE(a, nullptr) << nodes.log("a");
  const std::string seed = nodes.address(0);
  std::this_thread::sleep_for(2s);
  const int fds0 = count(a->pid(), "fd"), threads0 = count(a->pid(), "task");
  ASSERT_GT(fds0, 0);

  int peak_fds = fds0;
  std::vector<std::string> killed;
  for (int round = 0; round < 8; ++round) {
    const std::string name = "b" + std::to_string(round);
    Process* b = nodes.start(name, seed);
    ASSERT_NE(b, nullptr) << nodes.log(name);
    ASSERT_TRUE(nodes.ring_of(seed, 2)) << "round " << round;
    peak_fds = std::max(peak_fds, count(a->pid(), "fd"));
    if (round % 2 == 0) {
      killed.push_back(nodes.address(nodes.size() - 1));
      b->signal(SIGKILL);
    } else {
      b->signal(SIGTERM);
    }
    ASSERT_TRUE(b->wait_for(60s).has_value());
    ASSERT_TRUE(nodes.ring_of(seed, 1)) << "round " << round;
  }

  // A crashed peer is remembered and probed (it may come back); the departed
  // ones said goodbye and are not. Once the operator forgets the crashed ones,
  // nothing is kept for any of them.
  for (const std::string& gone : killed) {
    // Not found: a's view never showed it at a moment its healer looked (it
    // takes the view in once a second, and a peer may die sooner).
    const Status s = client::forget_host(seed, gone, 2000ms);
    EXPECT_TRUE(s.ok() || s.code() == StatusCode::kNotFound) << gone << ": " << s.to_string();
  }
  EXPECT_EQ(client::forget_host(seed, killed.front(), 2000ms).code(), StatusCode::kNotFound);

  // Back to what it had alone (bounded: idle connections close after 60 s).
  int fds = count(a->pid(), "fd"), threads = count(a->pid(), "task");
  for (int i = 0; i < 100 && (fds > fds0 || threads > threads0); ++i) {
    std::this_thread::sleep_for(1s);
    fds = count(a->pid(), "fd");
    threads = count(a->pid(), "task");
  }
  std::cout << "node a: descriptors " << fds0 << " alone, " << peak_fds << " at most, " << fds
            << " after; threads " << threads0 << " alone, " << threads << " after\n";
  auto status = client::fetch_status(seed, 2000ms);
  EXPECT_LE(fds, fds0) << "descriptors kept after 8 peers came and went; members: "
                       << (status.ok() ? (*status)["members"].dump() : status.status().to_string());
  EXPECT_LE(threads, threads0) << "threads kept after 8 peers came and went";
  EXPECT_TRUE(a->running());
  a->signal(SIGTERM);
  auto code = a->wait_for(60s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0) << nodes.log("a");
}

}  // namespace
}  // namespace dendrite::test
