// DtableClient: the replicated key/value store (the dtable plugin) as a program
// outside the ring uses it. Connect to any node; the client learns the ring
// from the nodes' status documents, caches it, and sends each request straight
// to the key's primary vnode (the first vnode whose id is >= SHA-1(key),
// wrapping), with many requests in flight on one connection per node.
//
//   auto client = dendrite::client::DtableClient::connect("127.0.0.1:5000");
//   if (!client.ok()) return fail(client.status());
//   Status s = (*client)->set("user:42", "Ada", /*consistency=*/2);
//   Result<std::string> v = (*client)->get("user:42");   // NotFound when absent
//
// Errors are Status values (no exceptions):
//   InvalidArgument    empty key, consistency below 1 or above max_consistency()
//   NotFound           get: the key is absent or deleted
//   ConsistencyNotMet  fewer copies than asked could be written (the failed
//                      write is rolled back by the primary) or read
//   Timeout            a node did not answer within the timeout, on every attempt
//   Unavailable        no node reachable, the ring kept moving under the request
//                      (every attempt hit a "wrong owner"), or the client is closing
//   RemoteError        a node refused the request (e.g. it runs no dtable plugin)
// Wire protocol: plugins/dtable/include/dendrite/dtable/messages.h; guide:
// docs/client.md.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dendrite/client/credentials.h"
#include "dendrite/dtable/dtable.h"
#include "dendrite/dtable/mutation.h"
#include "dendrite/host.h"
#include "dendrite/status.h"
#include "dendrite/vnode.h"

namespace dendrite::client {

namespace detail {
class DtableCore;  // the implementation (client/src/dtable_core.h)
}  // namespace detail

// How a DtableClient talks to the ring.
struct DtableClientOptions {
  // Bound of one request to one node (one attempt). A write may take the
  // primary up to about one node timeout longer (it waits for its replicas).
  Milliseconds timeout{5000};
  // Attempts per key (the first included) before an operation fails. A retry
  // follows a "wrong owner" reply (at once, to the owner it names, or after a
  // ring refresh) or a request without an answer (after a ring refresh).
  int max_attempts = 5;
  // Wait before a retry that needs a ring refresh; doubles for each further
  // attempt, at most 1 s.
  Milliseconds retry_backoff{50};
  // The client's CURVE keys, for a ring that runs CURVE (docs/security.md);
  // nullptr = plaintext.
  std::shared_ptr<const Credentials> credentials;
};

// A key and its value (set_multi).
struct KeyValue {
  std::string key;
  std::string value;
};

// Counters since connect(), for tests and benchmarks. Every field counts events
// of the whole client.
struct DtableClientStats {
  std::uint64_t requests = 0;       // requests sent to nodes (retries and status included)
  std::uint64_t retries = 0;        // attempts beyond the first (per key or per batch)
  std::uint64_t wrong_owner = 0;    // "wrong owner" answers (a key sent to a non-owner)
  std::uint64_t no_answer = 0;      // requests that timed out or could not be sent
  std::uint64_t replica_reads = 0;  // gets answered from replicas (primary silent)
  std::uint64_t refreshes = 0;      // ring views learned (connect() included)
};

// Completion callbacks of the asynchronous calls. Each runs exactly once, on a
// thread of the client (a connection's I/O thread or the client's retry
// thread), or on the calling thread when the call fails at once (bad input,
// client closing). A callback must not block and must not destroy the client;
// it may start further asynchronous calls (not the blocking ones).
using StatusCallback = std::function<void(Status)>;
using ValueCallback = std::function<void(Result<std::string>)>;
using StatusesCallback = std::function<void(std::vector<Status>)>;
using ValuesCallback = std::function<void(std::vector<Result<std::string>>)>;
using MutationCallback = std::function<void(Result<dtable::MutationResult>)>;
using EntryCallback = std::function<void(Result<dtable::ValueWithExpiry>)>;

// Thread-safe: every method may be called from any thread concurrently, except
// the destructor. The blocking methods must not be called from a completion
// callback.
class DtableClient {
 public:
  // Connects to the ring through `node` ("host:port") and learns the ring
  // (status of `node`, then of every host its vnodes name). Blocking, bounded by
  // a few `options.timeout`s. Errors: InvalidArgument (malformed address or
  // options), Timeout / Unavailable (no node answers), RemoteError / Internal
  // (the node's answers are not usable).
  static Result<std::unique_ptr<DtableClient>> connect(const std::string& node,
                                                       DtableClientOptions options = {});

  // Completes what is still in flight: queued retries fail with Unavailable
  // ("client closed") and requests on the wire are waited for (each at most
  // one timeout). Callbacks must not start new calls from then on (they would
  // fail at once with Unavailable). Must not run in a completion callback.
  ~DtableClient();
  DtableClient(const DtableClient&) = delete;
  DtableClient& operator=(const DtableClient&) = delete;

  // The node given to connect().
  const std::string& node() const;
  // The largest consistency level: the ring's replicas + 1 (from the nodes'
  // config).
  int max_consistency() const;
  // The cached ring view: every vnode of the hosts that answered the last
  // refresh, sorted by id.
  std::vector<Vnode> ring() const;
  // The vnode the client sends requests about `key` to: its primary in the
  // cached view.
  Vnode primary_of(std::string_view key) const;
  // Re-learns the ring now (blocking). On error the previous view stays.
  Status refresh();
  DtableClientStats stats() const;

  // Writes `value` under `key`; ok once `consistency` copies (primary
  // included, 1 .. max_consistency()) hold it. Last write wins by the
  // primary's timestamp. A retried write may be applied twice (same value).
  Status set(std::string_view key, std::string_view value, int consistency = 1);
  // The newest committed value of `key`, or NotFound. With `consistency` n > 1
  // the primary reads n copies, returns the newest and repairs stale ones. When
  // the primary does not answer, the key's replicas are read (newest wins; n of
  // them must answer).
  Result<std::string> get(std::string_view key, int consistency = 1);
  // get() with the value's expiry (Unix ms, 0: never), as stored with the
  // version read: what TTL shows. An expired value is NotFound, as in get().
  Result<dtable::ValueWithExpiry> get_entry(std::string_view key, int consistency = 1);
  // Deletes `key` (deleting an absent key succeeds).
  Status del(std::string_view key, int consistency = 1);

  // set() of each item, batched per primary; one Status per item, in order.
  std::vector<Status> set_multi(const std::vector<KeyValue>& items, int consistency = 1);
  // get() of each key, batched per primary; one result per key, in order.
  std::vector<Result<std::string>> get_multi(const std::vector<std::string>& keys,
                                             int consistency = 1);

  // Runs `m` on `key` at its primary, atomically against the key's current
  // value there (conditional sets, counters, appends, expiry changes:
  // dendrite/dtable/mutation.h, docs/dtable.md "Mutations"), replicated to
  // `consistency` copies. Errors as set()'s, and InvalidArgument for a value
  // that is not a number a counter can add to (Redis's wording). Unlike
  // set(), a mutation whose primary did not answer is not sent again (it may
  // have been applied): Timeout saying so.
  Result<dtable::MutationResult> mutate(std::string_view key, const dtable::Mutation& m,
                                        int consistency = 1);

  // Every key of the ring (deleted ones excluded), sorted, each once: the
  // primary keys of each host of a freshly learned ring view. Blocking. Errors:
  // Timeout / Unavailable when some host of the ring does not answer.
  Result<std::vector<std::string>> keys();
  // The keys whose primary copy is on `node` ("" = the node given to
  // connect()), sorted. Blocking.
  Result<std::vector<std::string>> local_keys(const std::string& node = "");
  // Has `node` ("" = the node given to connect()) write an online, consistent
  // copy of its tables into `dir`, an absolute path on that node's machine
  // that must not exist yet (docs/dtable.md "Backups"). Blocking, bounded by
  // the timeout. InvalidArgument: a bad `dir`, or a node without on-disk
  // tables.
  Status backup(const std::string& dir, const std::string& node = "");

  // Asynchronous forms of the calls above: return at once, `done` gets the
  // same result the blocking form returns.
  void set_async(std::string key, std::string value, int consistency, StatusCallback done);
  void get_async(std::string key, int consistency, ValueCallback done);
  void get_entry_async(std::string key, int consistency, EntryCallback done);
  void del_async(std::string key, int consistency, StatusCallback done);
  void set_multi_async(std::vector<KeyValue> items, int consistency, StatusesCallback done);
  void get_multi_async(std::vector<std::string> keys, int consistency, ValuesCallback done);
  void mutate_async(std::string key, dtable::Mutation m, int consistency, MutationCallback done);

 private:
  explicit DtableClient(std::unique_ptr<detail::DtableCore> core);
  std::unique_ptr<detail::DtableCore> core_;
};

}  // namespace dendrite::client
