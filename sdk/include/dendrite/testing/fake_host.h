// A fake dendrite::Host (and a recording Logger) for unit tests of plugins and
// of host parts that talk to plugins, without a ring or a network. Part of the
// installed SDK: link DendriteSDK::testing (in tree: dendrite::testing).
//
//   dendrite::testing::FakeHost host("127.0.0.1:7000", /*vnodes=*/1);
//   dendrite::testing::RecordingLogger log;
//   dendrite::PluginContext ctx{"tally", host, log};
//   MyPlugin plugin;
//   ASSERT_TRUE(plugin.init("{}", ctx).ok());
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "dendrite/host.h"
#include "dendrite/logger.h"
#include "dendrite/service_registry.h"

namespace dendrite::testing {

// A Host whose ring is a fixed, configurable list of vnodes, whose requests are
// recorded and answered from canned replies or a responder function, and whose
// services live in a real in-memory ServiceRegistry. Thread-safe (every method).
class FakeHost final : public Host {
 public:
  // Answers a request to `host` (used when no canned reply matches its type).
  using Responder = std::function<Result<Message>(const std::string& host, const Message& request)>;

  // One request as the fake received it.
  struct Request {
    std::string host;
    Message message;
    Milliseconds timeout;
    bool async = false;
  };

  // A host at `address` with `vnodes` local vnodes (ids Id::for_vnode(address, i)).
  explicit FakeHost(std::string address = "127.0.0.1:7000", int vnodes = 3);
  // Waits for pending request_async() callbacks.
  ~FakeHost() override;
  FakeHost(const FakeHost&) = delete;
  FakeHost& operator=(const FakeHost&) = delete;

  // --- Configuration ---
  void set_replicas(int replicas);
  void set_default_timeout(Milliseconds timeout);
  // Replaces the local vnodes (and, unless set_ring() was called, the ring).
  void set_local_vnodes(std::vector<Vnode> vnodes);
  // The whole ring as this host sees it, in any order (kept sorted by id): it
  // drives predecessor(), successors(), remote_successors() and lookup().
  // Default: the local vnodes only.
  void set_ring(std::vector<Vnode> ring);
  // Length of the successor lists (default 8).
  void set_num_successors(std::size_t n);
  // lookup() fails with `error` from now on (an ok Status restores it).
  void set_lookup_error(Status error);
  // Every request of `type` gets `reply` (a Message or an error Status).
  void set_reply(MessageType type, Result<Message> reply);
  // Answers requests without a canned reply. Without one they fail with
  // Unavailable. Called without the fake's lock held.
  void set_responder(Responder responder);

  // --- Inspection ---
  // Every request so far (request() and request_async()), in arrival order.
  std::vector<Request> requests() const;
  void clear_requests();
  // The registry behind publish_service()/find_service().
  ServiceRegistry& services() { return services_; }

  // --- dendrite::Host ---
  std::string address() const override { return address_; }
  int replicas() const override;
  Milliseconds default_timeout() const override;
  bool leaving() const override { return leaving_.load(); }
  // What leaving() answers (default false).
  void set_leaving(bool leaving) { leaving_.store(leaving); }
  std::vector<Vnode> local_vnodes() const override;
  // The vnode before `vnode` in the ring (nullopt for a vnode not in it).
  std::optional<Vnode> predecessor(const Id& vnode) const override;
  // The next num_successors vnodes after `vnode` (itself in a one-vnode ring).
  std::vector<Vnode> successors(const Id& vnode) const override;
  std::vector<Vnode> remote_successors(const Id& vnode) const override;
  // What set_members() gave; by default every host of the ring, reachable.
  std::vector<Member> members() const override;
  void set_members(std::vector<Member> members);
  // What set_dialect() gave for `host`; kOurs by default.
  PeerDialect peer_dialect(const std::string& host) const override;
  void set_dialect(const std::string& host, PeerDialect dialect);
  // What set_fingers() gave for `vnode` (default: none).
  std::vector<Vnode> fingers(const Id& vnode) const override;
  void set_fingers(const Id& vnode, std::vector<Vnode> fingers);
  // The first min(n, ring size) vnodes from the owner of `key`, from the ring.
  Result<std::vector<Vnode>> lookup(std::size_t n, const Id& key) override;
  using Host::request;
  Result<Message> request(const std::string& host, const Message& request,
                          Milliseconds timeout) override;
  // Answered like request(); `done` runs on the fake's callback thread.
  void request_async(const std::string& host, Message request, Milliseconds timeout,
                     ReplyCallback done) override;
  Status publish_service(std::string name, std::shared_ptr<void> service) override;
  Result<std::shared_ptr<void>> find_service(std::string_view name) const override;
  // A registry of the fake's own.
  MetricsRegistry& metrics() override { return metrics_; }

 private:
  Result<Message> answer(const std::string& host, const Message& request);
  std::vector<Vnode> ring_copy() const;
  void callback_loop();

  const std::string address_;
  mutable std::mutex mu_;
  int replicas_ = 2;                                // guarded by mu_
  Milliseconds timeout_{1000};                      // guarded by mu_
  std::vector<Vnode> local_;                        // guarded by mu_
  std::optional<std::vector<Vnode>> ring_;          // guarded by mu_; sorted by id
  std::size_t num_successors_ = 8;                  // guarded by mu_
  Status lookup_error_;                             // guarded by mu_
  std::map<MessageType, Result<Message>> replies_;  // guarded by mu_
  Responder responder_;                             // guarded by mu_
  std::vector<Request> requests_;                   // guarded by mu_
  std::map<Id, std::vector<Vnode>> fingers_;        // guarded by mu_
  std::optional<std::vector<Member>> members_;      // guarded by mu_
  std::map<std::string, PeerDialect> dialects_;     // guarded by mu_

  std::deque<std::function<void()>> callbacks_;  // guarded by mu_
  bool stopping_ = false;                        // guarded by mu_
  std::condition_variable callbacks_cv_;
  std::thread callback_thread_;  // started on the first request_async()

  ServiceRegistry services_;
  MetricsRegistry metrics_;
  std::atomic<bool> leaving_{false};
};

// A Logger that keeps every line (all levels enabled). Thread-safe.
class RecordingLogger final : public Logger {
 public:
  // `sink`, if given, receives "<prefix><line>" too (for a log shared by many
  // loggers); it must be thread-safe and outlive the logger.
  explicit RecordingLogger(std::function<void(const std::string&)> sink = nullptr,
                           std::string prefix = "")
      : sink_(std::move(sink)), prefix_(std::move(prefix)) {}

  void log(LogLevel level, std::string_view line) override;
  bool enabled(LogLevel) const override { return true; }
  // The lines logged so far, in order.
  std::vector<std::string> lines() const;

 private:
  std::function<void(const std::string&)> sink_;
  const std::string prefix_;
  mutable std::mutex mu_;
  std::vector<std::string> lines_;  // guarded by mu_
};

}  // namespace dendrite::testing
