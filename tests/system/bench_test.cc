// System tests of dendrite-bench: its output is redis-benchmark's (the --csv
// header, columns and quoting; the -q line), --sequential writes every key of
// -r once, and it exits with the codes of docs/contract.md ("Exit codes") and
// one line on stderr, quickly, when the node cannot be reached. One dendrited
// process with the dtable plugin per test.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "dendrite/client/ring_view.h"
#include "support/eventually.h"
#include "support/process.h"
#include "support/programs.h"
#include "support/refusing_port.h"
#include "support/serving.h"

namespace dendrite::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using test::eventually;

// How often a wait polls: its conditions run programs or walk the ring.
constexpr auto kPoll = 100ms;

const std::string kDendrited = test::program("dendrited");
const std::string kBench = test::program("dendrite-bench");
const std::string kCli = test::program("dendrite-cli");
// redis-benchmark 7's --csv header, byte for byte.
const std::string kCsvHeader =
    "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\","
    "\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"";

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

class BenchTest : public ::testing::Test {
 protected:
  // One node (3 vnodes, replicas 2, so consistency 2 cannot be met) whose
  // dtable accepts writes.
  void SetUp() override {
    node_ = "127.0.0.1:" + std::to_string(free_port());
    json doc = {{"listen", node_},
                {"vnodes", 3},
                {"replicas", 2},
                {"timeout_ms", 1000},
                {"log", {{"level", "warn"}}},
                {"plugins", json::array({{{"name", "dtable"}}})}};
    const std::string config = dir_.write("node.json", doc.dump(2));
    process_ = std::make_unique<Process>(std::vector<std::string>{kDendrited, "--config", config},
                                         dir_.path() + "/node.out", dir_.path() + "/node.err");
    ASSERT_TRUE(
        eventually([&] { return !process_->running() || serving(node_, 500ms); }, 15s, kPoll) &&
        process_->running())
        << "the node did not come up: " << read_file(dir_.path() + "/node.err");
    ASSERT_TRUE(eventually([&] { return cli({"set", "probe", "x"}).code == 0; }, 15s, kPoll));
    ASSERT_EQ(cli({"del", "probe"}).code, 0);
  }

  void TearDown() override {
    if (process_ && process_->running()) process_->signal(SIGTERM);
    if (process_) {
      auto code = process_->wait_for(20s);
      EXPECT_EQ(code, std::optional<int>(0)) << read_file(dir_.path() + "/node.err");
    }
    process_.reset();  // SIGKILLs it if it still runs
  }

  RunResult bench(const std::vector<std::string>& args, const std::string& node = "") {
    std::vector<std::string> argv{kBench, "--node", node.empty() ? node_ : node};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, dir_.path(), 20s);
  }
  RunResult cli(const std::vector<std::string>& args) {
    std::vector<std::string> argv{kCli, "--node", node_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, dir_.path(), 20s);
  }

  TempDir dir_;
  std::string node_;
  std::unique_ptr<Process> process_;
};

TEST_F(BenchTest, CsvHasRedisBenchmarksHeaderAndOneQuotedRowPerTest) {
  auto r = bench({"-n", "300", "-c", "3", "-P", "4", "-d", "16", "-r", "50", "-t",
                  "set,get,del,mset,mget", "--csv"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out.find('\r'), std::string::npos) << "no progress line when not a terminal";
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 6u) << r.out;
  EXPECT_EQ(lines[0], kCsvHeader);
  const std::vector<std::string> names{"SET", "GET", "DEL", "MSET (10 keys)", "MGET (10 keys)"};
  // "name","rps" with 2 decimals, then six latencies in ms with 3 decimals.
  const std::regex row(
      R"re("([A-Z]+(?: \(10 keys\))?)","([0-9]+\.[0-9]{2})"((?:,"[0-9]+\.[0-9]{3}"){6}))re");
  for (std::size_t i = 0; i < names.size(); ++i) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(lines[i + 1], m, row)) << lines[i + 1];
    EXPECT_EQ(m[1], names[i]);
    EXPECT_GT(std::stod(m[2]), 0.0);
    std::vector<double> ms;
    std::stringstream cols(m[3].str());
    for (std::string cell; std::getline(cols, cell, ',');) {
      if (!cell.empty()) ms.push_back(std::stod(cell.substr(1, cell.size() - 2)));
    }
    ASSERT_EQ(ms.size(), 6u);
    const double avg = ms[0], min = ms[1], p50 = ms[2], p95 = ms[3], p99 = ms[4], max = ms[5];
    EXPECT_LE(min, avg) << lines[i + 1];
    EXPECT_LE(avg, max) << lines[i + 1];
    EXPECT_LE(min, p50) << lines[i + 1];
    EXPECT_LE(p50, p95) << lines[i + 1];
    EXPECT_LE(p95, p99) << lines[i + 1];
    EXPECT_LE(p99, max) << lines[i + 1];
  }
}

TEST_F(BenchTest, QuietPrintsOneLinePerTestThenAnEmptyLine) {
  auto r = bench({"-n", "200", "-c", "2", "-t", "set,get,mset", "-q"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const std::regex all(
      R"re(SET: [0-9]+\.[0-9]{2} requests per second, p50=[0-9]+\.[0-9]{3} msec\n)re"
      R"re(GET: [0-9]+\.[0-9]{2} requests per second, p50=[0-9]+\.[0-9]{3} msec\n)re"
      R"re(MSET \(10 keys\): [0-9]+\.[0-9]{2} requests per second, p50=[0-9]+\.[0-9]{3} msec\n)re"
      R"re(\n)re");
  EXPECT_TRUE(std::regex_match(r.out, all)) << r.out;
}

TEST_F(BenchTest, SequentialWritesEveryKeyOfTheKeySpaceOnce) {
  // 12 msets of 10 keys over 100 keys: key:000000000000 .. key:000000000099.
  auto r = bench({"-n", "12", "-c", "2", "-P", "2", "-r", "100", "--sequential", "-t", "mset", "-d",
                  "32", "-q"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto keys = cli({"keys"});
  ASSERT_EQ(keys.code, 0) << keys.err;
  const auto listed = lines_of(keys.out);
  ASSERT_EQ(listed.size(), 100u) << keys.out;
  for (int i = 0; i < 100; ++i) {
    char want[32];
    std::snprintf(want, sizeof want, "key:%012d", i);
    EXPECT_EQ(listed[static_cast<std::size_t>(i)], want);
  }
  auto value = cli({"get", "key:000000000042"});
  EXPECT_EQ(value.code, 0);
  EXPECT_EQ(value.out, std::string(32, 'x'));
}

// A port bound but not listening (connections are refused), and one nobody
// holds: either way one line on stderr and exit 3, within a few timeouts.
TEST_F(BenchTest, UnreachableNodeExitsThreeWithOneLine) {
  const test::RefusingPort refusing;
  ASSERT_NE(refusing.address(), "");
  const std::string bound = refusing.address();
  const std::string nobody = "127.0.0.1:" + std::to_string(free_port());
  for (const auto& node : {bound, nobody}) {
    const auto started = std::chrono::steady_clock::now();
    auto r = bench({"-n", "10", "--timeout", "300", "-t", "set"}, node);
    EXPECT_EQ(r.code, 3) << node << ": " << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err.rfind("dendrite-bench: cannot reach " + node + ": ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_LT(std::chrono::steady_clock::now() - started, 15s) << node;
  }
}

TEST_F(BenchTest, UsageErrorsExitTwo) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"-t", "set,incr"},
                                                                {"--sequential", "-t", "set"},
                                                                {"-n", "0"},
                                                                {"--consistency", "9"}}) {
    auto r = bench(args);
    EXPECT_EQ(r.code, 2) << args[0] << ": " << r.err;
    EXPECT_EQ(r.out, "") << args[0];
    EXPECT_EQ(r.err.rfind("dendrite-bench: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

// One node cannot hold two copies: every write fails with "consistency not met".
TEST_F(BenchTest, ConsistencyNotMetExitsFour) {
  auto r = bench({"-n", "20", "-c", "2", "-t", "set", "--consistency", "2", "-q"});
  EXPECT_EQ(r.code, 4) << r.err;
  EXPECT_NE(r.err.find("consistency not met"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

}  // namespace
}  // namespace dendrite::test
