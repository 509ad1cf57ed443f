// Resource hygiene: nodes that join and leave (gracefully or by crashing), and
// nodes whose plugins fail to load or start, give back every descriptor and
// thread they took. Counted in /proc/self for the whole process, so every
// socket, eventfd, ZeroMQ context, worker and plugin thread is included.
#include <dirent.h>

#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "support/dtable_cluster.h"
#include "support/programs.h"

namespace dendrite {
namespace {

using namespace std::chrono_literals;
using test::DtableCluster;
using test::test_config;

// Entries of a /proc directory ("." and ".." excluded), or -1.
int entries(const char* path) {
  DIR* d = ::opendir(path);
  if (d == nullptr) return -1;
  int n = 0;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n - (std::string(path) == "/proc/self/fd" ? 1 : 0);  // the DIR's own descriptor
}

struct Usage {
  int fds = 0;
  int threads = 0;
};

Usage usage() {
  return Usage{entries("/proc/self/fd"), entries("/proc/self/task")};
}

// Waits (bounded) until usage is back to at most `base`; returns the last seen.
Usage settle_to(const Usage& base) {
  Usage now = usage();
  for (int i = 0; i < 100 && (now.fds > base.fds || now.threads > base.threads); ++i) {
    std::this_thread::sleep_for(50ms);
    now = usage();
  }
  return now;
}

host::Config broken_config(const std::string& plugin) {
  host::Config c = test_config({}, 2);
  c.plugin_dir = test::test_plugin_dir();
  c.plugins.push_back(host::PluginSpec{"echo", std::nullopt, "{}"});
  c.plugins.push_back(host::PluginSpec{plugin, std::nullopt, "{}"});
  return c;
}

TEST(ResourceHygieneTest, FailedPluginStartsGiveEverythingBack) {
  // Once first: libraries loaded for good (protobuf, spdlog) are not leaks.
  for (const char* p : {"start_fails", "init_fails", "not_a_plugin", "abi_mismatch"}) {
    host::Node node(broken_config(p));
    EXPECT_FALSE(node.start().ok()) << p;
  }
  const Usage base = usage();
  for (int round = 0; round < 10; ++round) {
    for (const char* p : {"start_fails", "init_fails", "not_a_plugin", "abi_mismatch",
                          "throws_in_init", "unresolved"}) {
      host::Node node(broken_config(p));
      EXPECT_FALSE(node.start().ok()) << p;
    }
  }
  const Usage after = settle_to(base);
  EXPECT_LE(after.fds, base.fds) << "descriptors leaked by 60 failed starts";
  EXPECT_LE(after.threads, base.threads) << "threads leaked by 60 failed starts";
}

TEST(ResourceHygieneTest, JoinsLeavesAndCrashesGiveEverythingBack) {
  {
    // Once first: what lives for the whole process once a node ran (a
    // sanitizer's background thread, loaded libraries) is not a leak.
    DtableCluster warm_up;
    warm_up.add();
  }
  const Usage empty = usage();
  {
    DtableCluster c;
    c.add();
    c.add();
    ASSERT_EQ(c.wait_converged(), "");
    for (int k = 0; k < 50; ++k) {
      ASSERT_TRUE(c.table(0).query().consistency(2).set("k" + std::to_string(k), "v").ok());
    }
    // Eight newcomers: each joins, takes its share of keys, and then leaves
    // gracefully or crashes.
    for (int round = 0; round < 8; ++round) {
      const std::size_t i = c.add();
      ASSERT_EQ(c.wait_converged(), "") << "round " << round;
      if (round % 2 == 0) {
        c.leave(i);
      } else {
        c.kill(i);
      }
      ASSERT_EQ(c.wait_converged(), "") << "round " << round;
    }
    for (int k = 0; k < 50; ++k) {
      auto v = c.table(0).query().get("k" + std::to_string(k));
      EXPECT_TRUE(v.ok()) << "k" << k << ": " << v.status().to_string();
    }
  }
  const Usage after = settle_to(empty);
  EXPECT_LE(after.fds, empty.fds) << "descriptors left after every node stopped";
  EXPECT_LE(after.threads, empty.threads) << "threads left after every node stopped";
}

}  // namespace
}  // namespace dendrite
