// Overload: a dendrited whose handler holds every request for 2 s is flooded
// with 20,000 requests of 16 KiB (about 320 MB offered). The node must answer
// each one, the excess with Err "busy", keep its memory bounded by its pending
// limits instead of holding the flood, and serve normally afterwards.
#include <signal.h>
#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "dendrite/client/ring_view.h"
#include "dendrite/message.h"
#include "plugins/include/test_plugins/test_plugins.h"
#include "support/process.h"
#include "support/programs.h"
#include "support/serving.h"

namespace dendrite::test {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;  // their allocators keep freed memory: RSS says little
#else
constexpr bool kSanitized = false;
#endif

// A field of /proc/<pid>/status in bytes (VmRSS, VmHWM), or -1.
long long status_bytes(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1)) * 1024;
  }
  return -1;
}

// Replies seen by a raw DEALER client, by kind.
struct Tally {
  long ok = 0, busy = 0, other = 0;
  std::string first_other;
  long total() const { return ok + busy + other; }
  void add(const zmq::message_t& payload) {
    const auto* p = static_cast<const char*>(payload.data());
    const std::string text(p + (payload.size() > 0 ? 1 : 0),
                           payload.size() > 0 ? payload.size() - 1 : 0);
    if (payload.size() > 0 && static_cast<MessageType>(p[0]) == test_plugins::kSlowReply) {
      ++ok;
    } else if (payload.size() > 0 && static_cast<MessageType>(p[0]) == msg::kErr &&
               text.find("busy: ") != std::string::npos) {
      ++busy;
    } else {
      if (other++ == 0) first_other = text;
    }
  }
};

// Sends `n` requests of `bytes` to `address` as fast as the socket takes them
// while reading replies, until every one is answered or `limit` passes.
Tally flood(const std::string& address, long n, std::size_t bytes, std::chrono::seconds limit) {
  zmq::context_t ctx;
  zmq::socket_t s(ctx, zmq::socket_type::dealer);
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::rcvhwm, 0);
  s.connect("tcp://" + address);
  std::string payload(bytes + 1, 'f');
  payload[0] = static_cast<char>(test_plugins::kSlowRequest);
  Tally t;
  long sent = 0;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (t.total() < n && std::chrono::steady_clock::now() < deadline) {
    zmq::pollitem_t item{s.handle(), 0,
                         static_cast<short>(ZMQ_POLLIN | (sent < n ? ZMQ_POLLOUT : 0)), 0};
    zmq::poll(&item, 1, 100ms);
    if ((item.revents & ZMQ_POLLOUT) && sent < n) {
      const std::uint32_t id = static_cast<std::uint32_t>(sent);
      std::array<zmq::const_buffer, 3> parts{zmq::buffer(&id, sizeof id), zmq::const_buffer(),
                                             zmq::buffer(payload)};
      if (zmq::send_multipart(s, parts, zmq::send_flags::dontwait)) ++sent;
    }
    std::vector<zmq::message_t> reply;
    while (zmq::recv_multipart(s, std::back_inserter(reply), zmq::recv_flags::dontwait)) {
      if (!reply.empty()) t.add(reply.back());
      reply.clear();
    }
  }
  return t;
}

TEST(OverloadTest, FloodGetsBusyRepliesMemoryStaysBoundedServiceResumes) {
  TempDir dir;
  const std::string address = "127.0.0.1:" + std::to_string(free_port());
  json config = {{"listen", address},
                 {"vnodes", 1},
                 {"workers", {{"min", 2}, {"max", 8}, {"idle_ms", 2000}}},
                 {"limits", {{"max_pending", 512}, {"max_pending_bytes", 8 << 20}}},
                 {"plugins",
                  {{{"name", "slow"},
                    {"path", test::test_plugin_dir() + "/libslow.so"},
                    {"config", {{"delay_ms", 2000}}}}}}};
  const std::string config_path = dir.write("node.json", config.dump(2));
  Process node({test::program("dendrited"), "--config", config_path}, dir.path() + "/node.out",
               dir.path() + "/node.err");
  bool up = false;
  for (int i = 0; i < 600 && !up && node.running(); ++i) {
    up = serving(address, 500ms);
    if (!up) std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(up) << read_file(dir.path() + "/node.err");
  const long long rss_before = status_bytes(node.pid(), "VmRSS");

  constexpr long kRequests = 20000;
  constexpr std::size_t kBytes = 16 * 1024;
  const Tally t = flood(address, kRequests, kBytes, 240s);
  std::cout << "flood: " << t.ok << " served, " << t.busy << " busy, " << t.other << " other\n";
  EXPECT_EQ(t.total(), kRequests) << "not every request was answered";
  EXPECT_EQ(t.other, 0) << t.first_other;
  EXPECT_GT(t.busy, 0) << "a flood of " << kRequests << " held requests met no limit";
  EXPECT_GE(t.ok, 512) << "the pending room was not used";

  // What the node ever held: the pending limit (8 MiB) and socket buffers, not
  // the 320 MB offered.
  const long long peak = status_bytes(node.pid(), "VmHWM");
  std::cout << "node RSS before " << rss_before / (1 << 20) << " MiB, peak " << peak / (1 << 20)
            << " MiB\n";
  if (kSanitized) {
    std::cout << "(sanitizer build: the memory bound is checked in release builds only)\n";
  } else {
    EXPECT_LT(peak - rss_before, 160ll << 20)
        << "the node grew by " << (peak - rss_before) / (1 << 20) << " MiB under the flood";
  }

  // Afterwards it serves normally: a round of requests within the limits, none busy.
  const Tally after = flood(address, 100, 100, 60s);
  EXPECT_EQ(after.ok, 100) << after.busy << " busy, " << after.other << " other "
                           << after.first_other;

  node.signal(SIGTERM);
  auto code = node.wait_for(60s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0) << read_file(dir.path() + "/node.err");
}

}  // namespace
}  // namespace dendrite::test
