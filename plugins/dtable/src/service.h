// The Table service published as "dtable": routes each call to the key's
// primary (a local vnode directly, else through a ring lookup), retries on a
// changing ring, and reads the replicas when the primary does not answer.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "codec.h"
#include "context.h"
#include "dendrite/dtable/dtable.h"

namespace dendrite::dtable {

// Thread-safe. Calls after the plugin stopped get Unavailable.
class TableService final : public Table {
 public:
  explicit TableService(std::shared_ptr<Context> ctx) : ctx_(std::move(ctx)) {}

  Status set(std::string_view key, std::string_view value, const Options& options) override;
  Result<std::string> get(std::string_view key, const Options& options) override;
  Result<ValueWithExpiry> get_entry(std::string_view key, const Options& options) override;
  Result<MutationResult> mutate(std::string_view key, const Mutation& m,
                                const Options& options) override;
  bool get_entry_here(std::string_view key, const Options& options,
                      const std::function<void(Result<ValueWithExpiry>)>& done) override;
  bool set_here(std::string_view key, std::string_view value, const Options& options,
                std::function<void(Status)> done) override;
  bool get_entry_async(std::string_view key, const Options& options,
                       std::function<void(AsyncAttempt<Result<ValueWithExpiry>>)> done) override;
  bool set_async(std::string_view key, std::string_view value, const Options& options,
                 std::function<void(AsyncAttempt<Status>)> done) override;
  Status del(std::string_view key, const Options& options) override;
  std::vector<Status> set_multi(const std::vector<KeyValue>& items,
                                const Options& options) override;
  std::vector<Result<std::string>> get_multi(const std::vector<std::string>& keys,
                                             const Options& options) override;
  std::vector<std::string> local_keys() const override;
  // From the primary tables' usage (Store::usage()): counted as writes go.
  KeyCounts local_key_counts() const override;
  Result<ScanPage> scan(std::uint64_t cursor, std::size_t count, const Options& options) override;
  std::vector<StoredCopy> stored_copies(std::string_view key) const override;
  int max_consistency() const override { return ctx_->max_consistency(); }
  HookId add_write_hook(WriteHook hook) override { return ctx_->hooks.add(std::move(hook)); }
  void remove_write_hook(HookId id) override { ctx_->hooks.remove(id); }

 private:
  // The key's primary: a local vnode that owns it, else a lookup (always a
  // lookup when `fresh`).
  Result<Vnode> route(const Id& hash, bool fresh) const;
  // The local vnode that owns `hash` by its known predecessor (the one
  // route() picks without a lookup), or nullptr: Context::owner_for() of no
  // asked vnode.
  VnodeState* primary_here(const Id& hash) const;
  // Where the async calls send: the key's primary as this node's ring view
  // shows it, without asking another node (primary_here()'s vnode, else the
  // entry of a local successor list whose gap holds the hash), when it is
  // known to be a node of this implementation; nullopt when only a lookup
  // can tell, or for an original node (it takes its writes one at a time).
  // May be stale: the primary then answers "wrong owner".
  std::optional<Vnode> async_primary(const Id& hash) const;
  // How long a write request may wait for its primary, which itself waits up
  // to one timeout for the replicas (two for a mutation, which may first read
  // the key through from its previous holders).
  Milliseconds write_limit(const Options& options, bool repeatable) const;
  // The indices `which` grouped by the primary of key_of(i), one group per
  // vnode (in a stable order); `single` holds those whose primary is not
  // known now (they go through the one-key path).
  struct PrimaryGroups {
    std::map<std::pair<std::string, Id>, std::pair<Vnode, std::vector<std::size_t>>> groups;
    std::vector<std::size_t> single;
  };
  PrimaryGroups group_by_primary(
      const std::vector<std::size_t>& which,
      const std::function<const std::string&(std::size_t)>& key_of) const;
  Status check(std::string_view key, const Options& options) const;
  // InvalidArgument when options.consistency is out of 1 .. max_consistency().
  Status check_consistency(const Options& options) const;
  // check() plus the key and value size limits of a write.
  Status check_write(std::string_view key, std::size_t value_bytes, const Options& options) const;
  Milliseconds timeout(const Options& options) const;
  // The hosts a walk over the ring asks, each with whether it is thought to
  // answer: the ring's members (which the host learns within a second or so
  // of a join) and the hosts of this node's routing state (successors,
  // fingers, predecessors), which know of a newcomer sooner.
  std::map<std::string, bool> walk_hosts() const;
  // The hosts of the vnodes whose arcs cover the hash interval [from, to]
  // (from <= to), by ring lookups now. Stops early (fewer hosts) when a
  // lookup fails. Blocking.
  std::set<std::string> owners_of(const Id& from, const Id& to) const;
  // An attempt already made at the key's primary: where, and what came back.
  struct FirstAttempt {
    Vnode primary;
    Result<Message> reply;
  };
  // The next attempt at the key's primary: `first` when it holds one (then
  // cleared), else a route (a lookup when `fresh`) and send(primary), a
  // callable taking the Vnode and returning Result<Message>. nullopt, with
  // `last` set, when no route was found. Defined (and used) in service.cc.
  template <typename Send>
  std::optional<FirstAttempt> next_attempt(std::optional<FirstAttempt>& first, const Id& hash,
                                           bool fresh, Send&& send, Status& last) const;
  // get_entry() of the checked key `hash`; with `first`, that attempt counts
  // as the first and the call goes on from its reply.
  Result<ValueWithExpiry> read_entry(const Id& hash, const Options& options,
                                     std::optional<FirstAttempt> first);
  Status write(std::string_view key, std::string_view value, bool deleted, const Options& options,
               std::optional<FirstAttempt> first = std::nullopt);
  // Sends request(primary) to the key's primary, routing again while the
  // ring changes (wrong owner, an Err reply; no answer too when
  // `repeatable`), within the options' timeout. The primary's Response (ok
  // or a failure other than wrong owner), else the last error; Unavailable
  // naming the host when it is an original node that does not know the
  // type; Timeout ("may or may not have been applied") when a request that
  // is not `repeatable` got no answer.
  // With `first`, that attempt counts as the first and the call goes on
  // from its reply.
  Result<pb::PBDTableResponse> ask_primary(const Id& hash,
                                           const std::function<Message(const Vnode&)>& request,
                                           const Options& options, bool repeatable,
                                           std::optional<FirstAttempt> first = std::nullopt);
  // Reads the replicas of `primary` for `hash`: newest wins, `need` answers.
  Result<std::optional<Item>> read_replicas(const Vnode& primary, const Id& hash, int need,
                                            const Options& options);

  std::shared_ptr<Context> ctx_;
};

}  // namespace dendrite::dtable
