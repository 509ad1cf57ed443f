// The resp plugin against Redis clients we did not write: hiredis (linked
// here), redis-cli (commands, --pipe), redis-py and redis-benchmark, on a ring
// of three dendrited processes with dtable and resp; and input that breaks the
// protocol or never reads its replies.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>

#include "dendrite/client/dtable_client.h"
#include "support/eventually.h"
#include "support/node_json.h"
#include "support/process.h"
#include "support/programs.h"
#include "support/ring_settled.h"
#include "support/serving.h"
#include "support/tls_files.h"

namespace dendrite::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr auto kSettle = 90s;
constexpr auto kPoll = 100ms;
constexpr int kVnodes = 3;
// How much a client that never reads may grow a node's RSS. Sanitizers
// multiply every allocation (TSan's shadow memory; ASan keeps freed blocks in
// a 256 MiB quarantine), so there the bound only tells bounded from unbounded
// (gigabytes within seconds).
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr std::size_t kGrowthBound = std::size_t{768} << 20;
#else
constexpr std::size_t kGrowthBound = std::size_t{128} << 20;
#endif

// A hiredis connection; cmd() answers each reply as redis-cli would print it
// ("OK", "(nil)", "(integer) 2", "(error) ERR ...", "[a, (nil)]").
class Redis {
 public:
  explicit Redis(int port) {
    const timeval tv{10, 0};
    c_ = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c_ != nullptr && c_->err == 0) redisSetTimeout(c_, timeval{30, 0});
  }
  ~Redis() {
    if (c_ != nullptr) redisFree(c_);
  }
  Redis(const Redis&) = delete;
  Redis& operator=(const Redis&) = delete;

  bool ok() const { return c_ != nullptr && c_->err == 0; }

  std::string cmd(const std::vector<std::string>& args) {
    append(args);
    return next();
  }
  // Sends a command without waiting for its reply (pipelining).
  void append(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    redisAppendCommandArgv(c_, static_cast<int>(args.size()), argv.data(), lens.data());
  }
  // One SCAN page from `cursor`: the next cursor and the keys, or false with
  // the reason in `why`.
  bool scan(const std::string& cursor, int count, std::string* next_cursor,
            std::vector<std::string>* keys, std::string* why) {
    const std::string n = std::to_string(count);
    const char* argv[] = {"SCAN", cursor.c_str(), "COUNT", n.c_str()};
    auto* r = static_cast<redisReply*>(redisCommandArgv(c_, 4, argv, nullptr));
    if (r == nullptr) {
      *why = "connection error: " + std::string(c_->errstr);
      return false;
    }
    const bool ok = r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                    r->element[0]->type == REDIS_REPLY_STRING &&
                    r->element[1]->type == REDIS_REPLY_ARRAY;
    if (ok) {
      *next_cursor = std::string(r->element[0]->str, r->element[0]->len);
      keys->clear();
      for (std::size_t i = 0; i < r->element[1]->elements; ++i) {
        const redisReply* k = r->element[1]->element[i];
        keys->emplace_back(k->str, k->len);
      }
    } else {
      *why = show(r);
    }
    freeReplyObject(r);
    return ok;
  }
  // The next reply.
  std::string next() {
    void* r = nullptr;
    if (redisGetReply(c_, &r) != REDIS_OK || r == nullptr) {
      return "(connection error) " + std::string(c_->errstr);
    }
    std::string text = show(static_cast<redisReply*>(r));
    freeReplyObject(r);
    return text;
  }

 private:
  static std::string show(const redisReply* r) {
    switch (r->type) {
      case REDIS_REPLY_STATUS:
      case REDIS_REPLY_STRING:
        return std::string(r->str, r->len);
      case REDIS_REPLY_ERROR:
        return "(error) " + std::string(r->str, r->len);
      case REDIS_REPLY_INTEGER:
        return "(integer) " + std::to_string(r->integer);
      case REDIS_REPLY_NIL:
        return "(nil)";
      case REDIS_REPLY_ARRAY: {
        std::string out = "[";
        for (std::size_t i = 0; i < r->elements; ++i) {
          out += (i ? ", " : "") + show(r->element[i]);
        }
        return out + "]";
      }
      default:
        return "(type " + std::to_string(r->type) + ")";
    }
  }

  redisContext* c_ = nullptr;
};

// A raw TCP connection to 127.0.0.1:port, for bytes no client library sends.
class RawSocket {
 public:
  explicit RawSocket(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
    const timeval tv{20, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  // Ends both directions (a send blocked in another thread returns).
  void shut_down() { ::shutdown(fd_, SHUT_RDWR); }
  bool send_all(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<std::size_t>(n);
    }
    return true;
  }
  // Everything received until the peer closes (or the receive timeout).
  std::string read_to_end() {
    std::string out;
    char buf[4096];
    while (true) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
  // Reads until `want` bytes arrived (or the peer closes / times out).
  std::string read_exactly(std::size_t want) {
    std::string out;
    char buf[4096];
    while (out.size() < want) {
      const ssize_t n = ::recv(fd_, buf, std::min(sizeof buf, want - out.size()), 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }

 private:
  int fd_ = -1;
};

// The resident set of process `pid` in bytes (0 when unreadable).
std::size_t resident_bytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

class RespClientsTest : public ::testing::Test {
 protected:
  struct Node {
    std::string address;
    int resp_port = 0;
    std::unique_ptr<Process> process;
  };

  void SetUp() override {
    const std::string a = start_node("a", {});
    const std::string b = start_node("b", {a});
    const std::string c = start_node("c", {a});
    ASSERT_TRUE(ring_settled({a, b, c}, kVnodes, kDefaultNumSuccessors, kSettle, kPoll));
    ASSERT_TRUE(eventually(
        [&] {
          return Redis(port("a")).cmd({"SET", "probe", "x"}) == "OK";
        },
        kSettle, kPoll));
  }

  void TearDown() override {
    for (auto& [name, node] : nodes_) {
      if (node.process->running()) node.process->signal(SIGTERM);
    }
    for (auto& [name, node] : nodes_) {
      auto code = node.process->wait_for(kSettle);
      EXPECT_TRUE(code.has_value()) << "node " << name << " ignored SIGTERM";
      if (code) {
        EXPECT_EQ(*code, 0) << "node " << name;
      }
    }
    std::vector<std::pair<std::string, std::string>> names;
    for (const auto& [name, node] : nodes_) names.emplace_back(name, node.address);
    check_node_logs(dir_.path(), names, HasFailure());
    nodes_.clear();
  }

  std::string start_node(const std::string& name, const std::vector<std::string>& join,
                         json resp_extra = json::object(), json storage = {{"engine", "memory"}}) {
    const std::string address = "127.0.0.1:" + std::to_string(free_port());
    const int resp_port = free_port();
    json doc = test_node_json(address, join, kVnodes);
    doc["plugins"] = json::array({{{"name", "dtable"}, {"config", {{"storage", storage}}}},
                                  {{"name", "resp"},
                                   {"config",
                                    {{"listen", "127.0.0.1:" + std::to_string(resp_port)},
                                     {"output_buffer_bytes", 1 << 20}}}}});
    doc["plugins"][1]["config"].update(resp_extra);
    const std::string config = dir_.write(name + ".json", doc.dump(2));
    Node node{address, resp_port,
              std::make_unique<Process>(
                  std::vector<std::string>{program("dendrited"), "--config", config},
                  dir_.path() + "/" + name + ".out", dir_.path() + "/" + name + ".err")};
    Process& p = *node.process;
    nodes_[name] = std::move(node);
    EXPECT_TRUE(
        eventually([&] { return !p.running() || serving(address, 500ms); }, kSettle, kPoll) &&
        p.running())
        << "node " << name << " did not come up";
    return address;
  }

  int port(const std::string& name) const { return nodes_.at(name).resp_port; }

  RunResult shell(const std::string& command) {
    return run({"/bin/sh", "-c", command}, dir_.path(), 120s);
  }

  TempDir dir_;
  std::map<std::string, Node> nodes_;
};

TEST_F(RespClientsTest, KeysWrittenThroughOneFrontEndAreReadThroughEvery) {
  Redis a(port("a")), b(port("b")), c(port("c"));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  // 300 pipelined writes: the replies come back in order, one per command.
  constexpr int kKeys = 300;
  for (int i = 0; i < kKeys; ++i)
    a.append({"SET", "k" + std::to_string(i), "v" + std::to_string(i)});
  for (int i = 0; i < kKeys; ++i) ASSERT_EQ(a.next(), "OK") << i;
  for (int i = 0; i < kKeys; ++i) b.append({"GET", "k" + std::to_string(i)});
  for (int i = 0; i < kKeys; ++i) ASSERT_EQ(b.next(), "v" + std::to_string(i)) << i;
  EXPECT_EQ(c.cmd({"MGET", "k1", "nope", "k299"}), "[v1, (nil), v299]");
  EXPECT_EQ(c.cmd({"MSET", "m1", "x", "m2", std::string("bin\0\r\n", 6)}), "OK");
  EXPECT_EQ(a.cmd({"STRLEN", "m2"}), "(integer) 6");
  EXPECT_EQ(b.cmd({"EXISTS", "m1", "m2", "nope"}), "(integer) 2");
  EXPECT_EQ(c.cmd({"DEL", "m1", "m2", "nope"}), "(integer) 2");
  EXPECT_EQ(a.cmd({"GET", "m1"}), "(nil)");
  // A consistency level per connection, checked against the ring's replicas.
  EXPECT_EQ(a.cmd({"CLIENT", "CONSISTENCY", "3"}), "OK");
  EXPECT_EQ(a.cmd({"SET", "all-copies", "y"}), "OK");
  EXPECT_EQ(a.cmd({"GET", "all-copies"}), "y");
  EXPECT_EQ(a.cmd({"CLIENT", "CONSISTENCY", "4"}),
            "(error) ERR consistency must be an integer from 1 to 3 (replicas + 1)");
}

TEST_F(RespClientsTest, RedisCliCommandsAndMassInsertion) {
  const std::string cli = "redis-cli -p " + std::to_string(port("b"));
  auto set = shell(cli + " set greeting 'hello world'");
  EXPECT_EQ(set.code, 0) << set.err;
  EXPECT_EQ(set.out, "OK\n");
  auto get = shell("redis-cli -p " + std::to_string(port("c")) + " get greeting");
  EXPECT_EQ(get.out, "hello world\n");
  auto hello = shell(cli + " -3 hello 3");
  EXPECT_NE(hello.out.find("proto 3\n"), std::string::npos) << hello.out;
  auto unknown = shell(cli + " nosuchcommand x");
  // Byte for byte what redis-cli prints for redis-server's reply.
  EXPECT_EQ(unknown.out, "ERR unknown command 'nosuchcommand', with args beginning with: 'x' \n\n");
  // --pipe: 5,000 SETs in the protocol, as the Redis docs' mass insertion.
  std::string pipe;
  for (int i = 0; i < 5000; ++i) {
    const std::string k = "pipe:" + std::to_string(i), v = std::to_string(i * 7);
    pipe += "*3\r\n$3\r\nSET\r\n$" + std::to_string(k.size()) + "\r\n" + k + "\r\n$" +
            std::to_string(v.size()) + "\r\n" + v + "\r\n";
  }
  dir_.write("pipe.txt", pipe);
  auto mass = shell("cat pipe.txt | " + cli + " --pipe");
  EXPECT_EQ(mass.code, 0) << mass.out << mass.err;
  EXPECT_NE(mass.out.find("errors: 0, replies: 5000"), std::string::npos) << mass.out;
  Redis a(port("a"));
  EXPECT_EQ(a.cmd({"MGET", "pipe:0", "pipe:4999"}), "[0, 34993]");
  // --scan walks the ring through one node: every key, whichever node holds it.
  auto scan = shell("redis-cli -p " + std::to_string(port("c")) +
                    " --scan --pattern 'pipe:*' | sort -u | wc -l");
  EXPECT_EQ(scan.out, "5000\n") << scan.err;
  auto keys = shell(cli + " keys 'pipe:12?' | sort | tr '\\n' ' '");
  EXPECT_EQ(keys.out,
            "pipe:120 pipe:121 pipe:122 pipe:123 pipe:124 pipe:125 pipe:126 pipe:127 "
            "pipe:128 pipe:129 ")
      << keys.err;
  auto dbsize = shell(cli + " dbsize");
  EXPECT_EQ(dbsize.out, "5002\n") << dbsize.err;  // and "probe", "greeting"
}

// A walk with SCAN, page by page through one front end, while a fourth node
// joins and takes its share of the keys: every key is listed.
TEST_F(RespClientsTest, ScanListsEveryKeyWhileANodeJoins) {
  Redis a(port("a"));
  ASSERT_TRUE(a.ok());
  constexpr int kKeys = 1500;
  for (int i = 0; i < kKeys; ++i) a.append({"SET", "scan:" + std::to_string(i), "v"});
  for (int i = 0; i < kKeys; ++i) ASSERT_EQ(a.next(), "OK") << i;
  Redis b(port("b"));
  std::set<std::string> listed;
  std::string cursor = "0", next, why;
  std::vector<std::string> keys;
  std::string d;
  for (int page = 0;; ++page) {
    ASSERT_LT(page, 10000) << "the walk did not end";
    ASSERT_TRUE(b.scan(cursor, 30, &next, &keys, &why)) << "page " << page << ": " << why;
    for (const auto& k : keys) {
      if (k.rfind("scan:", 0) == 0) listed.insert(k);
    }
    if (page == 3) d = start_node("d", {nodes_.at("a").address});
    if (page > 3) std::this_thread::sleep_for(40ms);  // spread the walk over the hand-over
    if (next == "0") break;
    cursor = next;
  }
  EXPECT_EQ(listed.size(), static_cast<std::size_t>(kKeys));
  ASSERT_TRUE(
      ring_settled({nodes_.at("a").address, nodes_.at("b").address, nodes_.at("c").address, d},
                   kVnodes, kDefaultNumSuccessors, kSettle, kPoll));
  auto again = shell("redis-cli -p " + std::to_string(port("d")) +
                     " --scan --pattern 'scan:*' | sort -u | wc -l");
  EXPECT_EQ(again.out, std::to_string(kKeys) + "\n") << again.err;
}

TEST_F(RespClientsTest, RedisPyUsesEveryNode) {
  const std::string script = dir_.write("client.py", R"PY(
import sys
import redis

ports = [int(p) for p in sys.argv[1:]]
clients = [redis.Redis(host="127.0.0.1", port=p, socket_timeout=30) for p in ports]
a, b, c = clients
assert a.ping() is True
assert a.set("py:name", "Ada") is True
assert b.get("py:name") == b"Ada"
assert c.mset({"py:1": "one", "py:2": "two"}) is True
assert a.mget(["py:1", "py:2", "py:none"]) == [b"one", b"two", None]
assert b.exists("py:1", "py:2", "py:none") == 2
assert c.strlen("py:name") == 3
assert a.type("py:name") == b"string"
assert b.delete("py:1", "py:none") == 1
assert c.get("py:1") is None
assert a.client_setname("py-app") is True
assert a.client_getname() == "py-app"
assert any(cl.get("name") == "py-app" for cl in b.client_list()) is False
assert any(cl.get("name") == "py-app" for cl in a.client_list())
info = a.info()
assert info["redis_version"] and info["connected_clients"] >= 1
pipe = b.pipeline(transaction=False)
for i in range(200):
    pipe.set(f"py:p{i}", i)
assert all(r is True for r in pipe.execute())
assert [int(v) for v in c.mget([f"py:p{i}" for i in range(200)])] == list(range(200))
try:
    a.execute_command("NOSUCH")
    raise SystemExit("NOSUCH did not fail")
except redis.ResponseError as e:
    assert "unknown command" in str(e)
print("ok")
)PY");
  auto r = run({"/usr/bin/python3", script, std::to_string(port("a")), std::to_string(port("b")),
                std::to_string(port("c"))},
               dir_.path(), 120s);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "ok\n") << r.err;
}

// redis-py through every node: conditional sets, counters from three
// clients at once, expiries; then the host of a third of the primaries is
// killed (-9) and, once the two others settled, the expired keys read as
// absent through both (their replicas answer now), the later expiries and
// the counters are unchanged.
TEST_F(RespClientsTest, ExpiriesAndCountersHoldAcrossAFailover) {
  const std::string before = dir_.write("before.py", R"PY(
import sys, threading, time
import redis

clients = [redis.Redis(host="127.0.0.1", port=int(p), socket_timeout=30) for p in sys.argv[1:]]
a, b, c = clients
assert a.set("t:nx", "first", nx=True) is True
assert b.set("t:nx", "second", nx=True) is None
assert c.set("t:xx", "x", xx=True) is None
assert a.set("t:nx", "third", xx=True, get=True) == b"first"
assert b.setnx("t:nx", "no") is False
assert c.append("t:nx", "-more") == 10
assert a.getdel("t:nx") == b"third-more"
assert b.get("t:nx") is None
assert c.incrbyfloat("t:f", "2.5") == 2.5
for i in range(40):
    clients[i % 3].set(f"t:short:{i}", "s", px=4000)
    clients[(i + 1) % 3].setex(f"t:long:{i}", 3600, "l")
assert 3590 <= a.ttl("t:long:0") <= 3600
assert 3590000 < b.pttl("t:long:2") <= 3600000
assert c.persist("t:long:1") is True and a.ttl("t:long:1") == -1
assert b.expire("t:long:1", 3600, nx=True) is True

def count(client):
    for _ in range(100):
        for k in range(5):
            client.incr(f"t:ctr:{k}")

threads = [threading.Thread(target=count, args=(cl,)) for cl in clients]
for t in threads: t.start()
for t in threads: t.join()
assert [int(a.get(f"t:ctr:{k}")) for k in range(5)] == [300] * 5
print(int(time.time() * 1000) + 4000)
)PY");
  const std::string after = dir_.write("after.py", R"PY(
import sys, time
import redis

expiry_ms = int(sys.argv[1])
clients = [redis.Redis(host="127.0.0.1", port=int(p), socket_timeout=30) for p in sys.argv[2:]]
while time.time() * 1000 < expiry_ms + 100:
    time.sleep(0.05)
for n, cl in enumerate(clients):
    for i in range(40):
        assert cl.get(f"t:short:{i}") is None, (n, i)
        assert cl.ttl(f"t:short:{i}") == -2, (n, i)
        assert cl.get(f"t:long:{i}") == b"l", (n, i)
        assert 3500 <= cl.ttl(f"t:long:{i}") <= 3600, (n, i, cl.ttl(f"t:long:{i}"))
    # (each client adds one to the first counter after checking)
    assert [int(cl.get(f"t:ctr:{k}")) for k in range(5)] == [300 + n] + [300] * 4, n
    assert cl.incr("t:ctr:0") == 301 + n
    assert not [k for k in cl.scan_iter("t:short:*")], n
print("ok")
)PY");
  auto r = run({"/usr/bin/python3", before, std::to_string(port("a")), std::to_string(port("b")),
                std::to_string(port("c"))},
               dir_.path(), 120s);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const std::string expiry = r.out.substr(0, r.out.find('\n'));
  nodes_.at("c").process->signal(SIGKILL);
  ASSERT_TRUE(nodes_.at("c").process->wait_for(kSettle).has_value());
  nodes_.erase("c");
  ASSERT_TRUE(ring_settled({nodes_.at("a").address, nodes_.at("b").address}, kVnodes,
                           kDefaultNumSuccessors, kSettle, kPoll));
  r = run({"/usr/bin/python3", after, expiry, std::to_string(port("a")), std::to_string(port("b"))},
          dir_.path(), 120s);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "ok\n") << r.err;
}

// A GET whose primary went silent (SIGSTOP: no answer, no error) waits for
// its attempt to time out and then for the copies, which a worker reads
// (after the async attempt when the node sends one, else in the blocking
// call; the test does not tell which). A client that leaves meanwhile, and
// a node stopped meanwhile, harm nothing; a client that stays gets the
// copies' value.
TEST_F(RespClientsTest, RepliesWaitingOnASilentPrimarySurviveLeavingClientsAndAStop) {
  std::string key;
  {
    auto client = client::DtableClient::connect(nodes_.at("a").address);
    ASSERT_TRUE(client.ok()) << client.status().to_string();
    for (int i = 0; i < 400 && key.empty(); ++i) {
      const std::string k = "silent:" + std::to_string(i);
      if ((*client)->primary_of(k).host == nodes_.at("c").address) key = k;
    }
    ASSERT_FALSE(key.empty());
    ASSERT_TRUE((*client)->set(key, "kept", 3).ok());
  }
  nodes_.at("c").process->signal(SIGSTOP);
  const std::string get =
      "*2\r\n$3\r\nGET\r\n$" + std::to_string(key.size()) + "\r\n" + key + "\r\n";
  {
    RawSocket leaving(port("a"));
    ASSERT_TRUE(leaving.ok());
    ASSERT_TRUE(leaving.send_all(get));
  }  // gone before its reply
  RawSocket staying(port("a"));
  ASSERT_TRUE(staying.ok());
  ASSERT_TRUE(staying.send_all(get));
  EXPECT_EQ(staying.read_exactly(10), "$4\r\nkept\r\n");
  // A read still waiting when the node is asked to stop: it stops, cleanly,
  // and the client gets the reply or a closed connection.
  RawSocket pending(port("a"));
  ASSERT_TRUE(pending.ok());
  ASSERT_TRUE(pending.send_all(get));
  std::this_thread::sleep_for(200ms);
  nodes_.at("a").process->signal(SIGTERM);
  const auto code = nodes_.at("a").process->wait_for(kSettle);
  nodes_.at("c").process->signal(SIGKILL);
  ASSERT_TRUE(nodes_.at("c").process->wait_for(kSettle).has_value());
  nodes_.erase("c");
  ASSERT_TRUE(code.has_value()) << "node a did not stop";
  EXPECT_EQ(*code, 0);
  const std::string last = pending.read_to_end();
  EXPECT_TRUE(last.empty() || last == "$4\r\nkept\r\n") << last;
}

TEST_F(RespClientsTest, RedisBenchmarkCompletesWithoutErrors) {
  auto r = shell("redis-benchmark -p " + std::to_string(port("a")) +
                 " -t ping,set,get,incr,mset -n 2000 -c 8 -q 2>&1");
  EXPECT_EQ(r.code, 0) << r.out;
  for (const char* test : {"PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "MSET (10 keys)"}) {
    EXPECT_NE(r.out.find(std::string(test) + ": "), std::string::npos) << test << "\n" << r.out;
  }
  EXPECT_EQ(r.out.find("ERR"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("rror"), std::string::npos) << r.out;
}

TEST_F(RespClientsTest, BrokenInputClosesOnlyItsOwnConnection) {
  // A half-sent command waits; other clients are served meanwhile.
  RawSocket half(port("a"));
  ASSERT_TRUE(half.ok());
  ASSERT_TRUE(half.send_all("*2\r\n$4\r\nECHO\r\n$5\r\nhel"));
  Redis other(port("a"));
  EXPECT_EQ(other.cmd({"PING"}), "PONG");
  ASSERT_TRUE(half.send_all("lo\r\n"));
  EXPECT_EQ(half.read_exactly(11), "$5\r\nhello\r\n");

  struct Case {
    std::string bytes, reply;
  };
  const Case cases[] = {
      {"*1\r\n$-5\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
      {"*2\r\n$3\r\nGET\r\n$1099511627776\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
      {"*1\r\n:12\r\n", "-ERR Protocol error: expected '$', got ':'\r\n"},
      {"*zz\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
      {"SET \"unclosed\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"},
      {"PING\r\n\xff\xfe\r\n*1\r\n$-1\r\n",
       "+PONG\r\n-ERR unknown command '\xff\xfe', "
       "with args beginning with: \r\n"
       "-ERR Protocol error: invalid bulk length\r\n"},
  };
  for (const Case& c : cases) {
    RawSocket s(port("a"));
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE(s.send_all(c.bytes));
    EXPECT_EQ(s.read_to_end(), c.reply) << "for " << c.bytes;  // then closed
  }
  // Inline commands, as typed into telnet.
  RawSocket inline_client(port("b"));
  ASSERT_TRUE(inline_client.send_all("SET inline \"two words\"\r\nGET inline\r\nQUIT\r\n"));
  EXPECT_EQ(inline_client.read_to_end(), "+OK\r\n$9\r\ntwo words\r\n+OK\r\n");
  // Nothing after QUIT runs, even when it came in the same packet.
  RawSocket quitter(port("c"));
  ASSERT_TRUE(quitter.send_all("SET q1 a\r\nQUIT\r\nSET q2 b\r\n"));
  EXPECT_EQ(quitter.read_to_end(), "+OK\r\n+OK\r\n");
  EXPECT_EQ(other.cmd({"MGET", "q1", "q2"}), "[a, (nil)]");
  EXPECT_EQ(other.cmd({"PING"}), "PONG");
}

TEST_F(RespClientsTest, AClientThatNeverReadsDoesNotGrowTheNode) {
  Redis a(port("a"));
  ASSERT_EQ(a.cmd({"SET", "big", std::string(1 << 20, 'x')}), "OK");
  const pid_t pid = nodes_.at("a").process->pid();
  const std::size_t before = resident_bytes(pid);
  // 3,000 GETs of 1 MiB (3 GiB of replies) and never a read.
  RawSocket greedy(port("a"));
  ASSERT_TRUE(greedy.ok());
  std::string pipeline;
  for (int i = 0; i < 3000; ++i) pipeline += "*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n";
  std::thread sender([&] { greedy.send_all(pipeline); });
  // Other clients are served; the node holds about output_buffer_bytes (1 MiB
  // here) plus the socket buffers for it, not gigabytes (without the bound it
  // grew by over 200 MiB within 3 s).
  std::size_t peak = before;
  for (int i = 0; i < 30; ++i) {
    std::this_thread::sleep_for(200ms);
    peak = std::max(peak, resident_bytes(pid));
  }
  EXPECT_EQ(a.cmd({"PING"}), "PONG");
  EXPECT_EQ(a.cmd({"STRLEN", "big"}), "(integer) 1048576");
  EXPECT_LT(peak, before + kGrowthBound) << "before " << before << " peak " << peak;
  greedy.shut_down();  // unblocks the sender; the node drops the rest
  sender.join();
  EXPECT_TRUE(eventually([&] { return a.cmd({"PING"}) == "PONG"; }, 20s, kPoll));
}

// 10,000 idle connections (Redis's default maxclients): all accepted, others
// still served, the node's memory bounded by a few KiB per connection.
TEST_F(RespClientsTest, TenThousandIdleConnectionsLeaveTheNodeServing) {
  constexpr std::size_t kIdle = 10000;
  rlimit lim{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &lim), 0);
  if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < kIdle + 512) {
    GTEST_SKIP() << "needs " << kIdle + 512 << " open files; the hard limit is " << lim.rlim_max;
  }
  lim.rlim_cur = lim.rlim_max == RLIM_INFINITY ? kIdle + 512 : lim.rlim_max;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lim), 0);
  // A node started now inherits the limit (the plugin raises its own too).
  start_node("many", {nodes_.at("a").address}, {{"max_clients", kIdle + 100}});
  const int p = port("many");
  const pid_t pid = nodes_.at("many").process->pid();
  Redis probe(p);
  ASSERT_TRUE(probe.ok());
  // 200 SET+GET round trips: their p50 and p99, for the log.
  const auto round_trips = [](Redis& r) {
    std::vector<double> ms;
    for (int i = 0; i < 200; ++i) {
      const auto start = std::chrono::steady_clock::now();
      EXPECT_EQ(r.cmd({"SET", "idle:" + std::to_string(i), "v"}), "OK");
      EXPECT_EQ(r.cmd({"GET", "idle:" + std::to_string(i)}), "v");
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count());
    }
    std::sort(ms.begin(), ms.end());
    return "p50 " + std::to_string(ms[100]) + " ms, p99 " + std::to_string(ms[198]) + " ms";
  };
  const std::string quiet = round_trips(probe);
  const std::size_t before = resident_bytes(pid);

  std::vector<int> idle;
  idle.reserve(kIdle);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(p));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (std::size_t i = 0; i < kIdle; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0) << "socket " << i << ": " << std::strerror(errno);
    idle.push_back(fd);
    ASSERT_EQ(connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0)
        << "connection " << i << ": " << std::strerror(errno);
  }
  const std::string all = "connected_clients:" + std::to_string(kIdle + 1) + "\r\n";
  EXPECT_TRUE(eventually(
      [&] {
        return probe.cmd({"INFO", "clients"}).find(all) != std::string::npos;
      },
      kSettle, kPoll))
      << probe.cmd({"INFO", "clients"});

  // Another client is served as before (latency printed, not asserted).
  const std::string loaded = round_trips(probe);
  const std::size_t after = resident_bytes(pid);
  std::cout << "SET+GET with no idle connection: " << quiet << "; with " << kIdle << ": " << loaded
            << "; node RSS +" << (after - std::min(after, before)) / kIdle
            << " bytes per idle connection\n";
  // A few KiB each (1.2 KiB measured); far more under sanitizers.
  EXPECT_LT(after, before + kIdle * (kGrowthBound / 8192)) << "before " << before;
  for (int fd : idle) close(fd);
  const std::string one = "connected_clients:1\r\n";
  EXPECT_TRUE(eventually(
      [&] {
        return probe.cmd({"INFO", "clients"}).find(one) != std::string::npos;
      },
      kSettle, kPoll));
}

TEST_F(RespClientsTest, UsersMustAuthenticateWithRealClients) {
  const std::string pass_file = dir_.write("app.pass", "wonderland\n");
  ASSERT_EQ(chmod(pass_file.c_str(), 0600), 0);
  start_node("secure", {},
             {{"users", json::array({{{"name", "app"}, {"password_file", pass_file}}})}});
  const std::string p = std::to_string(port("secure"));
  auto denied = shell("redis-cli -p " + p + " get x");
  EXPECT_EQ(denied.out, "NOAUTH Authentication required.\n\n");
  auto wrong = shell("redis-cli --no-auth-warning -p " + p + " --user app --pass nope get x");
  // redis-cli reports the failed AUTH on stderr, then runs the command anyway.
  EXPECT_NE(wrong.err.find("AUTH failed: WRONGPASS"), std::string::npos) << wrong.out << wrong.err;
  EXPECT_EQ(wrong.out, "NOAUTH Authentication required.\n\n");
  auto ok = shell("redis-cli --no-auth-warning -p " + p +
                  " --user app --pass wonderland set x 1 && redis-cli --no-auth-warning -p " + p +
                  " --user app --pass wonderland get x");
  EXPECT_EQ(ok.out, "OK\n1\n") << ok.err;
  const std::string script = dir_.write("auth.py", R"PY(
import sys
import redis
port = int(sys.argv[1])
try:
    redis.Redis(port=port).get("x")
    raise SystemExit("no NOAUTH")
except redis.AuthenticationError:
    pass
r = redis.Redis(port=port, username="app", password="wonderland")
assert r.get("x") == b"1"
print("ok")
)PY");
  auto py = run({"/usr/bin/python3", script, p}, dir_.path(), 60s);
  EXPECT_EQ(py.out, "ok\n") << py.err;
  // Before AUTH: Redis's small limits (10 arguments, 16 KiB each), and one
  // command at a time, so a pipelined AUTH lifts them for what follows.
  RawSocket early(port("secure"));
  ASSERT_TRUE(early.send_all("*11\r\n"));
  EXPECT_EQ(early.read_to_end(), "-ERR Protocol error: invalid multibulk length\r\n");
  RawSocket pipelined(port("secure"));
  const std::string value(20000, 'v');
  ASSERT_TRUE(
      pipelined.send_all("*3\r\n$4\r\nAUTH\r\n$3\r\napp\r\n$10\r\nwonderland\r\n"
                         "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$20000\r\n" +
                         value + "\r\nQUIT\r\n"));
  EXPECT_EQ(pipelined.read_to_end(), "+OK\r\n+OK\r\n+OK\r\n");
}

// TLS with client certificates (the CA's): redis-cli and redis-py with a
// certificate are served, with pipelines and a value of many TLS records;
// a client without a certificate, and a plaintext one, are refused and
// counted, and the node serves on.
TEST_F(RespClientsTest, TlsServesCertifiedClientsAndRefusesOthers) {
  const TlsCaFiles files = make_tls_ca_files(dir_.path());
  ASSERT_EQ(files.error, "");
  start_node("tls", {},
             {{"tls",
               {{"cert_file", files.server.cert},
                {"key_file", files.server.key},
                {"ca_file", files.ca.cert}}}});
  const std::string p = std::to_string(port("tls"));
  const std::string cli = "redis-cli --tls --cacert " + files.ca.cert + " -p " + p;
  const std::string certified = cli + " --cert " + files.client.cert + " --key " + files.client.key;
  auto set = shell(certified + " set k v && " + certified + " get k");
  EXPECT_EQ(set.out, "OK\nv\n") << set.err;

  auto no_cert = shell(cli + " ping");
  EXPECT_EQ(no_cert.out.find("PONG"), std::string::npos) << no_cert.out;
  auto plain = shell("redis-cli -p " + p + " ping");
  EXPECT_EQ(plain.out.find("PONG"), std::string::npos) << plain.out;
  RawSocket raw(port("tls"));
  ASSERT_TRUE(raw.send_all("*1\r\n$4\r\nPING\r\n"));
  EXPECT_EQ(raw.read_to_end().find("PONG"), std::string::npos);

  const std::string script = dir_.write("tls.py", R"PY(
import sys
import redis
port, ca, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
r = redis.Redis(port=port, ssl=True, ssl_ca_certs=ca, ssl_certfile=cert, ssl_keyfile=key)
big = bytes(range(256)) * 12288  # 3 MiB: about 200 TLS records each way
assert r.set("big", big)
assert r.get("big") == big
p = r.pipeline(transaction=False)
for i in range(2000):
    p.set("k%d" % i, str(i))
for i in range(2000):
    p.get("k%d" % i)
got = p.execute()
assert got[2000:] == [str(i).encode() for i in range(2000)], got[2000:2005]
print("ok")
)PY");
  auto py = run({"/usr/bin/python3", script, p, files.ca.cert, files.client.cert, files.client.key},
                dir_.path(), 120s);
  EXPECT_EQ(py.out, "ok\n") << py.err;

  auto info = shell(certified + " info stats");
  EXPECT_NE(info.out.find("total_tls_failures:3"), std::string::npos) << info.out;
  auto again = shell(certified + " ping");
  EXPECT_EQ(again.out, "PONG\n") << again.err;
}

// On a node that keeps a journal a SET answers once it is on disk, after the
// I/O thread moved on: pipelined commands around such writes must still be
// answered in order, each with its own reply; a client may leave meanwhile.
TEST_F(RespClientsTest, PipelinedWritesOnADiskNodeAnswerInOrder) {
  start_node("disk", {}, json::object(),
             {{"engine", "rocksdb"}, {"sync", "always"}, {"path", dir_.path() + "/disk-data"}});
  Redis r(port("disk"));
  ASSERT_TRUE(r.ok());
  constexpr int kRounds = 500;
  for (int i = 0; i < kRounds; ++i) {
    const std::string v = std::to_string(i);
    r.append({"SET", "p:" + std::to_string(i % 7), v});
    r.append({"GET", "p:" + std::to_string(i % 7)});
    r.append({"INCR", "p:count"});
    r.append({"PING"});
  }
  for (int i = 0; i < kRounds; ++i) {
    const std::string v = std::to_string(i);
    ASSERT_EQ(r.next(), "OK") << "round " << i;
    ASSERT_EQ(r.next(), v) << "round " << i;
    ASSERT_EQ(r.next(), "(integer) " + std::to_string(i + 1)) << "round " << i;
    ASSERT_EQ(r.next(), "PONG") << "round " << i;
  }
  // Clients that leave while their writes wait for the disk: each connection
  // outlives its last write's answer and is freed on the I/O thread (the
  // node then stops cleanly in TearDown, which checks its exit code).
  std::string burst;
  for (int i = 0; i < 200; ++i) burst += "*3\r\n$3\r\nSET\r\n$2\r\nlk\r\n$1\r\nx\r\n";
  for (int c = 0; c < 20; ++c) {
    RawSocket leaving(port("disk"));
    ASSERT_TRUE(leaving.send_all(burst));
  }
  // Their writes run after they left, in no order with this connection's
  // commands: the value shows up, and the node keeps serving.
  EXPECT_TRUE(eventually([&] { return r.cmd({"GET", "lk"}) == "x"; }, kSettle, kPoll));
  EXPECT_EQ(r.cmd({"PING"}), "PONG");
}

}  // namespace
}  // namespace dendrite::test
