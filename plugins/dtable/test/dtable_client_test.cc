// The dtable client library against in-process nodes running the dtable
// plugin: set/get/del and the multi calls, routing straight to each key's
// primary (no "wrong owner" answer in a settled ring), usage errors, a view
// refreshed when a node joins, reads served by the replicas when a primary is
// killed, and thousands of requests in flight.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "dendrite/client/dtable_client.h"
#include "support/dtable_cluster.h"
#include "support/eventually.h"
#include "support/metric_sums.h"

namespace dendrite::test {
namespace {

using client::DtableClient;
using client::DtableClientOptions;
using client::KeyValue;

std::string key_of(int i) {
  return "ck-" + std::to_string(i);
}
std::string value_of(int i) {
  return "cv-" + std::to_string(i * 31337);
}

DtableClientOptions test_options() {
  DtableClientOptions o;
  o.timeout = Milliseconds(1000);
  return o;
}

std::unique_ptr<DtableClient> connect(const std::string& node) {
  auto c = DtableClient::connect(node, test_options());
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return c.ok() ? std::move(c).value() : nullptr;
}

// Counts completions of asynchronous calls and waits for them (bounded).
class Completions {
 public:
  void done() {
    std::lock_guard lock(mu_);
    ++count_;
    cv_.notify_all();
  }
  std::size_t count() {
    std::lock_guard lock(mu_);
    return count_;
  }
  bool wait_for(std::size_t n, std::chrono::seconds limit = std::chrono::seconds(120)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return count_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t count_ = 0;
};

class DtableClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 3; ++i) c_.add();
    ASSERT_EQ(c_.wait_converged(), "");
  }
  DtableCluster c_;
};

// Load and nothing else: nobody is killed, so the nodes keep the production
// default timeout. With the test's 500 ms, one stabilisation round that waited
// longer (three nodes, their clients and another test share two cores, ten
// times slower under TSan) takes a live node for dead, and the writes that
// needed it fail as "consistency not met".
class DtableLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 3; ++i) {
      host::Config config = c_.next_config();
      config.timeout = host::default_config().timeout;
      c_.add(std::move(config));
    }
    ASSERT_EQ(c_.wait_converged(), "");
  }
  DtableCluster c_;
};

TEST_F(DtableClientTest, SetGetDelRouteStraightToThePrimary) {
  auto client = connect(c_.node(1).address());
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->ring(), c_.ring().all_vnodes());
  EXPECT_EQ(client->max_consistency(), 3);

  constexpr int kKeys = 120;
  for (int k = 0; k < kKeys; ++k) {
    EXPECT_EQ(client->primary_of(key_of(k)), c_.owner_of(key_of(k))) << key_of(k);
    ASSERT_TRUE(client->set(key_of(k), value_of(k), 1 + k % 3).ok()) << key_of(k);
  }
  for (int k = 0; k < kKeys; ++k) {
    auto v = client->get(key_of(k), 1 + k % 3);
    ASSERT_TRUE(v.ok()) << key_of(k) << ": " << v.status().to_string();
    EXPECT_EQ(*v, value_of(k));
    EXPECT_TRUE(c_.on_owner(key_of(k), value_of(k))) << key_of(k);
  }
  // Values are bytes: empty, binary, large.
  const std::string binary("a\0b\n\xff", 5);
  const std::string large(200000, 'x');
  ASSERT_TRUE(client->set("empty", "", 2).ok());
  ASSERT_TRUE(client->set("binary", binary).ok());
  ASSERT_TRUE(client->set("large", large).ok());
  EXPECT_EQ(client->get("empty").value_or("?"), "");
  EXPECT_EQ(client->get("binary").value_or("?"), binary);
  EXPECT_EQ(client->get("large").value_or("?"), large);

  for (int k = 0; k < kKeys; k += 2) ASSERT_TRUE(client->del(key_of(k), 2).ok()) << key_of(k);
  ASSERT_TRUE(client->del("never-written").ok());
  for (int k = 0; k < kKeys; ++k) {
    auto v = client->get(key_of(k));
    if (k % 2 == 0) {
      EXPECT_EQ(v.status().code(), StatusCode::kNotFound) << key_of(k);
    } else {
      EXPECT_EQ(v.value_or("?"), value_of(k)) << key_of(k);
    }
  }
  EXPECT_EQ(client->get("never-written").status().code(), StatusCode::kNotFound);

  // What another node's table sees is what the client wrote.
  EXPECT_EQ(c_.table(2).query().get(key_of(1)).value_or("?"), value_of(1));

  // A settled ring: every request went to the right node the first time.
  const auto stats = client->stats();
  EXPECT_EQ(stats.wrong_owner, 0u);
  EXPECT_EQ(stats.retries, 0u);
  EXPECT_EQ(stats.no_answer, 0u);
  EXPECT_EQ(stats.replica_reads, 0u);
  EXPECT_EQ(stats.refreshes, 1u);
}

TEST_F(DtableClientTest, MultiCallsAndKeyListings) {
  auto client = connect(c_.node(0).address());
  ASSERT_NE(client, nullptr);
  std::vector<KeyValue> items;
  std::vector<std::string> keys;
  for (int k = 0; k < 1500; ++k) {
    items.push_back({key_of(k), value_of(k)});
    keys.push_back(key_of(k));
  }
  items.push_back({"", "empty key"});
  const auto set = client->set_multi(items, 2);
  ASSERT_EQ(set.size(), items.size());
  for (int k = 0; k < 1500; ++k)
    ASSERT_TRUE(set[k].ok()) << key_of(k) << ": " << set[k].to_string();
  EXPECT_EQ(set.back().code(), StatusCode::kInvalidArgument);

  keys.push_back("missing");
  const auto got = client->get_multi(keys, 2);
  ASSERT_EQ(got.size(), keys.size());
  for (int k = 0; k < 1500; ++k) {
    ASSERT_TRUE(got[k].ok()) << key_of(k) << ": " << got[k].status().to_string();
    EXPECT_EQ(*got[k], value_of(k));
  }
  EXPECT_EQ(got.back().status().code(), StatusCode::kNotFound);

  // The whole ring, and each node's share: each key on exactly one node.
  auto all = client->keys();
  ASSERT_TRUE(all.ok()) << all.status().to_string();
  std::vector<std::string> want(keys.begin(), keys.end() - 1);
  std::sort(want.begin(), want.end());
  EXPECT_EQ(*all, want);
  std::vector<std::string> shares;
  for (std::size_t i : c_.live()) {
    auto local = client->local_keys(c_.node(i).address());
    ASSERT_TRUE(local.ok()) << local.status().to_string();
    EXPECT_TRUE(std::is_sorted(local->begin(), local->end()));
    EXPECT_EQ(*local, c_.table(i).local_keys());
    shares.insert(shares.end(), local->begin(), local->end());
  }
  std::sort(shares.begin(), shares.end());
  EXPECT_EQ(shares, want);
  auto own = client->local_keys();
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(*own, c_.table(0).local_keys());

  EXPECT_EQ(client->stats().wrong_owner, 0u);
}

// Mutations through the client library: decided at the primary, atomic
// against the service's writes to the same counter from inside the ring.
TEST_F(DtableClientTest, MutationsAreDecidedAtThePrimary) {
  auto client = connect(c_.node(2).address());
  ASSERT_NE(client, nullptr);
  dtable::Mutation nx;
  nx.condition = dtable::Mutation::If::kAbsent;
  nx.operand = "first";
  auto r = client->mutate("cm:nx", nx, 2);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(r->applied);
  r = client->mutate("cm:nx", nx);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->applied);
  EXPECT_EQ(*c_.table(0).query().get("cm:nx"), "first");

  dtable::Mutation incr;
  incr.op = dtable::Mutation::Op::kIncrBy;
  incr.delta = 1;
  incr.expiry = dtable::Mutation::Expiry::kKeep;
  std::thread inside([&] {
    for (int i = 0; i < 100; ++i) {
      EXPECT_TRUE(c_.table(1).query().mutate("cm:ctr", incr).ok());
    }
  });
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(client->mutate("cm:ctr", incr).ok());
  inside.join();
  EXPECT_EQ(*client->get("cm:ctr"), "200");

  auto bad = client->mutate("cm:nx", incr);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("not an integer"), std::string::npos)
      << bad.status().to_string();
  EXPECT_EQ(client->mutate("", incr).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(DtableClientTest, BadInputIsInvalidArgument) {
  auto client = connect(c_.node(0).address());
  ASSERT_NE(client, nullptr);
  Status s = client->set("k", "v", 4);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("the maximum is 3"), std::string::npos) << s.message();
  const auto sent = client->stats().requests;
  EXPECT_EQ(client->set("k", "v", 0).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(client->del("k", 9).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(client->get("k", 4).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(client->set("", "v").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(client->get("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(client->stats().requests, sent);  // refused before anything was sent

  EXPECT_EQ(DtableClient::connect("nonsense").status().code(), StatusCode::kInvalidArgument);
  DtableClientOptions zero;
  zero.timeout = Milliseconds(0);
  EXPECT_EQ(DtableClient::connect(c_.node(0).address(), zero).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(DtableClientTest, OversizedValueIsRefusedByTheNode) {
  // The node's limit (16 MiB by default) is the node's to say. 16 MiB takes
  // more than the tests' 1 s to cross under ThreadSanitizer on a busy machine.
  DtableClientOptions slow = test_options();
  slow.timeout = Milliseconds(15000);
  auto opened = DtableClient::connect(c_.node(0).address(), slow);
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  auto client = std::move(opened).value();
  Status s = client->set("huge", std::string((16u << 20) + 1, 'v'));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.to_string();
  EXPECT_NE(s.message().find("exceeds the limit of 16777216 (max_value_bytes)"), std::string::npos)
      << s.message();
  EXPECT_EQ(client->get("huge").status().code(), StatusCode::kNotFound);
}

TEST_F(DtableClientTest, UnreachableNodeTimesOut) {
  DtableClientOptions o;
  o.timeout = Milliseconds(300);
  // The address of a node that was stopped: nobody answers there.
  const std::string address = c_.node(2).address();
  c_.kill(2);
  auto client = DtableClient::connect(address, o);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), StatusCode::kTimeout) << client.status().to_string();
}

TEST_F(DtableClientTest, ViewFollowsAJoinThroughWrongOwnerAnswers) {
  auto client = connect(c_.node(0).address());
  ASSERT_NE(client, nullptr);
  ASSERT_EQ(client->ring().size(), 9u);
  const std::size_t joined = c_.add();
  ASSERT_EQ(c_.wait_converged(), "");
  const std::string host = c_.node(joined).address();
  // Keys the new node owns; the client still routes them by the old view.
  std::vector<int> moved;
  for (int k = 0; moved.size() < 40 && k < 10000; ++k) {
    if (c_.owner_of(key_of(k)).host == host) moved.push_back(k);
  }
  ASSERT_EQ(moved.size(), 40u);
  for (int k : moved) {
    ASSERT_TRUE(client->set(key_of(k), value_of(k), 2).ok()) << key_of(k);
  }
  for (int k : moved) {
    EXPECT_EQ(client->get(key_of(k)).value_or("?"), value_of(k)) << key_of(k);
    EXPECT_TRUE(wait_until([&] { return c_.on_owner(key_of(k), value_of(k)); })) << key_of(k);
  }
  EXPECT_GT(client->stats().wrong_owner, 0u);
  // The refresh the wrong owners asked for runs in the background.
  EXPECT_TRUE(wait_until([&] { return client->ring() == c_.ring().all_vnodes(); }));
  EXPECT_GT(client->stats().refreshes, 1u);
  for (int k : moved) EXPECT_EQ(client->primary_of(key_of(k)).host, host);
}

TEST_F(DtableClientTest, GetFallsBackToReplicasWhenThePrimaryIsKilled) {
  auto client = connect(c_.node(0).address());
  ASSERT_NE(client, nullptr);
  const std::size_t victim = 2;
  const std::string host = c_.node(victim).address();
  std::vector<int> owned;
  for (int k = 0; owned.size() < 200 && k < 10000; ++k) {
    if (c_.owner_of(key_of(k)).host == host) owned.push_back(k);
  }
  ASSERT_EQ(owned.size(), 200u);
  // Consistency 3: every copy is written before the call returns.
  for (int k : owned) ASSERT_TRUE(client->set(key_of(k), value_of(k), 3).ok()) << key_of(k);

  c_.kill(victim);
  // The client's view still names the dead primary: its reads time out and
  // are answered by the replicas.
  auto first = client->get(key_of(owned[0]));
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_EQ(*first, value_of(owned[0]));
  EXPECT_GE(client->stats().replica_reads, 1u);

  // Every key, at once and in flight together, while the ring heals.
  Completions done;
  std::mutex mu;
  std::map<int, Result<std::string>> got;
  for (int k : owned) {
    client->get_async(key_of(k), 1, [&, k](Result<std::string> r) {
      {
        std::lock_guard lock(mu);
        got.emplace(k, std::move(r));
      }
      done.done();
    });
  }
  ASSERT_TRUE(done.wait_for(owned.size()));
  for (int k : owned) {
    const auto& r = got.at(k);
    ASSERT_TRUE(r.ok()) << key_of(k) << ": " << r.status().to_string();
    EXPECT_EQ(*r, value_of(k));
  }

  // Once the ring has healed, writes go on; 3 copies cannot be met with 2 hosts.
  ASSERT_EQ(c_.wait_converged(), "");
  EXPECT_TRUE(client->set("after", "kill", 2).ok());
  EXPECT_EQ(client->get("after").value_or("?"), "kill");
  Status s = client->set("three", "copies", 3);
  EXPECT_EQ(s.code(), StatusCode::kConsistencyNotMet) << s.to_string();
  EXPECT_EQ(client->get("three").status().code(), StatusCode::kNotFound);
  auto all = client->get_multi([&] {
    std::vector<std::string> keys;
    for (int k : owned) keys.push_back(key_of(k));
    return keys;
  }());
  for (std::size_t i = 0; i < owned.size(); ++i) {
    EXPECT_EQ(all[i].value_or("?"), value_of(owned[i])) << key_of(owned[i]);
  }
}

TEST_F(DtableLoadTest, ThousandsOfRequestsInFlight) {
  // The default timeout: the nodes serve thousands of queued writes.
  auto found = DtableClient::connect(c_.node(1).address());
  ASSERT_TRUE(found.ok()) << found.status().to_string();
  auto client = std::move(found).value();
  std::atomic<int> failures{0};
  std::mutex mu;
  std::string first_error;  // guarded by mu
  auto failed = [&](const Status& s) {
    failures.fetch_add(1);
    std::lock_guard lock(mu);
    if (first_error.empty()) first_error = s.to_string();
  };

  // Chains: each completion starts the chain's next request (a benchmark's
  // pattern), so `chains` requests are in flight all the time. Writes that wait
  // for replicas hold no worker of their primary, so as many of them can be in
  // flight as writes at consistency 1 (the test nodes have 16 workers at most).
  constexpr int kChains = 64, kPerChain = 40, kKeys = kChains * kPerChain;
  auto run_chains = [&](int chains, int first_key, int consistency, bool write) {
    Completions finished;
    const int per_chain = kKeys / chains;
    std::function<void(int, int)> next = [&](int chain, int step) {
      if (step == per_chain) return finished.done();
      const int k = first_key + chain * per_chain + step;
      if (write) {
        client->set_async(key_of(k), value_of(k), consistency, [&, chain, step](Status s) {
          if (!s.ok()) failed(s);
          next(chain, step + 1);
        });
      } else {
        client->get_async(key_of(k), consistency, [&, k, chain, step](Result<std::string> r) {
          if (!r.ok() || *r != value_of(k)) failed(r.status());
          next(chain, step + 1);
        });
      }
    };
    for (int chain = 0; chain < chains; ++chain) next(chain, 0);
    return finished.wait_for(static_cast<std::size_t>(chains));
  };
  ASSERT_TRUE(run_chains(kChains, 0, 1, /*write=*/true));
  EXPECT_EQ(failures.load(), 0) << first_error;
  ASSERT_TRUE(run_chains(kChains, kKeys, 2, /*write=*/true));
  EXPECT_EQ(failures.load(), 0) << first_error;
  ASSERT_TRUE(run_chains(kChains, 2 * kKeys, 3, /*write=*/true));
  EXPECT_EQ(failures.load(), 0) << first_error;
  ASSERT_TRUE(run_chains(kChains, 0, 1, /*write=*/false));
  ASSERT_TRUE(run_chains(kChains, kKeys, 2, /*write=*/false));
  ASSERT_TRUE(run_chains(kChains, 2 * kKeys, 3, /*write=*/false));
  EXPECT_EQ(failures.load(), 0) << first_error;

  // A burst: every get at once on the same connections.
  Completions burst;
  for (int k = 0; k < kKeys; ++k) {
    client->get_async(key_of(k), 1, [&, k](Result<std::string> r) {
      if (!r.ok() || *r != value_of(k)) failed(r.status());
      burst.done();
    });
  }
  ASSERT_TRUE(burst.wait_for(kKeys));
  EXPECT_EQ(failures.load(), 0) << first_error;
  EXPECT_EQ(client->stats().wrong_owner, 0u);
}

TEST_F(DtableClientTest, BurstOfReplicatedWritesKeepsEveryOutcomeTrue) {
  // Every write at once, client retries off: whatever each one answers must be
  // what a read sees afterwards. Acknowledged: readable. "Consistency not met":
  // not readable, now or after the replicas had time to act on the rollback.
  DtableClientOptions o = test_options();
  o.max_attempts = 1;
  o.timeout = Milliseconds(20000);
  auto found = DtableClient::connect(c_.node(0).address(), o);
  ASSERT_TRUE(found.ok()) << found.status().to_string();
  auto client = std::move(found).value();
#if defined(__SANITIZE_THREAD__)
  constexpr int kWrites = 1000;  // TSan slows every node about tenfold
#else
  constexpr int kWrites = 3000;
#endif
  std::mutex mu;
  std::vector<Status> outcome(kWrites);  // guarded by mu
  Completions done;
  for (int k = 0; k < kWrites; ++k) {
    client->set_async(key_of(k), value_of(k), 2, [&, k](Status s) {
      {
        std::lock_guard lock(mu);
        outcome[static_cast<std::size_t>(k)] = s;
      }
      done.done();
    });
  }
  ASSERT_TRUE(done.wait_for(kWrites));
  // A client-side timeout leaves the outcome unknown: either is allowed.
  auto check = [&](int* acked, int* refused, int* unknown) {
    *acked = *refused = *unknown = 0;
    for (int k = 0; k < kWrites; ++k) {
      Status s;
      {
        std::lock_guard lock(mu);
        s = outcome[static_cast<std::size_t>(k)];
      }
      auto r = client->get(key_of(k), 1);
      if (s.ok()) {
        ++*acked;
        ASSERT_TRUE(r.ok()) << key_of(k) << ": " << r.status().to_string();
        EXPECT_EQ(*r, value_of(k));
      } else if (s.code() == StatusCode::kConsistencyNotMet) {
        ++*refused;
        EXPECT_EQ(r.status().code(), StatusCode::kNotFound)
            << key_of(k) << " failed with \"" << s.message() << "\" yet reads";
      } else if (s.code() == StatusCode::kTimeout) {
        ++*unknown;
      } else {
        ADD_FAILURE() << key_of(k) << ": " << s.to_string();
      }
    }
  };
  int acked = 0, refused = 0, unknown = 0;
  check(&acked, &refused, &unknown);
  EXPECT_EQ(acked + refused + unknown, kWrites);
  // No worker waits for replicas any more: the burst is served, not refused.
  EXPECT_GT(acked, kWrites / 2);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  check(&acked, &refused, &unknown);
}

TEST_F(DtableLoadTest, ConcurrentWritesShareReplicaRequestsAndEveryCopyLands) {
  // Many writes at once: each primary sends its replicas batches (a channel
  // with a request out lets the next writes wait and go together), and every
  // acknowledged write still ends on all three hosts.
  DtableClientOptions o = test_options();
  o.timeout = Milliseconds(20000);
  auto found = DtableClient::connect(c_.node(0).address(), o);
  ASSERT_TRUE(found.ok()) << found.status().to_string();
  auto client = std::move(found).value();
  auto replica_requests = [&] {
    double n = 0;
    for (std::size_t i : c_.live()) {
      const auto snap = c_.node(i).metrics().snapshot();
      for (const char* type : {"dtable.set_replica", "dtable.set_multi_item"}) {
        n += sum_of(snap, "dendrite_transport_requests_received_total", {{"type", type}});
      }
    }
    return n;
  };
  const double before = replica_requests();
  constexpr int kWrites = 2000;
  std::mutex mu;
  std::vector<Status> outcome(kWrites);  // guarded by mu
  Completions done;
  for (int k = 0; k < kWrites; ++k) {
    client->set_async("batch-" + key_of(k), value_of(k), 2, [&, k](Status s) {
      {
        std::lock_guard lock(mu);
        outcome[static_cast<std::size_t>(k)] = s;
      }
      done.done();
    });
  }
  ASSERT_TRUE(done.wait_for(kWrites));
  std::vector<int> acked;
  {
    std::lock_guard lock(mu);
    for (int k = 0; k < kWrites; ++k) {
      if (outcome[static_cast<std::size_t>(k)].ok()) acked.push_back(k);
    }
  }
  EXPECT_GT(acked.size(), static_cast<std::size_t>(kWrites / 2));
  // Two replicas per write, but fewer requests than that carried them.
  const double sent = replica_requests() - before;
  EXPECT_GT(sent, 0);
  EXPECT_LT(sent, 2.0 * kWrites) << "no replica write was coalesced";
  for (int k : acked) {
    const std::string key = "batch-" + key_of(k);
    EXPECT_TRUE(eventually([&] { return c_.hosts_with(key, value_of(k)).size() == 3; }))
        << key << " is on " << c_.hosts_with(key, value_of(k)).size() << " hosts";
  }
}

TEST_F(DtableClientTest, DestroyingTheClientCompletesWhatIsInFlight) {
  auto client = connect(c_.node(0).address());
  ASSERT_NE(client, nullptr);
  Completions done;
  std::atomic<int> ok{0};
  constexpr int kCalls = 500;
  for (int k = 0; k < kCalls; ++k) {
    client->set_async(key_of(k), value_of(k), 1, [&](Status s) {
      if (s.ok()) ok.fetch_add(1);
      done.done();
    });
  }
  client.reset();  // waits for the answers of what is on the wire
  EXPECT_EQ(done.count(), static_cast<std::size_t>(kCalls));
}

}  // namespace
}  // namespace dendrite::test
