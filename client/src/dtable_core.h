// The machinery under DtableClient: connections per node, the cached ring
// view and its refresh, the retry thread, accounting for a clean shutdown.
// Internal to libdendrite_client; the operations themselves are in
// dtable_ops.cc.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "dendrite/client/connection.h"
#include "dendrite/client/dtable_client.h"
#include "dendrite/host.h"
#include "dendrite/message.h"
#include "dendrite/status.h"
#include "dendrite/vnode.h"

namespace dendrite::client::detail {

using SteadyClock = std::chrono::steady_clock;

// One learned ring view. Immutable once published; shared by the operations
// that route with it.
struct RingSnapshot {
  std::vector<Vnode> vnodes;  // every vnode of the hosts that answered, sorted by id
  int replicas = 2;           // the ring's replicas (from the nodes' config)

  // The index in `vnodes` of the key's primary: the first vnode with id >= hash,
  // wrapping. REQUIRES: !vnodes.empty().
  std::size_t owner_index(const Id& hash) const;
  // The vnodes that hold the replicas of the keys of vnodes[primary]: the next
  // `replicas` vnodes clockwise on distinct hosts other than its own (the
  // plugin's placement).
  std::vector<Vnode> replicas_of(std::size_t primary) const;
};

// Thread-safe. Lifetime: owned by DtableClient; close() must run before the
// destructor, from a thread that is not one of its callbacks.
class DtableCore {
 public:
  DtableCore(std::string seed, DtableClientOptions options);
  ~DtableCore();

  const std::string& seed() const { return seed_; }
  const DtableClientOptions& options() const { return options_; }

  // Starts the retry thread. Call once, before anything else.
  void start();
  // Fails what is queued, waits for what is on the wire, stops the thread,
  // closes the connections. Idempotent.
  void close();

  // The current view (never null after a successful refresh()).
  std::shared_ptr<const RingSnapshot> view() const;
  // Learns the ring now: the status of the seed and every known host, then of
  // every host their successor lists name. Blocking (rounds of parallel
  // requests, each bounded by the timeout). On error the old view stays.
  Status refresh();
  // Asks the retry thread for a refresh, unless one began after `since` (the
  // moment the failed request was sent).
  void request_refresh(SteadyClock::time_point since);

  // Sends `request` to `host` with the client's timeout; `done` runs exactly
  // once (see Connection::request_async), inline with Unavailable when the
  // client is closing.
  void send(const std::string& host, Message request, ReplyCallback done);
  // Sends every request in parallel and waits for all answers. Blocking: not
  // from a callback.
  std::vector<Result<Message>> call_all(
      const std::vector<std::pair<std::string, Message>>& requests);

  // Runs `task` on the retry thread after `delay` (after a refresh first when
  // `refresh_since` is set, see request_refresh()). False when the client is
  // closing: the caller completes its operation instead.
  bool schedule(Milliseconds delay, std::optional<SteadyClock::time_point> refresh_since,
                std::function<void()> task);
  bool closing() const;

  // The pause before attempt `attempt` (2, 3, ...).
  Milliseconds backoff(int attempt) const;

  DtableClientStats stats() const;
  // Counters (relaxed atomics).
  std::atomic<std::uint64_t> n_requests{0}, n_retries{0}, n_wrong_owner{0}, n_no_answer{0},
      n_replica_reads{0}, n_refreshes{0};

 private:
  Result<std::shared_ptr<Connection>> connection(const std::string& host);
  void run();

  const std::string seed_;
  const DtableClientOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;                // worker wake-ups and "nothing in flight"
  std::shared_ptr<const RingSnapshot> view_;  // guarded by mu_
  std::shared_ptr<ConnectionLoop> loop_;      // serves every connection; guarded by mu_
  std::map<std::string, std::shared_ptr<Connection>> conns_;  // guarded by mu_
  bool closing_ = false;                                      // guarded by mu_
  std::size_t in_flight_ = 0;  // requests on the wire; guarded by mu_
  std::multimap<SteadyClock::time_point, std::function<void()>> timers_;  // guarded by mu_
  bool refresh_wanted_ = false;                                           // guarded by mu_
  SteadyClock::time_point last_refresh_start_{};                          // guarded by mu_
  std::thread worker_;
  bool closed_ = false;  // close() ran; used by the owner's thread only
};

}  // namespace dendrite::client::detail
