// System tests of the key/value commands: three dendrited processes running
// the dtable plugin, dendrite-cli run as a program. 1,000 keys (250 under
// sanitizers) written through the CLI at consistency 2 survive a kill -9 of
// one process; every failure of set/get/del/keys has its exit code
// (docs/contract.md "Exit codes") and one line on stderr.
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "dendrite/client/dtable_client.h"
#include "dendrite/client/ring_view.h"
#include "dendrite/id.h"
#include "support/eventually.h"
#include "support/node_json.h"
#include "support/process.h"
#include "support/programs.h"
#include "support/ring_settled.h"
#include "support/serving.h"

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
// Keys the kill -9 test writes, one CLI process each: fewer under
// sanitizers, which make every process start several times slower.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr int kCliKeys = 250;
#else
constexpr int kCliKeys = 1000;
#endif

// CLI processes run at the same time when many commands are needed.
constexpr std::size_t kParallelCli = 4;
// dendrite-cli's exit code for "consistency not met" (docs/contract.md).
constexpr int kExitNotMet = 4;

// One line of text ending in a newline.
bool is_one_line(const std::string& s) {
  return !s.empty() && s.back() == '\n' && std::count(s.begin(), s.end(), '\n') == 1;
}

std::string key_of(int i) {
  return "key-" + std::to_string(i);
}
std::string value_of(int i) {
  return "value " + std::to_string(i) + " \xce\xbb";
}

class DtableCliTest : public ::testing::Test {
 protected:
  struct Node {
    std::string address;
    std::unique_ptr<Process> process;
  };

  // Stops every node still running with SIGTERM (a graceful leave: dtable
  // hands its keys over) and checks each exited 0 without a sanitizer report.
  void TearDown() override {
    for (auto& [name, node] : nodes_) {
      if (node.process->running()) node.process->signal(SIGTERM);
    }
    for (auto& [name, node] : nodes_) {
      if (killed_.contains(name)) continue;
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

  // A node with the dtable plugin (replicas 2), fast stabilisation, 1 s
  // timeouts: a dead node is noticed soon enough for the reads right after a
  // kill -9 (a longer timeout made them run out of attempts while the
  // survivors still named the dead vnode as their predecessor).
  std::string start_node(const std::string& name, const std::vector<std::string>& join = {}) {
    const std::string address = "127.0.0.1:" + std::to_string(free_port());
    json doc = test_node_json(address, join, kVnodes);
    doc["workers"] = {{"min", 2}, {"max", 16}, {"idle_ms", 2000}};
    doc["plugins"] = json::array({{{"name", "dtable"}}});
    const std::string config = dir_.write(name + ".json", doc.dump(2));
    Node node{address, std::make_unique<Process>(
                           std::vector<std::string>{kDendrited, "--config", config},
                           dir_.path() + "/" + name + ".out", dir_.path() + "/" + name + ".err")};
    Process& p = *node.process;
    nodes_[name] = std::move(node);
    const bool up =
        eventually([&] { return !p.running() || serving(address, 500ms); }, kSettle, kPoll);
    EXPECT_TRUE(up && p.running()) << "node " << name << " did not come up";
    return address;
  }

  void kill9(const std::string& name) {
    nodes_.at(name).process->signal(SIGKILL);
    EXPECT_TRUE(nodes_.at(name).process->wait_for(kSettle).has_value());
    killed_.insert(name);
  }

  bool settled(const std::vector<std::string>& hosts) {
    return ring_settled(hosts, kVnodes, kDefaultNumSuccessors, kSettle, kPoll);
  }

  // Three nodes in one settled ring whose dtable accepts writes.
  std::vector<std::string> start_ring() {
    const std::string a = start_node("a");
    const std::string b = start_node("b", {a});
    const std::string c = start_node("c", {a});
    EXPECT_TRUE(settled({a, b, c}));
    EXPECT_TRUE(eventually(
        [&] {
          return cli({"--node", a, "set", "probe", "x"}).code == 0;
        },
        kSettle, kPoll));
    return {a, b, c};
  }

  RunResult cli(const std::vector<std::string>& args) {
    std::vector<std::string> argv{kCli};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, dir_.path());
  }

  // Runs dendrite-cli once per argument list, kParallelCli at a time; the
  // results in order.
  std::vector<RunResult> cli_all(const std::vector<std::vector<std::string>>& jobs) {
    struct Running {
      std::size_t job;
      std::unique_ptr<Process> process;
      std::chrono::steady_clock::time_point started;
    };
    std::vector<RunResult> results(jobs.size());
    std::vector<Running> running;
    std::size_t next = 0;
    auto path = [&](std::size_t job, const char* ext) {
      return dir_.path() + "/cli-" + std::to_string(job) + ext;
    };
    while (next < jobs.size() || !running.empty()) {
      while (next < jobs.size() && running.size() < kParallelCli) {
        std::vector<std::string> argv{kCli};
        argv.insert(argv.end(), jobs[next].begin(), jobs[next].end());
        running.push_back({next,
                           std::make_unique<Process>(argv, path(next, ".out"), path(next, ".err")),
                           std::chrono::steady_clock::now()});
        ++next;
      }
      for (auto it = running.begin(); it != running.end();) {
        auto code = it->process->wait_for(5ms);
        const bool overdue = std::chrono::steady_clock::now() - it->started > 60s;
        if (!code && !overdue) {
          ++it;
          continue;
        }
        RunResult& r = results[it->job];
        r.code = code.value_or(-1);
        it->process.reset();  // kills an overdue one
        r.out = read_file(path(it->job, ".out"));
        r.err = read_file(path(it->job, ".err"));
        std::remove(path(it->job, ".out").c_str());
        std::remove(path(it->job, ".err").c_str());
        it = running.erase(it);
      }
    }
    return results;
  }

  TempDir dir_;
  std::map<std::string, Node> nodes_;
  std::set<std::string> killed_;  // nodes that got kill -9
};

TEST_F(DtableCliTest, KeysWrittenAtConsistencyTwoSurviveKillNine) {
  const auto hosts = start_ring();
  ASSERT_FALSE(HasFailure());
  constexpr int kKeys = kCliKeys;
  std::vector<std::vector<std::string>> writes;
  for (int i = 0; i < kKeys; ++i) {
    writes.push_back({"--node", hosts[static_cast<std::size_t>(i) % 3], "set", key_of(i),
                      value_of(i), "--consistency", "2"});
  }
  auto written = cli_all(writes);
  // A write whose replica did not answer within the timeout is reported as
  // not met (exit code 4), never acknowledged: on a loaded machine a client
  // retries it, as this one does (at most twice), and only acknowledged
  // writes are checked below.
  for (int round = 0; round < 2; ++round) {
    std::vector<std::size_t> again;
    for (std::size_t i = 0; i < written.size(); ++i) {
      if (written[i].code == kExitNotMet) again.push_back(i);
    }
    if (again.empty()) break;
    std::cout << again.size() << " writes reported not met; retrying them\n";
    std::vector<std::vector<std::string>> retry;
    for (std::size_t i : again) retry.push_back(writes[i]);
    const auto retried = cli_all(retry);
    for (std::size_t j = 0; j < again.size(); ++j) written[again[j]] = retried[j];
  }
  for (int i = 0; i < kKeys; ++i) {
    ASSERT_EQ(written[static_cast<std::size_t>(i)].code, 0)
        << key_of(i) << ": " << written[static_cast<std::size_t>(i)].err;
    ASSERT_TRUE(written[static_cast<std::size_t>(i)].out.empty());
  }

  // b dies without a word; a and c remain.
  kill9("b");
  const std::string a = hosts[0], c = hosts[2];

  // At once, through the CLI: reads of keys b owned fall back to the replicas.
  std::vector<std::vector<std::string>> reads;
  for (int i = 0; i < 40; ++i) {
    reads.push_back({"--node", i % 2 ? a : c, "--timeout", "1000", "get", key_of(i)});
  }
  auto got = cli_all(reads);
  for (int i = 0; i < 40; ++i) {
    const RunResult& r = got[static_cast<std::size_t>(i)];
    EXPECT_EQ(r.code, 0) << key_of(i) << ": " << r.err;
    EXPECT_EQ(r.out, value_of(i)) << key_of(i);  // the value bytes, no newline added
  }

  // Every key, through the client library.
  ASSERT_TRUE(settled({a, c}));
  client::DtableClientOptions options;
  options.timeout = 2000ms;
  auto client = client::DtableClient::connect(a, options);
  ASSERT_TRUE(client.ok()) << client.status().to_string();
  std::vector<std::string> keys;
  for (int i = 0; i < kKeys; ++i) keys.push_back(key_of(i));
  const auto values = (*client)->get_multi(keys);
  for (int i = 0; i < kKeys; ++i) {
    const auto& v = values[static_cast<std::size_t>(i)];
    ASSERT_TRUE(v.ok()) << key_of(i) << ": " << v.status().to_string();
    EXPECT_EQ(*v, value_of(i)) << key_of(i);
  }

  // Once the new primaries hold them, `keys` lists every key exactly once.
  std::vector<std::string> want = keys;
  want.push_back("probe");
  std::sort(want.begin(), want.end());
  std::string listed;
  const bool complete = eventually(
      [&] {
        RunResult r = cli({"--node", c, "--timeout", "2000", "keys"});
        listed = r.out;
        if (r.code != 0) return false;
        std::vector<std::string> lines;
        std::size_t at = 0;
        for (std::size_t nl; (nl = r.out.find('\n', at)) != std::string::npos; at = nl + 1) {
          lines.push_back(r.out.substr(at, nl - at));
        }
        return lines == want && at == r.out.size();
      },
      kSettle, kPoll);
  EXPECT_TRUE(complete) << listed.substr(0, 2000);
  RunResult local_a = cli({"--node", a, "keys", "--local"});
  RunResult local_c = cli({"--node", c, "keys", "--local"});
  EXPECT_EQ(local_a.code, 0) << local_a.err;
  EXPECT_EQ(local_c.code, 0) << local_c.err;
  EXPECT_EQ(std::count(local_a.out.begin(), local_a.out.end(), '\n') +
                std::count(local_c.out.begin(), local_c.out.end(), '\n'),
            kKeys + 1);
}

// Conditional sets, expiries and counters from the command line: each
// decided at the key's primary.
TEST_F(DtableCliTest, ConditionalSetsExpiriesAndCounters) {
  const auto hosts = start_ring();
  ASSERT_FALSE(HasFailure());
  const std::string a = hosts[0], b = hosts[1];
  RunResult r = cli({"--node", a, "set", "once", "first", "--if-absent"});
  EXPECT_EQ(r.code, 0) << r.err;
  r = cli({"--node", b, "set", "once", "second", "--if-absent"});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_TRUE(is_one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("not written"), std::string::npos) << r.err;
  EXPECT_EQ(cli({"--node", b, "get", "once"}).out, "first");
  r = cli({"--node", a, "set", "absent", "x", "--if-present"});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_EQ(cli({"--node", a, "get", "absent"}).code, 1);
  EXPECT_EQ(cli({"--node", a, "set", "k", "v", "--if-absent", "--if-present"}).code, 2);
  EXPECT_EQ(cli({"--node", a, "set", "k", "v", "--ttl", "-1"}).code, 2);

  // (No read inside the short expiry: a slow run could miss it.)
  r = cli({"--node", a, "set", "long", "v", "--ttl", "3600", "--consistency", "2"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(cli({"--node", b, "get", "long"}).out, "v");
  r = cli({"--node", a, "set", "brief", "v", "--ttl", "1", "--consistency", "2"});
  EXPECT_EQ(r.code, 0) << r.err;
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(cli({"--node", b, "get", "brief"}).code, 1) << "expired after its 1 s";

  r = cli({"--node", a, "incr", "n"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "1\n");
  r = cli({"--node", b, "incr", "n", "--by", "41", "--consistency", "3"});
  EXPECT_EQ(r.out, "42\n") << r.err;
  r = cli({"--node", b, "incr", "once"});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("not an integer"), std::string::npos) << r.err;
}

// `ttl` shows the expiry stored with the value, as every copy holds it: also
// when the key's primary was killed and the copies answer instead.
TEST_F(DtableCliTest, TtlShowsTheStoredExpiryAlsoAfterThePrimaryIsKilled) {
  const auto hosts = start_ring();
  ASSERT_FALSE(HasFailure());
  const std::string a = hosts[0];
  RunResult r = cli({"--node", a, "set", "hour", "v", "--ttl", "3600", "--consistency", "3"});
  ASSERT_EQ(r.code, 0) << r.err;
  r = cli({"--node", a, "set", "forever", "v", "--consistency", "3"});
  ASSERT_EQ(r.code, 0) << r.err;

  auto seconds_left = [&](const std::string& node, const std::string& key) -> long long {
    RunResult t = cli({"--node", node, "ttl", key});
    EXPECT_EQ(t.code, 0) << t.err;
    EXPECT_TRUE(is_one_line(t.out)) << t.out;
    return t.code == 0 && is_one_line(t.out) ? std::stoll(t.out) : -1;
  };
  const long long left = seconds_left(a, "hour");
  EXPECT_GE(left, 3500);  // whole seconds, a slow machine included
  EXPECT_LE(left, 3600);
  r = cli({"--node", a, "ttl", "hour", "--ms"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_GT(std::stoll(r.out), 3500000);
  EXPECT_LE(std::stoll(r.out), 3600000);
  EXPECT_EQ(cli({"--node", a, "ttl", "forever"}).out, "none\n");
  r = cli({"--node", a, "ttl", "missing"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_TRUE(is_one_line(r.err)) << r.err;
  EXPECT_EQ(cli({"--node", a, "ttl", ""}).code, 2);

  // Kill the primary of "hour" (asked through another node).
  auto c = client::DtableClient::connect(a);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  const std::string primary = (*c)->primary_of("hour").host;
  c->reset();
  std::string victim, survivor;
  for (const auto& [name, node] : nodes_) {
    if (node.address == primary) victim = name;
  }
  for (const auto& h : hosts) {
    if (h != primary) survivor = h;
  }
  ASSERT_FALSE(victim.empty()) << primary;
  kill9(victim);
  long long after = -1;
  eventually(
      [&] {
        RunResult t = cli({"--node", survivor, "ttl", "hour"});
        after = t.code == 0 ? std::stoll(t.out) : -1;
        return after >= 0;
      },
      kSettle, kPoll);
  EXPECT_GE(after, 3400) << "the copies lost the expiry";
  EXPECT_LE(after, left);
  EXPECT_EQ(cli({"--node", survivor, "ttl", "forever"}).out, "none\n");
}

TEST_F(DtableCliTest, EveryFailureHasItsExitCode) {
  const auto hosts = start_ring();
  ASSERT_FALSE(HasFailure());
  const std::string a = hosts[0];

  // ok: set, get (exact bytes), set from stdin, del.
  RunResult r = cli({"--node", a, "set", "k", "v1", "--consistency", "3"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(r.out.empty() && r.err.empty()) << r.out << r.err;
  r = cli({"--node", a, "get", "k"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "v1");
  r = cli({"--node", hosts[1], "get", "k", "--consistency", "3"});  // reads every copy
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "v1");
  r = run(
      {"/bin/sh", "-c",
       "printf 'line 1\\nline 2\\n' | '" + kCli + "' --node " + a + " set piped - --consistency 2"},
      dir_.path());
  EXPECT_EQ(r.code, 0) << r.err;
  r = cli({"--node", hosts[1], "get", "piped"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "line 1\nline 2\n");
  r = cli({"--node", a, "set", "--", "-dash", "-1"});  // values and keys may start with '-'
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(cli({"--node", a, "get", "--", "-dash"}).out, "-1");

  // 1: not found (never written, deleted).
  r = cli({"--node", a, "get", "missing"});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_TRUE(is_one_line(r.err)) << r.err;
  r = cli({"--node", a, "del", "k", "--consistency", "2"});
  EXPECT_EQ(r.code, 0) << r.err;
  r = cli({"--node", hosts[2], "get", "k"});
  EXPECT_EQ(r.code, 1) << r.err;
  r = cli({"--node", a, "del", "never-there"});
  EXPECT_EQ(r.code, 0) << r.err;

  // 2: usage and bad input.
  const std::vector<std::vector<std::string>> usage = {
      {"--node", a, "set", "k"},                             // no value
      {"--node", a, "set", "k", "v", "extra"},               // too many
      {"--node", a, "get"},                                  // no key
      {"--node", a, "get", ""},                              // empty key
      {"--node", a, "set", "k", "v", "--consistency", "0"},  // below 1
      {"--node", a, "set", "k", "v", "--consistency", "x"},  // not a number
      {"--node", a, "del", "k", "--consistency", "7"},       // above the maximum
      {"--node", a, "get", "k", "--consistency", "0"},       // below 1
      {"--node", a, "ttl", "k", "--consistency", "9"},       // above the maximum
      {"--node", a, "keys", "--nonsense"},                   // unknown flag
      {"--node", "not-an-address", "get", "k"},              // bad node
      {"--node", a, "frobnicate"},                           // unknown command
  };
  for (const auto& args : usage) {
    r = cli(args);
    std::string joined;
    for (const auto& s : args) joined += s + " ";
    EXPECT_EQ(r.code, 2) << joined << ": " << r.err;
    EXPECT_TRUE(is_one_line(r.err)) << joined << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << joined << ": " << r.out;
  }
  r = cli({"--node", a, "set", "k", "v", "--consistency", "4"});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("maximum is 3"), std::string::npos) << r.err;

  // 3: unreachable or timed out.
  const std::string nobody = "127.0.0.1:" + std::to_string(free_port());
  for (const std::vector<std::string>& command : {std::vector<std::string>{"set", "k", "v"},
                                                  {"get", "k"},
                                                  {"del", "k"},
                                                  {"keys"},
                                                  {"keys", "--local"}}) {
    std::vector<std::string> args{"--node", nobody, "--timeout", "300"};
    args.insert(args.end(), command.begin(), command.end());
    r = cli(args);
    EXPECT_EQ(r.code, 3) << command[0] << ": " << r.err;
    EXPECT_TRUE(is_one_line(r.err)) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }

  // 4: consistency not met, once only two hosts remain.
  kill9("c");
  ASSERT_TRUE(settled({a, hosts[1]}));
  r = cli({"--node", a, "set", "three", "copies", "--consistency", "3"});
  EXPECT_EQ(r.code, 4) << r.err;
  EXPECT_TRUE(is_one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("consistency not met"), std::string::npos) << r.err;
  r = cli({"--node", a, "del", "piped", "--consistency", "3"});
  EXPECT_EQ(r.code, 4) << r.err;
  // The failed write is not visible; the failed delete deleted nothing.
  r = cli({"--node", a, "get", "three"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  r = cli({"--node", a, "get", "piped"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "line 1\nline 2\n");
  // Two copies are still possible.
  r = cli({"--node", a, "set", "two", "copies", "--consistency", "2"});
  EXPECT_EQ(r.code, 0) << r.err;
}

TEST_F(DtableCliTest, ACrashedHostIsRememberedShownDownAndForgottenOnRequest) {
  const auto hosts = start_ring();
  ASSERT_FALSE(HasFailure());
  const std::string a = hosts[0], b = hosts[1], c = hosts[2];
  kill9("b");
  ASSERT_TRUE(settled({a, c}));

  // a remembers b as down (a probe found it silent) and `ring` says so.
  RunResult r;
  EXPECT_TRUE(eventually(
      [&] {
        r = cli({"--node", a, "ring"});
        return r.code == 0 && r.err.find("remembered hosts down") != std::string::npos &&
               r.err.find(b) != std::string::npos;
      },
      kSettle, kPoll))
      << r.code << " " << r.err;
  // "suspect" until its probe times out, then "down".
  std::string members;
  EXPECT_TRUE(eventually(
      [&] {
        auto doc = client::fetch_status(a, 2000ms);
        if (!doc.ok()) return false;
        members = (*doc)["members"].dump();
        for (const json& m : (*doc)["members"]) {
          if (m["host"] == b && m["state"] == "down") return true;
        }
        return false;
      },
      kSettle, kPoll))
      << members;

  // Strict writes: every key's three holders are a, b and c, so with b down
  // consistency 3 is refused, naming b, and consistency 2 is met.
  r = cli({"--node", a, "set", "strict", "x", "--consistency", "3"});
  EXPECT_EQ(r.code, 4) << r.err;
  r = cli({"--node", a, "set", "strict", "x", "--consistency", "2"});
  EXPECT_EQ(r.code, 0) << r.err;

  // The operator forgets b: gone from `ring`'s report; forgetting it again
  // (or any host a never knew) is "not found".
  r = cli({"--node", a, "forget", b});
  EXPECT_EQ(r.code, 0) << r.err;
  r = cli({"--node", a, "forget", b});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("is not a remembered host"), std::string::npos) << r.err;
  r = cli({"--node", a, "forget", "not-an-address"});
  EXPECT_EQ(r.code, 2) << r.err;
  r = cli({"--node", a, "ring"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err.find(b), std::string::npos) << r.err;
}

// keygen talks to no node: a key pair for a node or a client, never overwritten.
TEST_F(DtableCliTest, KeygenWritesAPrivatePairOnceAndPrintsItsPublicKey) {
  const std::string keys = dir_.path() + "/keys";
  RunResult r = cli({"keygen", keys});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  ASSERT_EQ(r.out.size(), 41u) << r.out;  // 40 Z85 characters and a newline
  const std::string pub = r.out.substr(0, 40);
  struct stat st {};
  ASSERT_EQ(::stat((keys + "/secret.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(read_file(keys + "/public.key").find(pub + "\n"), std::string::npos);
  const std::string secret_before = read_file(keys + "/secret.key");
  EXPECT_EQ(secret_before.find(pub), std::string::npos);  // the secret is another key

  // Again into the same directory: refused, one line, nothing changed.
  r = cli({"keygen", keys});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_TRUE(is_one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("not overwriting"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(keys + "/secret.key"), secret_before);

  // No directory, or one that cannot be made.
  EXPECT_EQ(cli({"keygen"}).code, 2);
  r = cli({"keygen", dir_.path() + "/missing/parent/keys"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(is_one_line(r.err)) << r.err;
}

}  // namespace
}  // namespace dendrite::test
