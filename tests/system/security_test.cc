// The CURVE ring with real dendrited processes: three nodes serve set/get to
// a client key; an unknown client key, a plaintext client, a plaintext node
// and a node holding a wrong server key are each refused with a reason on
// both sides; a client key cannot send the ring's or the replicas' messages;
// a node tries the next listed server key (a key roll); secret key files
// others may read are refused at start; and a capture of the loopback
// traffic holds neither key nor value with CURVE, and holds both without.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "dendrite/client/connection.h"
#include "dendrite/client/credentials.h"
#include "dendrite/client/dtable_client.h"
#include "dendrite/client/ring_view.h"
#include "dendrite/wire/curve_keys.h"
#include "faults/netlab.h"
#include "support/eventually.h"
#include "support/process.h"
#include "support/programs.h"
#include "support/serving.h"

namespace dendrite::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const std::string kDendrited = program("dendrited");
const std::string kCli = program("dendrite-cli");
// Generous bounds: the machine is shared and sanitizer builds are slow.
constexpr auto kSettle = 60s;
constexpr auto kPoll = 200ms;
// dtable's message types a client key must not send (plugins/dtable messages.h).
constexpr MessageType kDtableSetReplica = 0x28;
constexpr MessageType kDtableCheckpoint = 0x2E;

class SecurityTest : public ::testing::Test {
 protected:
  struct Node {
    std::string address;
    std::string keys;  // the directory of its key pair
    std::string public_key;
    std::unique_ptr<ChildProcess> process;
  };

  void TearDown() override {
    kill_and_check_nodes(dir_.path(), nodes_, HasFailure());
    nodes_.clear();
  }

  // A new key pair in <dir>/<name>/; returns its public key.
  std::string keygen(const std::string& name) {
    auto pair = wire::generate_curve_key_pair();
    EXPECT_TRUE(pair.ok()) << pair.status().to_string();
    const std::string dir = dir_.path() + "/" + name;
    EXPECT_TRUE(wire::write_curve_key_pair(dir, *pair).ok());
    return pair->public_key;
  }

  // Node `name` gets an address and a key pair, listed in nodes.txt.
  void add_node(const std::string& name) {
    Node& n = nodes_[name];
    n.address = "127.0.0.1:" + std::to_string(free_port());
    n.public_key = keygen(name);
    n.keys = dir_.path() + "/" + name;
    node_lines_ += n.public_key + " " + n.address + "\n";
  }

  // Writes the lists and node `name`'s config: CURVE with nodes.txt and
  // clients.txt unless `curve` is false; `nodes_list` overrides the list.
  std::string configure(const std::string& name, const std::vector<std::string>& join,
                        bool curve = true, const std::string& nodes_list = "") {
    const std::string nodes = dir_.write("nodes.txt", "# the ring's nodes\n" + node_lines_);
    const std::string clients = dir_.write("clients.txt", client_public_ + "\n");
    const Node& n = nodes_.at(name);
    json doc = {
        {"listen", n.address},
        {"join", join},
        {"vnodes", 3},
        {"replicas", 2},
        {"stabilize", {{"min_ms", 50}, {"max_ms", 150}}},
        {"timeout_ms", 1000},
        {"log", {{"level", "info"}}},
        {"plugins",
         json::array({{{"name", "dtable"}, {"config", {{"storage", {{"engine", "memory"}}}}}}})}};
    if (curve) {
      doc["security"] = {{"curve",
                          {{"secret_key_file", n.keys + "/secret.key"},
                           {"public_key_file", n.keys + "/public.key"},
                           {"nodes", {nodes_list.empty() ? nodes : nodes_list}},
                           {"clients", {clients}}}}};
    }
    return dir_.write(name + ".json", doc.dump(2));
  }

  void launch(const std::string& name, const std::string& config) {
    nodes_.at(name).process = std::make_unique<ChildProcess>(
        std::vector<std::string>{kDendrited, "--config", config}, dir_.path() + "/" + name + ".out",
        dir_.path() + "/" + name + ".err");
  }

  // Starts node `name` and waits until it serves (asked with the client key).
  bool start(const std::string& name, const std::vector<std::string>& join, bool curve = true) {
    launch(name, configure(name, join, curve));
    Node& n = nodes_.at(name);
    auto creds = curve ? client_ : nullptr;
    const bool up = eventually(
        [&] { return !n.process->running() || serving(n.address, 500ms, creds); }, kSettle, kPoll);
    return up && n.process->running();
  }

  std::string log_of(const std::string& name) {
    return read_file(dir_.path() + "/" + name + ".err");
  }

  // True once `text` is in node `name`'s log.
  bool logged(const std::string& name, const std::string& text) {
    return eventually([&] { return log_of(name).find(text) != std::string::npos; }, kSettle, kPoll);
  }

  // True once node `name` logged refusing a plaintext peer. Which line
  // depends on which side hangs up first (see zmq_transport.cc).
  bool logged_plaintext_refusal(const std::string& name) {
    return eventually(
        [&] {
          const std::string log = log_of(name);
          return log.find("it speaks plaintext and this node requires CURVE") !=
                     std::string::npos ||
                 log.find("it broke off the handshake (it speaks plaintext") != std::string::npos;
        },
        kSettle, kPoll);
  }

  // The number of vnodes in the ring seen from `name` with the client key
  // (0 when it cannot be walked).
  std::size_t ring_size(const std::string& name) {
    auto ring = client::walk_ring(nodes_.at(name).address, 1000ms, 1000, client_);
    return ring.ok() ? ring->size() : 0;
  }

  // A client key pair, listed in clients.txt; client_ holds its credentials.
  void make_client() {
    client_public_ = keygen("client");
    loaded_client_ = false;
  }
  void load_client() {
    auto c =
        client::Credentials::load(dir_.path() + "/client/secret.key", {dir_.path() + "/nodes.txt"});
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    client_ = *c;
    loaded_client_ = true;
  }

  // Three CURVE nodes a, b, c in one ring, and the client's credentials.
  // The nodes named in `later` get addresses and keys on the ring's lists
  // now, to be started by the test.
  void start_ring(const std::vector<std::string>& later = {}) {
    make_client();
    for (const char* name : {"a", "b", "c"}) add_node(name);
    for (const std::string& name : later) add_node(name);
    configure("a", {});  // writes the lists, for load_client()
    load_client();
    ASSERT_TRUE(start("a", {}));
    ASSERT_TRUE(start("b", {nodes_.at("a").address}));
    ASSERT_TRUE(start("c", {nodes_.at("a").address}));
    ASSERT_TRUE(
        eventually([&] { return ring_size("a") == 9 && ring_size("c") == 9; }, kSettle, kPoll))
        << "the CURVE ring did not settle to 9 vnodes";
  }

  TempDir dir_;
  std::map<std::string, Node> nodes_;
  std::string node_lines_;
  std::string client_public_;
  std::shared_ptr<const client::Credentials> client_;
  bool loaded_client_ = false;
};

TEST_F(SecurityTest, ACurveRingOfThreeServesSetAndGetToAClientKey) {
  start_ring();
  client::DtableClientOptions o;
  o.timeout = 2000ms;
  o.credentials = client_;
  auto c = client::DtableClient::connect(nodes_.at("a").address, o);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  // Consistency 3: every copy written, so the nodes' replication ran over
  // CURVE (retried while the young ring still hands replica ranges out).
  for (int i = 0; i < 50; ++i) {
    const std::string key = "key-" + std::to_string(i);
    Status set;
    ASSERT_TRUE(
        eventually([&] { return (set = (*c)->set(key, "v" + key, 3)).ok(); }, kSettle, kPoll))
        << key << ": " << set.to_string();
  }
  for (const char* name : {"a", "b", "c"}) {
    client::DtableClientOptions each = o;
    auto from = client::DtableClient::connect(nodes_.at(name).address, each);
    ASSERT_TRUE(from.ok()) << from.status().to_string();
    for (int i = 0; i < 50; i += 7) {
      const std::string key = "key-" + std::to_string(i);
      auto got = (*from)->get(key, 3);
      ASSERT_TRUE(got.ok()) << name << ": " << got.status().to_string();
      EXPECT_EQ(*got, "v" + key);
    }
  }
  // The CLI, with flags and with the environment.
  RunResult set = run({kCli, "--node", nodes_.at("b").address, "--curve-secret-key",
                       dir_.path() + "/client/secret.key", "--curve-node",
                       dir_.path() + "/nodes.txt", "set", "cli-key", "cli-value"},
                      dir_.path());
  EXPECT_EQ(set.code, 0) << set.err;
  RunResult get =
      run({"/usr/bin/env", "DENDRITE_CURVE_SECRET_KEY_FILE=" + dir_.path() + "/client/secret.key",
           "DENDRITE_CURVE_NODES=" + dir_.path() + "/nodes.txt", kCli, "--node",
           nodes_.at("c").address, "get", "cli-key"},
          dir_.path());
  EXPECT_EQ(get.code, 0) << get.err;
  EXPECT_EQ(get.out, "cli-value");
}

TEST_F(SecurityTest, RefusedClientsAreToldWhyAndTheNodeLogsThem) {
  start_ring();
  const std::string a = nodes_.at("a").address;
  // A key on no list.
  const std::string stranger = keygen("stranger");
  auto creds =
      client::Credentials::load(dir_.path() + "/stranger/secret.key", {dir_.path() + "/nodes.txt"});
  ASSERT_TRUE(creds.ok());
  auto conn = client::Connection::open(a, *creds);
  ASSERT_TRUE(conn.ok());
  auto reply = (*conn)->request(Message{msg::kHostStatus, {}}, 20000ms);
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(reply.status().message().find("refused our CURVE key"), std::string::npos)
      << reply.status().to_string();
  EXPECT_TRUE(logged("a", "unknown CURVE key " + stranger)) << log_of("a");

  // A plaintext client.
  auto plain = client::Connection::open(a);
  ASSERT_TRUE(plain.ok());
  reply = (*plain)->request(Message{msg::kHostStatus, {}}, 20000ms);
  ASSERT_FALSE(reply.ok());
  EXPECT_NE(reply.status().message().find("requires CURVE"), std::string::npos)
      << reply.status().to_string();
  EXPECT_TRUE(logged_plaintext_refusal("a")) << log_of("a");

  // A client holding a wrong server key for the node.
  auto wrong = client::Credentials::load(dir_.path() + "/client/secret.key",
                                         {nodes_.at("b").public_key + " " + a});
  ASSERT_TRUE(wrong.ok());
  auto misled = client::Connection::open(a, *wrong);
  ASSERT_TRUE(misled.ok());
  reply = (*misled)->request(Message{msg::kHostStatus, {}}, 20000ms);
  ASSERT_FALSE(reply.ok());
  EXPECT_NE(reply.status().message().find("broke off the CURVE handshake"), std::string::npos)
      << reply.status().to_string();
  EXPECT_TRUE(logged("a", "it holds a wrong server key for this node")) << log_of("a");

  // And the CLI says so in one line, with the unreachable exit code.
  RunResult cli = run({kCli, "--node", a, "status"}, dir_.path());
  EXPECT_EQ(cli.code, 3);
  EXPECT_NE(cli.err.find("requires CURVE"), std::string::npos) << cli.err;
}

TEST_F(SecurityTest, AClientKeySendsNoRingOrReplicaMessageButANodeKeyMay) {
  start_ring();
  const std::string b = nodes_.at("b").address;
  auto conn = client::Connection::open(b, client_);
  ASSERT_TRUE(conn.ok());
  for (MessageType type : {msg::kJoin, msg::kLeave, msg::kNotify, msg::kForgetHost,
                           kDtableSetReplica, kDtableCheckpoint}) {
    auto reply = (*conn)->request(Message{type, "x"}, 10000ms);
    ASSERT_TRUE(reply.ok()) << reply.status().to_string();
    const Status err = error_of(*reply);
    EXPECT_NE(err.message().find("permission denied"), std::string::npos)
        << message_type_hex(type) << ": " << err.to_string();
  }
  // What a client needs still answers.
  auto status = (*conn)->request(Message{msg::kHostStatus, {}}, 10000ms);
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(error_of(*status).ok());
  EXPECT_TRUE(logged("b", "may be sent by nodes only, and this connection's key is a client's"));

  // A node's key passes the check (and the handler answers on its merits).
  auto node_creds =
      client::Credentials::load(nodes_.at("a").keys + "/secret.key", {dir_.path() + "/nodes.txt"});
  ASSERT_TRUE(node_creds.ok());
  auto as_node = client::Connection::open(b, *node_creds);
  ASSERT_TRUE(as_node.ok());
  auto forget = client::forget_host(b, "127.0.0.1:9", 10000ms, *node_creds);
  EXPECT_EQ(forget.code(), StatusCode::kNotFound) << forget.to_string();
  // The ring never saw a vnode change from the refused messages.
  EXPECT_EQ(ring_size("a"), 9u);
}

TEST_F(SecurityTest, APlaintextNodeAndANodeWithAWrongServerKeyCannotJoin) {
  start_ring({"d", "e"});
  const std::string a = nodes_.at("a").address;
  // d speaks plaintext.
  launch("d", configure("d", {a}, /*curve=*/false));
  // e lists b's key for a's address.
  const std::string misled =
      dir_.write("misled.txt", nodes_.at("b").public_key + " " + a + "\n" +
                                   nodes_.at("e").public_key + " " + nodes_.at("e").address + "\n");
  launch("e", configure("e", {a}, true, misled));
  EXPECT_TRUE(logged("d", "requires CURVE and this side has no keys")) << log_of("d");
  EXPECT_TRUE(logged("e", "broke off the CURVE handshake")) << log_of("e");
  EXPECT_TRUE(logged_plaintext_refusal("a")) << log_of("a");
  EXPECT_TRUE(logged("a", "it holds a wrong server key for this node")) << log_of("a");
  // Neither got in: the ring still has a, b and c only, a while later.
  std::this_thread::sleep_for(2s);
  auto ring = client::walk_ring(a, 2000ms, 1000, client_);
  ASSERT_TRUE(ring.ok()) << ring.status().to_string();
  EXPECT_EQ(ring->size(), 9u);
  for (const Vnode& v : *ring) {
    EXPECT_NE(v.host, nodes_.at("d").address);
    EXPECT_NE(v.host, nodes_.at("e").address);
  }
}

TEST_F(SecurityTest, ANodeTriesTheNextServerKeyListedForAnAddress) {
  start_ring({"f"});
  const std::string a = nodes_.at("a").address;
  // During a key roll the list holds an old key and the new one for a node:
  // here b's key (wrong for a) first, then a's.
  std::string rolled = nodes_.at("b").public_key + " " + a + "\n";
  for (const char* name : {"a", "b", "c", "f"}) {
    rolled += nodes_.at(name).public_key + " " + nodes_.at(name).address + "\n";
  }
  launch("f", configure("f", {a}, true, dir_.write("rolled.txt", rolled)));
  EXPECT_TRUE(eventually([&] { return ring_size("a") == 12; }, kSettle, kPoll)) << log_of("f");
  EXPECT_NE(log_of("f").find("server key 2 of 2"), std::string::npos) << log_of("f");
}

TEST_F(SecurityTest, ANodeRefusesASecretKeyOthersMayRead) {
  make_client();
  add_node("a");
  const std::string config = configure("a", {});
  ASSERT_EQ(::chmod((nodes_.at("a").keys + "/secret.key").c_str(), 0644), 0);
  RunResult r = run({kDendrited, "--config", config}, dir_.path(), 30s);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("secret.key has mode 0644"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("security.curve.secret_key_file"), std::string::npos) << r.err;
  // A public key file that is not the secret's.
  ASSERT_EQ(::chmod((nodes_.at("a").keys + "/secret.key").c_str(), 0600), 0);
  keygen("other");
  json doc = json::parse(read_file(config));
  doc["security"]["curve"]["public_key_file"] = dir_.path() + "/other/public.key";
  r = run({kDendrited, "--config", dir_.write("mismatch.json", doc.dump())}, dir_.path(), 30s);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("which is not the public key of"), std::string::npos) << r.err;
}

// tcpdump capturing the loopback traffic into a file while it lives.
class Capture {
 public:
  // Starts tcpdump on lo; ok() once it listens. `why` says what is missing.
  Capture(const std::string& dir, const std::string& name) : file_(dir + "/" + name + ".pcap") {
    std::string tcpdump;
    for (const char* p : {"/usr/bin/tcpdump", "/usr/sbin/tcpdump", "/sbin/tcpdump"}) {
      if (::access(p, X_OK) == 0) tcpdump = p;
    }
    if (tcpdump.empty()) {
      why_ = "tcpdump is not installed (scripts/install-deps.sh installs it)";
      return;
    }
    if (::geteuid() != 0) {
      why_ = "capturing needs root";
      return;
    }
    const std::string err = dir + "/" + name + ".tcpdump.err";
    // -U: each packet written at once; -Z root: keep writing into our
    // directory; --immediate-mode: packets handed over as they come (some
    // kernels never time out libpcap's default packet ring blocks).
    process_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{tcpdump, "-i", "lo", "--immediate-mode", "-U", "-s", "0", "-Z",
                                 "root", "-w", file_, "tcp"},
        dir + "/" + name + ".tcpdump.out", err);
    if (!eventually([&] { return read_file(err).find("listening on") != std::string::npos; }, 30s,
                    100ms)) {
      why_ = "tcpdump did not start: " + read_file(err);
    }
  }
  ~Capture() { stop(); }

  bool ok() const { return why_.empty(); }
  const std::string& why() const { return why_; }

  // Stops the capture and returns every byte it wrote.
  std::string stop() {
    if (process_ && process_->running()) {
      process_->signal(SIGINT);
      if (!process_->wait_for(10s)) process_->signal(SIGKILL);
    }
    return read_file(file_);
  }

 private:
  std::string file_;
  std::string why_;
  std::unique_ptr<ChildProcess> process_;
};

TEST_F(SecurityTest, ACaptureOfTheLoopbackHoldsNoKeyOrValueWithCurve) {
  const std::string tag = std::to_string(::getpid()) + "-" + std::to_string(free_port());
  // Without CURVE the capture holds both: the check below can fail.
  {
    add_node("plain");
    ASSERT_TRUE(start("plain", {}, /*curve=*/false));
    Capture capture(dir_.path(), "plain");
    if (!capture.ok()) GTEST_SKIP() << capture.why();
    client::DtableClientOptions o;
    o.timeout = 2000ms;
    auto c = client::DtableClient::connect(nodes_.at("plain").address, o);
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    ASSERT_TRUE((*c)->set("plain-key-" + tag, "plain-value-" + tag).ok());
    ASSERT_TRUE((*c)->get("plain-key-" + tag).ok());
    std::this_thread::sleep_for(300ms);
    const std::string bytes = capture.stop();
    EXPECT_NE(bytes.find("plain-key-" + tag), std::string::npos) << bytes.size() << " bytes";
    EXPECT_NE(bytes.find("plain-value-" + tag), std::string::npos) << bytes.size() << " bytes";
    nodes_.at("plain").process->signal(SIGTERM);
  }
  start_ring();
  Capture capture(dir_.path(), "curve");
  ASSERT_TRUE(capture.ok()) << capture.why();
  client::DtableClientOptions o;
  o.timeout = 2000ms;
  o.credentials = client_;
  auto c = client::DtableClient::connect(nodes_.at("b").address, o);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  // Consistency 3: the value also travels between the nodes.
  const std::string key = "curve-key-" + tag;
  const std::string value = "curve-value-" + tag;
  ASSERT_TRUE(eventually([&] { return (*c)->set(key, value, 3).ok(); }, kSettle, kPoll));
  auto got = (*c)->get(key, 3);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ(*got, value);
  std::this_thread::sleep_for(300ms);
  const std::string bytes = capture.stop();
  EXPECT_GT(bytes.size(), 1000u) << "the capture saw no traffic";
  EXPECT_EQ(bytes.find(key), std::string::npos);
  EXPECT_EQ(bytes.find(value), std::string::npos);
  EXPECT_EQ(bytes.find("curve-value-"), std::string::npos);
}

// Protected mode needs a peer that is not on loopback: the node runs in a
// network namespace the test makes (10.77.S.0/24, faults/netlab.h), and the
// test talks to it from the root namespace.
TEST_F(SecurityTest, AnOpenNodeBeyondLoopbackServesOnlyLoopbackAndItsRing) {
  std::string why;
  if (!faults::NetLab::available(&why)) GTEST_SKIP() << "no network namespaces: " << why;
  faults::NetLab lab;
  ASSERT_TRUE(lab.start(2, &why)) << why;
  const int port = free_port();
  auto run_node = [&](const std::string& name, int ns, const json& extra) {
    json doc = {
        {"listen", "0.0.0.0:" + std::to_string(port)},
        {"advertise", lab.node_ip(ns) + ":" + std::to_string(port)},
        {"vnodes", 3},
        {"replicas", 1},
        {"stabilize", {{"min_ms", 50}, {"max_ms", 150}}},
        {"timeout_ms", 1000},
        {"plugins",
         json::array({{{"name", "dtable"}, {"config", {{"storage", {{"engine", "memory"}}}}}}})}};
    doc.update(extra);
    nodes_[name].address = lab.node_ip(ns) + ":" + std::to_string(port);
    std::vector<std::string> argv = lab.exec_prefix(ns);
    argv.insert(argv.end(), {kDendrited, "--config", dir_.write(name + ".json", doc.dump())});
    nodes_[name].process = std::make_unique<ChildProcess>(argv, dir_.path() + "/" + name + ".out",
                                                          dir_.path() + "/" + name + ".err");
    return eventually([&] { return serving(nodes_[name].address, 500ms); }, kSettle, kPoll);
  };
  ASSERT_TRUE(run_node("p", 0, json::object())) << log_of("p");
  EXPECT_TRUE(logged("p", "Protected mode")) << log_of("p");
  const std::string p = nodes_.at("p").address;
  client::DtableClientOptions o;
  o.timeout = 2000ms;
  o.max_attempts = 1;
  auto c = client::DtableClient::connect(p, o);  // status and ring lookups still answer
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  const Status refused = (*c)->set("k", "from outside");
  EXPECT_NE(refused.message().find("beyond loopback, without security"), std::string::npos)
      << refused.to_string();
  EXPECT_FALSE((*c)->get("k").ok());
  EXPECT_TRUE(logged("p", "refused 10.77.")) << log_of("p");

  // From the node's own loopback, and from a node of its ring, it serves.
  std::vector<std::string> local = lab.exec_prefix(0);
  local.insert(local.end(),
               {kCli, "--node", "127.0.0.1:" + std::to_string(port), "set", "k", "from loopback"});
  RunResult set = run(local, dir_.path());
  EXPECT_EQ(set.code, 0) << set.err;
  ASSERT_TRUE(run_node("q", 1, {{"join", {p}}})) << log_of("q");
  std::vector<std::string> via_q = lab.exec_prefix(1);
  via_q.insert(via_q.end(), {kCli, "--node", "127.0.0.1:" + std::to_string(port), "get", "k"});
  RunResult got;
  EXPECT_TRUE(eventually(
      [&] {
        got = run(via_q, dir_.path());
        return got.code == 0;
      },
      kSettle, 500ms))
      << got.err;
  EXPECT_EQ(got.out, "from loopback");

  // `insecure` says the operator means it: the outside may write.
  nodes_.at("q").process->signal(SIGKILL);
  nodes_.at("p").process->signal(SIGKILL);
  nodes_.at("p").process->wait_for(10s);
  ASSERT_TRUE(run_node("p2", 0, {{"security", {{"insecure", true}}}})) << log_of("p2");
  auto open = client::DtableClient::connect(nodes_.at("p2").address, o);
  ASSERT_TRUE(open.ok()) << open.status().to_string();
  EXPECT_TRUE((*open)->set("k", "from outside").ok());
  EXPECT_TRUE(logged("p2", "(security.insecure)")) << log_of("p2");
}

}  // namespace
}  // namespace dendrite::test
