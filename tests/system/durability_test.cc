// Durability of dtable's on-disk tables, with real dendrited processes: every
// node killed with SIGKILL at once under write load, restarted, and every
// acknowledged write read back (sync always and periodic); a rolling restart
// under load; a disk that fills up (a small tmpfs made by the test) and is
// grown again; one filled by another program, so that RocksDB's own log
// write fails; a node that refuses another's data directory.
#include <signal.h>
#include <sys/mount.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "dendrite/client/dtable_client.h"
#include "dendrite/client/ring_view.h"
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

const std::string kDendrited = program("dendrited");
const std::string kCli = program("dendrite-cli");
// Generous bounds: the machine is shared and sanitizer builds are slow.
constexpr auto kSettle = 90s;
constexpr auto kPoll = 200ms;

class DurabilityTest : public ::testing::Test {
 protected:
  struct Node {
    std::string address;
    std::string config;
    std::unique_ptr<ChildProcess> process;
  };

  void TearDown() override {
    kill_and_check_nodes(dir_.path(), nodes_, HasFailure());
    nodes_.clear();
  }

  // Writes the config of node `name` (replicas 2, 3 vnodes, dtable with
  // `storage` when given, else the default: on disk under the node's
  // working directory, sync always).
  void configure(const std::string& name, const std::vector<std::string>& join,
                 const json& storage = nullptr) {
    const std::string address = "127.0.0.1:" + std::to_string(free_port());
    json dtable = {{"check_interval_ms", 1000}, {"tombstone_grace_ms", 60000}};
    if (!storage.is_null()) dtable["storage"] = storage;
    json doc = test_node_json(address, join, 3);
    doc["plugins"] = json::array({{{"name", "dtable"}, {"config", dtable}}});
    nodes_[name] = Node{address, dir_.write(name + ".json", doc.dump(2)), nullptr};
  }

  // (Re)starts node `name` in the test's directory (logs appended). True once
  // it serves.
  bool start(const std::string& name) {
    Node& n = nodes_.at(name);
    n.process = std::make_unique<ChildProcess>(
        std::vector<std::string>{kDendrited, "--config", n.config},
        dir_.path() + "/" + name + ".out", dir_.path() + "/" + name + ".err", Output::kAppend);
    ChildProcess& p = *n.process;
    const bool up =
        eventually([&] { return !p.running() || serving(n.address, 500ms); }, kSettle, kPoll);
    return up && p.running();
  }

  std::unique_ptr<client::DtableClient> connect(const std::string& name) {
    client::DtableClientOptions o;
    o.timeout = 2000ms;
    o.max_attempts = 3;
    auto c = client::DtableClient::connect(nodes_.at(name).address, o);
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    return c.ok() ? std::move(*c) : nullptr;
  }

  // Writes unique keys from `threads` threads, consistency 1, 2, 3 in turn,
  // until `stop`; records each acknowledged write in `acked`.
  void write_load(client::DtableClient& c, std::atomic<bool>& stop, int threads,
                  std::map<std::string, std::string>& acked, std::mutex& mu) {
    std::vector<std::thread> writers;
    for (int t = 0; t < threads; ++t) {
      writers.emplace_back([&, t] {
        for (int i = 0; i < 1000000 && !stop.load(); ++i) {
          const std::string key = "t" + std::to_string(t) + "-" + std::to_string(i);
          const std::string value = "value of " + key;
          if (c.set(key, value, 1 + i % 3).ok()) {
            std::lock_guard lock(mu);
            acked[key] = value;
          }
        }
      });
    }
    for (auto& w : writers) w.join();
  }

  // The acknowledged keys that do not read back with their value (at most
  // the first 5 named in `sample`).
  std::size_t missing(client::DtableClient& c, const std::map<std::string, std::string>& acked,
                      std::string* sample) {
    std::size_t lost = 0;
    sample->clear();
    for (const auto& [key, value] : acked) {
      auto got = c.get(key);
      if (got.ok() && *got == value) continue;
      if (++lost <= 5) {
        *sample += key + " (" + (got.ok() ? "'" + *got + "'" : got.status().to_string()) + ") ";
      }
    }
    return lost;
  }

  // Kills every node with SIGKILL at once (the signals go out back to back).
  void kill_all() {
    for (auto& [name, node] : nodes_) node.process->signal(SIGKILL);
    for (auto& [name, node] : nodes_) ASSERT_TRUE(node.process->wait_for(kSettle).has_value());
  }

  // Starts nodes a, b and c (b and c join a) with `storage`.
  void start_ring(const json& storage = nullptr) {
    configure("a", {}, storage);
    const std::string seed = nodes_.at("a").address;
    configure("b", {seed}, storage);
    configure("c", {seed}, storage);
    for (const char* n : {"a", "b", "c"}) ASSERT_TRUE(start(n)) << n;
    // One settled ring of all three: b and c join at once and may first
    // form rings apart, which then merge; a write during the merge may be
    // refused, and so may a write at consistency 3 until the successor lists
    // that place its copies hold the other two hosts again (a walk of
    // first successors settles before them). Every vnode's predecessor and
    // whole successor list must be the true ones.
    ASSERT_TRUE(
        ring_settled({nodes_.at("a").address, nodes_.at("b").address, nodes_.at("c").address}, 3,
                     kDefaultNumSuccessors, kSettle, kPoll));
    auto c = connect("a");
    ASSERT_TRUE(c);
    ASSERT_TRUE(eventually([&] { return c->set("ring-probe", "x", 3).ok(); }, kSettle, kPoll));
  }

  // What a whole-ring kill test does before its write load: may write, and
  // records in the map what was acknowledged.
  using Prepare = std::function<void(client::DtableClient&, std::map<std::string, std::string>&)>;

  // Kills every node under write load (once `prepare`, when given, ran),
  // restarts them all and expects every acknowledged write back; `label`
  // names the figures printed.
  void whole_ring_kill(const json& storage, const std::string& label = "whole ring kill",
                       const Prepare& prepare = nullptr) {
    start_ring(storage);
    if (HasFatalFailure()) return;
    std::map<std::string, std::string> acked;
    std::mutex mu;
    std::size_t before = 0;
    {
      auto c = connect("a");
      ASSERT_TRUE(c);
      if (prepare) prepare(*c, acked);
      if (HasFatalFailure()) return;
      before = acked.size();
      std::atomic<bool> stop{false};
      std::thread load([&] { write_load(*c, stop, 4, acked, mu); });
      // Kill while writes are in flight, once a good number was acknowledged.
      eventually(
          [&] {
            std::lock_guard lock(mu);
            return acked.size() >= before + 600;
          },
          kSettle, 20ms);
      kill_all();
      stop = true;
      load.join();
    }
    ASSERT_GE(acked.size(), before + 600);
    for (const char* n : {"a", "b", "c"}) ASSERT_TRUE(start(n)) << n;
    auto c = connect("a");
    ASSERT_TRUE(c);
    // The ring forms again and each primary hands over what its range lost.
    const std::size_t lost = expect_all_back(*c, acked);
    std::cerr << "[ " << label << " ] " << acked.size() << " acknowledged writes, " << lost
              << " lost\n";
  }

  // Waits (bounded) until every acknowledged write reads back; expects it
  // did. Returns how many did not.
  std::size_t expect_all_back(client::DtableClient& c,
                              const std::map<std::string, std::string>& acked) {
    std::string sample;
    std::size_t lost = acked.size();
    eventually(
        [&] {
          lost = missing(c, acked, &sample);
          return lost == 0;
        },
        kSettle, 1s);
    EXPECT_EQ(lost, 0u) << "of " << acked.size() << " acknowledged writes; e.g. " << sample;
    return lost;
  }

  TempDir dir_;
  std::map<std::string, Node> nodes_;
};

// Values with expiries, written at consistency 3 before the load: their
// expiries must come back from disk with them.
struct ExpiringKeys {
  static constexpr int kEach = 20;
  std::int64_t soon_ms = 0;  // when the "soon" keys expire (Unix ms)

  static dtable::Mutation set_at(const std::string& value, std::int64_t at_ms) {
    dtable::Mutation m;
    m.operand = value;
    m.expiry = dtable::Mutation::Expiry::kAt;
    m.expires_ms = at_ms;
    return m;
  }
  // Writes kEach keys that expire in an hour, kEach that expire 30 s from
  // now, and kEach that have expired already.
  void write(client::DtableClient& c) {
    const std::int64_t now = dtable::unix_now_ms();
    soon_ms = now + 30000;
    for (int i = 0; i < kEach; ++i) {
      const std::string n = std::to_string(i);
      for (auto [key, at] :
           {std::pair{"exp:far:" + n, now + 3600000}, std::pair{"exp:soon:" + n, soon_ms},
            std::pair{"exp:past:" + n, now - 1000}}) {
        auto r = c.mutate(key, set_at("v" + n, at), 3);
        ASSERT_TRUE(r.ok()) << key << ": " << r.status().to_string();
      }
    }
  }
  // After the restart: the far keys read back, the past ones stay absent,
  // and the soon ones are absent once their time passed.
  void check(client::DtableClient& c) {
    for (int i = 0; i < kEach; ++i) {
      const std::string n = std::to_string(i);
      auto far = c.get("exp:far:" + n);
      EXPECT_TRUE(far.ok() && *far == "v" + n) << "exp:far:" << n;
      EXPECT_EQ(c.get("exp:past:" + n).status().code(), StatusCode::kNotFound) << n;
    }
    EXPECT_TRUE(eventually([&] { return dtable::unix_now_ms() > soon_ms + 500; }, kSettle, kPoll));
    for (int i = 0; i < kEach; ++i) {
      EXPECT_EQ(c.get("exp:soon:" + std::to_string(i)).status().code(), StatusCode::kNotFound)
          << "exp:soon:" << i << " outlived its expiry";
    }
  }
};

TEST_F(DurabilityTest, WholeRingKilledUnderLoadKeepsEveryAcknowledgedWrite) {
  // The default storage: rocksdb, sync always. Keys with expiries too.
  ExpiringKeys expiring;
  whole_ring_kill(
      nullptr, "whole ring kill",
      [&](client::DtableClient& c, std::map<std::string, std::string>&) { expiring.write(c); });
  if (HasFatalFailure()) return;
  auto c = connect("a");
  ASSERT_TRUE(c);
  expiring.check(*c);
}

TEST_F(DurabilityTest, WholeRingKilledWithPeriodicSyncKeepsWhatReachedTheSystem) {
  // A process kill loses nothing the node wrote (its log is written at once);
  // only a power loss or crash of the machine can lose the last period.
  whole_ring_kill(json{{"sync", "periodic"}, {"sync_period_ms", 1000}});
}

// Tables larger than their cache: with cache_mb 1 (768 KiB for entries, a
// few thousand), most of the 8,000 keys each node holds live on disk only,
// are read back by writes, reads, hand-overs and the self-checks (every
// second here), and a whole ring killed under load and restarted still
// serves every acknowledged write.
TEST_F(DurabilityTest, TablesLargerThanTheirCacheKeepEveryAcknowledgedWrite) {
  whole_ring_kill({{"cache_mb", 1}}, "larger than the cache",
                  [&](client::DtableClient& c, std::map<std::string, std::string>& acked) {
                    for (int batch = 0; batch < 16; ++batch) {
                      std::vector<client::KeyValue> items;
                      for (int i = 0; i < 500; ++i) {
                        const std::string key = "pre-" + std::to_string(batch * 500 + i);
                        items.push_back(client::KeyValue{key, "early value of " + key});
                      }
                      const auto results = c.set_multi(items, 2);
                      for (std::size_t i = 0; i < items.size(); ++i) {
                        if (results[i].ok()) acked[items[i].key] = items[i].value;
                      }
                    }
                    ASSERT_GE(acked.size(), 7900u);
                    std::this_thread::sleep_for(2s);  // self-checks walk the tables meanwhile
                  });
}

TEST_F(DurabilityTest, RollingRestartUnderLoadKeepsEveryAcknowledgedWrite) {
  start_ring();
  if (HasFatalFailure()) return;
  std::map<std::string, std::string> acked;
  std::mutex mu;
  auto c = connect("a");
  ASSERT_TRUE(c);
  std::atomic<bool> stop{false};
  std::thread load([&] { write_load(*c, stop, 2, acked, mu); });
  for (const char* n : {"b", "c", "a"}) {
    // SIGTERM: a graceful leave; then the node comes back with its data.
    nodes_.at(n).process->signal(SIGTERM);
    EXPECT_TRUE(nodes_.at(n).process->wait_for(kSettle).has_value()) << n;
    ASSERT_TRUE(start(n)) << n;
    std::this_thread::sleep_for(1s);
  }
  stop = true;
  load.join();
  ASSERT_GT(acked.size(), 0u);
  expect_all_back(*c, acked);
}

TEST_F(DurabilityTest, ANodeBackFromAwayCatchesUpOnWritesAndDeletes) {
  start_ring();
  if (HasFatalFailure()) return;
  auto c = connect("a");
  ASSERT_TRUE(c);
  auto key = [](int i) { return "key-" + std::to_string(i); };
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(c->set(key(i), "old", 2).ok()) << i;
  // b goes away with its copies; the ring changes what b holds meanwhile.
  nodes_.at("b").process->signal(SIGKILL);
  ASSERT_TRUE(nodes_.at("b").process->wait_for(kSettle).has_value());
  for (int i = 0; i < 200; ++i) {
    const bool done =
        eventually([&] { return (i < 100 ? c->set(key(i), "new", 2) : c->del(key(i), 2)).ok(); },
                   kSettle, kPoll);
    ASSERT_TRUE(done) << key(i);
  }
  // b comes back with its stale tables and must not serve them.
  ASSERT_TRUE(start("b"));
  std::string wrong;
  const bool caught_up = eventually(
      [&] {
        wrong.clear();
        for (int i = 0; i < 300; ++i) {
          auto got = c->get(key(i));
          const bool ok = i < 100   ? got.ok() && *got == "new"
                          : i < 200 ? got.status().code() == StatusCode::kNotFound
                                    : got.ok() && *got == "old";
          if (!ok && wrong.size() < 200) {
            wrong += key(i) + "=" + (got.ok() ? *got : got.status().to_string()) + " ";
          }
        }
        return wrong.empty();
      },
      kSettle, 1s);
  EXPECT_TRUE(caught_up) << wrong;
}

// Reads every key of `keys` through `c` and expects `value`.
void expect_every_value(client::DtableClient& c, const std::vector<std::string>& keys,
                        const std::string& value) {
  for (const std::string& key : keys) {
    auto got = c.get(key);
    ASSERT_TRUE(got.ok()) << key << ": " << got.status().to_string();
    EXPECT_EQ(*got, value) << key;
  }
}

// A tmpfs of a given size mounted for one test (needs root), unmounted when
// it goes out of scope.
class SmallDisk {
 public:
  SmallDisk(std::string path, const std::string& size) : path_(std::move(path)) {
    std::filesystem::create_directories(path_);
    mounted_ = ::mount("tmpfs", path_.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
    if (!mounted_) why_ = std::strerror(errno);
  }
  ~SmallDisk() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;

  bool mounted() const { return mounted_; }
  const std::string& why() const { return why_; }  // when not mounted
  const std::string& path() const { return path_; }
  // "" once it has the new size, else why not.
  std::string resize(const std::string& size) {
    if (::mount("tmpfs", path_.c_str(), "tmpfs", MS_REMOUNT, ("size=" + size).c_str()) == 0) {
      return "";
    }
    return std::strerror(errno);
  }

 private:
  std::string path_;
  bool mounted_ = false;
  std::string why_;
};

// Writes `value` under PREFIX0, PREFIX1, ... until a write is refused (at
// most `max`), adding each acknowledged key to `acked`; the refusal.
Status write_until_refused(client::DtableClient& c, const std::string& prefix,
                           const std::string& value, int max, std::vector<std::string>& acked) {
  for (int i = 0; i < max; ++i) {
    const std::string key = prefix + std::to_string(i);
    Status s = c.set(key, value);
    if (!s.ok()) return s;
    acked.push_back(key);
  }
  return Status::Ok();
}

TEST_F(DurabilityTest, AFullDiskRefusesWritesKeepsReadsAndRecovers) {
  SmallDisk disk(dir_.path() + "/disk", "24m");
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << disk.why();
  configure("a", {}, json{{"path", disk.path() + "/a"}, {"reserve_mb", 8}});
  ASSERT_TRUE(start("a"));
  auto c = connect("a");
  ASSERT_TRUE(c);
  const std::string value(64 << 10, 'x');
  std::vector<std::string> acked;
  const Status refused = write_until_refused(*c, "k", value, 400, acked);
  ASSERT_FALSE(refused.ok()) << "24 MiB took 400 writes of 64 KiB";
  EXPECT_NE(refused.message().find("disk full"), std::string::npos) << refused.to_string();
  // Reads go on, and every acknowledged write is there.
  expect_every_value(*c, acked, value);
  EXPECT_TRUE(nodes_.at("a").process->running());
  // Room again: writes are accepted once the engine resumed.
  ASSERT_EQ(disk.resize("96m"), "");
  EXPECT_TRUE(eventually([&] { return c->set("after", "room").ok(); }, kSettle, kPoll));
  acked.push_back("after");
  // And all of it survives a kill.
  c.reset();
  kill_all();
  ASSERT_TRUE(start("a"));
  c = connect("a");
  ASSERT_TRUE(c);
  for (const std::string& key : acked) EXPECT_TRUE(c->get(key).ok()) << key;
}

TEST_F(DurabilityTest, ADiskFilledByAnotherProgramLosesNothingAcknowledged) {
  // Something else fills the disk between two checks of the free space: the
  // engine's own log write fails (ENOSPC), which the node cannot see coming.
  SmallDisk disk(dir_.path() + "/disk", "32m");
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << disk.why();
  configure("a", {}, json{{"path", disk.path() + "/a"}, {"reserve_mb", 0}});
  ASSERT_TRUE(start("a"));
  auto c = connect("a");
  ASSERT_TRUE(c);
  const std::string value(64 << 10, 'y');
  std::vector<std::string> acked;
  ASSERT_TRUE(write_until_refused(*c, "before", value, 20, acked).ok());
  // The filler takes every free byte.
  const std::string filler = disk.path() + "/filler";
  {
    std::ofstream out(filler, std::ios::binary);
    const std::string block(1 << 20, 'f');
    for (int i = 0; i < 64 && out.write(block.data(), block.size()); ++i) {
    }
  }
  const Status refused = write_until_refused(*c, "k", value, 100, acked);
  ASSERT_FALSE(refused.ok()) << "100 writes of 64 KiB fitted on a full disk";
  EXPECT_NE(refused.message().find("storage:"), std::string::npos) << refused.to_string();
  EXPECT_FALSE(c->set("refused", value).ok());
  // Reads go on.
  expect_every_value(*c, acked, value);
  EXPECT_TRUE(nodes_.at("a").process->running());
  // Room again: writes stay refused (the engine's log failed), and a
  // graceful stop still works.
  std::filesystem::remove(filler);
  EXPECT_FALSE(c->set("refused", value).ok());
  c.reset();
  nodes_.at("a").process->signal(SIGTERM);
  const auto code = nodes_.at("a").process->wait_for(kSettle);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0);
  // After a restart every acknowledged write is back, and writes are
  // accepted.
  ASSERT_TRUE(start("a"));
  c = connect("a");
  ASSERT_TRUE(c);
  expect_every_value(*c, acked, value);
  EXPECT_TRUE(c->set("after", "room").ok());
}

TEST_F(DurabilityTest, ANodeRefusesAnotherNodesDirectoryAndASharedOne) {
  configure("a", {}, json{{"path", dir_.path() + "/shared"}});
  configure("b", {}, json{{"path", dir_.path() + "/shared"}});
  ASSERT_TRUE(start("a"));
  // b while a runs: the directory is locked.
  auto r = run({kDendrited, "--config", nodes_.at("b").config}, dir_.path(), 60s);
  EXPECT_EQ(r.code, 2) << r.err;  // dtable's init fails
  EXPECT_NE(r.err.find("in use by another process"), std::string::npos) << r.err;
  // b after a stopped: a's data, not b's.
  nodes_.at("a").process->signal(SIGKILL);
  ASSERT_TRUE(nodes_.at("a").process->wait_for(kSettle).has_value());
  r = run({kDendrited, "--config", nodes_.at("b").config}, dir_.path(), 60s);
  EXPECT_EQ(r.code, 2) << r.err;  // dtable's init fails
  EXPECT_NE(r.err.find("holds the data of node " + nodes_.at("a").address), std::string::npos)
      << r.err;
}

TEST_F(DurabilityTest, ABackupRestoresTheDataOfItsMoment) {
  configure("a", {});
  ASSERT_TRUE(start("a"));
  const std::string& address = nodes_.at("a").address;
  auto c = connect("a");
  ASSERT_TRUE(c);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(c->set("before-" + std::to_string(i), "v").ok());
  const std::string backup = dir_.path() + "/backup";
  auto r = run({kCli, "--node", address, "backup", backup}, dir_.path());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  ASSERT_TRUE(c->set("after", "v").ok());
  // Refusals: an existing directory, a relative path.
  r = run({kCli, "--node", address, "backup", backup}, dir_.path());
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("already exists"), std::string::npos) << r.err;
  r = run({kCli, "--node", address, "backup", "relative/dir"}, dir_.path());
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("must be an absolute path"), std::string::npos) << r.err;
  // Restore: stop the node, put the backup in place of its data, start it.
  c.reset();
  kill_all();
  const std::string data = dir_.path() + "/dendrite-data/" + [&] {
    std::string name = address;
    std::replace(name.begin(), name.end(), ':', '_');
    return name;
  }();
  ASSERT_TRUE(std::filesystem::is_directory(data)) << data;
  std::filesystem::remove_all(data);
  std::filesystem::rename(backup, data);
  ASSERT_TRUE(start("a"));
  c = connect("a");
  ASSERT_TRUE(c);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(c->get("before-" + std::to_string(i)).ok()) << i;
  EXPECT_EQ(c->get("after").status().code(), StatusCode::kNotFound);
}

TEST_F(DurabilityTest, ANodeInMemoryHasNothingToBackUp) {
  configure("a", {}, json{{"engine", "memory"}});
  ASSERT_TRUE(start("a"));
  auto r = run({kCli, "--node", nodes_.at("a").address, "backup", dir_.path() + "/b"}, dir_.path());
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("keeps its tables in memory"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/dendrite-data"));
}

}  // namespace
}  // namespace dendrite::test
