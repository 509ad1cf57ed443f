#include "dtable_ops.h"

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "dtable_wire.h"

namespace dendrite::client::detail {
namespace {

// Items per SetMultiItem / GetMultiItem request.
constexpr std::size_t kBatchItems = 512;
// Keys per LocalKeys page, and the most pages one listing reads.
constexpr int kKeysPage = 10000;
constexpr int kMaxKeyPages = 1 << 20;

Status closed() {
  return Status::Unavailable("client closed");
}

// The error an operation ends with after its last attempt.
Status final_error(const Status& last, bool wrong_owner, int attempts) {
  if (wrong_owner) {
    return Status::Unavailable("the ring is changing: still the wrong owner after " +
                               std::to_string(attempts) + " attempts (" + last.message() + ")");
  }
  return last;
}

Result<dtable::ValueWithExpiry> entry_of(const ReadAnswer& a, const std::string& key) {
  if (a.has_copy && !a.deleted) return dtable::ValueWithExpiry{a.value, a.expires_ms};
  return Status::NotFound("key '" + key + "' not found");
}

bool same(const std::optional<Vnode>& a, const Vnode& b) {
  return a && a->id == b.id && a->host == b.host;
}

// ---- single-key operations (set, del, get) ----

// What WriteOp and GetOp share: the attempt count, the owner a node named,
// the retry after a backoff. `Op` derives from it and provides attempt() and
// finish(Status). Touched by one thread at a time: each step starts the next.
template <typename Op>
class SingleKeyOp : public std::enable_shared_from_this<Op> {
 protected:
  explicit SingleKeyOp(DtableCore& core) : core_(core) {}

  // Where the next attempt goes: the owner a node named, else the owner of
  // `hash` in `view`. Counts the attempt and notes when it is sent.
  Vnode next_target(const RingSnapshot& view, const Id& hash) {
    if (++attempts_ > 1) core_.n_retries.fetch_add(1, std::memory_order_relaxed);
    Vnode target = hint_ ? *hint_ : view.vnodes[view.owner_index(hash)];
    hint_.reset();
    sent_ = SteadyClock::now();
    return target;
  }

  // `target` answered that it is not the key's owner, naming `hint` perhaps.
  void wrong_owner(const Status& error, const std::optional<Vnode>& hint, const Vnode& target) {
    core_.n_wrong_owner.fetch_add(1, std::memory_order_relaxed);
    retry(error, true, same(hint, target) ? std::nullopt : hint);
  }

  // Another attempt: at once to a named owner (the view is refreshed
  // meanwhile), else after a backoff; `error` is final after the last attempt.
  void retry(const Status& error, bool wrong_owner, std::optional<Vnode> hint) {
    Op& op = static_cast<Op&>(*this);
    if (attempts_ >= core_.options().max_attempts) {
      return op.finish(final_error(error, wrong_owner, attempts_));
    }
    if (hint) {
      core_.request_refresh(sent_);
      hint_ = std::move(hint);
      return op.attempt();
    }
    auto self = this->shared_from_this();
    if (!core_.schedule(core_.backoff(attempts_ + 1), sent_, [self] { self->attempt(); })) {
      op.finish(closed());
    }
  }

  DtableCore& core_;
  int attempts_ = 0;
  std::optional<Vnode> hint_;
  SteadyClock::time_point sent_{};
};

class WriteOp : public SingleKeyOp<WriteOp> {
 public:
  WriteOp(DtableCore& core, std::string key, std::string value, bool deleted, int consistency,
          StatusCallback done)
      : SingleKeyOp(core),
        key_(std::move(key)),
        value_(std::move(value)),
        deleted_(deleted),
        consistency_(consistency),
        done_(std::move(done)) {}

  void attempt() {
    auto view = core_.view();
    if (!view || core_.closing()) return finish(closed());
    Vnode target = next_target(*view, Id::hash(key_));
    auto self = shared_from_this();
    core_.send(
        target.host, set_item_request(target, key_, value_, deleted_, consistency_),
        [self, target](Result<Message> reply) { self->on_reply(read_write_reply(reply), target); });
  }

 private:
  void on_reply(WriteAnswer a, const Vnode& target) {
    switch (a.next) {
      case Next::kDone:
        return finish(a.status);
      case Next::kWrongOwner:
        return wrong_owner(a.status, a.hint, target);
      case Next::kRetry:
      case Next::kNoAnswer:
        return retry(a.status, false, std::nullopt);
    }
  }

  friend class SingleKeyOp<WriteOp>;
  void finish(Status s) {
    StatusCallback done = std::move(done_);
    done(std::move(s));
  }

  const std::string key_;
  const std::string value_;
  const bool deleted_;
  const int consistency_;
  StatusCallback done_;
};

// ---- mutations ----

// A mutation: retried where the answer proves nothing was applied (wrong
// owner, an Err or a refusal from a node that did not decide it), never
// after silence (it may have been applied; sending it again could apply it
// twice).
class MutateOp : public SingleKeyOp<MutateOp> {
 public:
  MutateOp(DtableCore& core, std::string key, dtable::Mutation m, int consistency,
           MutationCallback done)
      : SingleKeyOp(core),
        key_(std::move(key)),
        mutation_(std::move(m)),
        consistency_(consistency),
        done_(std::move(done)) {}

  void attempt() {
    auto view = core_.view();
    if (!view || core_.closing()) return finish(closed());
    Vnode target = next_target(*view, Id::hash(key_));
    auto self = shared_from_this();
    core_.send(target.host, mutate_request(target, key_, mutation_, consistency_),
               [self, target](Result<Message> reply) {
                 self->on_reply(read_mutate_reply(reply), target);
               });
  }

 private:
  void on_reply(MutateAnswer a, const Vnode& target) {
    switch (a.next) {
      case Next::kDone:
        if (!a.status.ok()) return finish(a.status);
        return finish(std::move(a.result));
      case Next::kWrongOwner:
        return wrong_owner(a.status, a.hint, target);
      case Next::kRetry:
        return retry(a.status, false, std::nullopt);
      case Next::kNoAnswer:
        return finish(Status::Timeout("no answer from the key's primary " + target.host +
                                      ": the mutation may or may not have been applied (" +
                                      a.status.message() + ")"));
    }
  }

  friend class SingleKeyOp<MutateOp>;
  void finish(Status s) { finish(Result<dtable::MutationResult>(std::move(s))); }
  void finish(Result<dtable::MutationResult> r) {
    MutationCallback done = std::move(done_);
    done(std::move(r));
  }

  const std::string key_;
  const dtable::Mutation mutation_;
  const int consistency_;
  MutationCallback done_;
};

// ---- single-key reads ----

class GetOp : public SingleKeyOp<GetOp> {
 public:
  GetOp(DtableCore& core, std::string key, int consistency, EntryCallback done)
      : SingleKeyOp(core),
        key_(std::move(key)),
        hash_(Id::hash(key_)),
        consistency_(consistency),
        done_(std::move(done)) {}

  void attempt() {
    auto view = core_.view();
    if (!view || core_.closing()) return finish(closed());
    view_ = view;
    Vnode target = next_target(*view, hash_);
    auto self = shared_from_this();
    core_.send(
        target.host, get_item_request(target, hash_, consistency_, false),
        [self, target](Result<Message> reply) { self->on_primary(read_get_reply(reply), target); });
  }

  // For a multi get whose batch got no answer: continue as if this op's
  // attempt number `attempts` had found the primary silent at `sent`.
  void continue_after_silence(const Status& error, int attempts, SteadyClock::time_point sent) {
    attempts_ = attempts;
    sent_ = sent;
    view_ = core_.view();
    if (!view_ || core_.closing()) return finish(closed());
    fallback(error);
  }

 private:
  void on_primary(ReadAnswer a, const Vnode& target) {
    switch (a.next) {
      case Next::kDone:
        if (!a.status.ok()) return finish(a.status);
        return finish(entry_of(a, key_));
      case Next::kWrongOwner:
        return wrong_owner(a.status, a.hint, target);
      case Next::kRetry:
        return retry(a.status, false, std::nullopt);
      case Next::kNoAnswer:
        return fallback(a.status);
    }
  }

  // The primary did not answer: read the copies in its replicas' replica
  // tables; the newest wins. Needs `consistency` answers and at least one copy,
  // else the primary path is retried after a refresh.
  void fallback(const Status& error) {
    const std::vector<Vnode> replicas = view_->replicas_of(view_->owner_index(hash_));
    if (replicas.empty() || static_cast<int>(replicas.size()) < consistency_) {
      return retry(error, false, std::nullopt);
    }
    {
      std::lock_guard lock(mu_);
      primary_error_ = error;
      replicas_left_ = replicas.size();
      answers_ = 0;
      newest_.reset();
    }
    auto self = shared_from_this();
    for (const Vnode& r : replicas) {
      core_.send(r.host, get_item_request(r, hash_, 1, /*replica=*/true),
                 [self](Result<Message> reply) { self->on_replica(read_get_reply(reply)); });
    }
  }

  void on_replica(ReadAnswer a) {
    std::optional<ReadAnswer> newest;
    Status primary_error;
    {
      std::lock_guard lock(mu_);
      if (a.next == Next::kDone && a.status.ok()) {
        ++answers_;
        if (a.has_copy && (!newest_ || a.timestamp > newest_->timestamp)) newest_ = std::move(a);
      }
      if (--replicas_left_ > 0) return;
      if (answers_ >= consistency_) newest = std::move(newest_);
      primary_error = primary_error_;
    }
    if (newest) {
      core_.n_replica_reads.fetch_add(1, std::memory_order_relaxed);
      core_.request_refresh(sent_);  // the primary is probably gone
      return finish(entry_of(*newest, key_));
    }
    retry(primary_error, false, std::nullopt);
  }

  friend class SingleKeyOp<GetOp>;
  void finish(Result<dtable::ValueWithExpiry> r) {
    EntryCallback done = std::move(done_);
    done(std::move(r));
  }

  const std::string key_;
  const Id hash_;
  const int consistency_;
  EntryCallback done_;
  // Steps run one after another (each starts the next), except the replica
  // answers, which arrive concurrently and use mu_.
  std::shared_ptr<const RingSnapshot> view_;
  std::mutex mu_;
  Status primary_error_;              // guarded by mu_
  std::size_t replicas_left_ = 0;     // guarded by mu_
  int answers_ = 0;                   // guarded by mu_
  std::optional<ReadAnswer> newest_;  // guarded by mu_
};

// ---- batches ----

// Groups `indices` by the vnode each key goes to (its hint, else its primary
// in `view`), in batches of at most kBatchItems.
std::vector<std::pair<Vnode, std::vector<std::size_t>>> batches(
    const RingSnapshot& view, const std::vector<Id>& hashes,
    std::vector<std::optional<Vnode>>& hints, const std::vector<std::size_t>& indices) {
  std::map<std::pair<Id, std::string>, std::vector<std::size_t>> groups;
  for (std::size_t i : indices) {
    Vnode target = hints[i] ? *hints[i] : view.vnodes[view.owner_index(hashes[i])];
    hints[i].reset();
    groups[{target.id, target.host}].push_back(i);
  }
  std::vector<std::pair<Vnode, std::vector<std::size_t>>> out;
  for (auto& [to, idx] : groups) {
    for (std::size_t at = 0; at < idx.size(); at += kBatchItems) {
      const std::size_t end = std::min(idx.size(), at + kBatchItems);
      out.emplace_back(Vnode{to.first, to.second},
                       std::vector<std::size_t>(idx.begin() + static_cast<std::ptrdiff_t>(at),
                                                idx.begin() + static_cast<std::ptrdiff_t>(end)));
    }
  }
  return out;
}

// The state shared by the two multi operations: which items still need an
// attempt, and when to go on.
class MultiBase {
 protected:
  explicit MultiBase(DtableCore& core, std::size_t n) : core_(core), hints_(n), wrong_(n) {}

  // Starts a round: the items to retry (their keys hash to `hashes`),
  // batched by the owner a node named or else their owner in `view`.
  // REQUIRES: mu_ held.
  std::vector<std::pair<Vnode, std::vector<std::size_t>>> plan_round(
      const RingSnapshot& view, const std::vector<Id>& hashes) {
    if (++attempts_ > 1) core_.n_retries.fetch_add(1, std::memory_order_relaxed);
    std::vector<std::size_t> todo;
    todo.swap(retry_);
    refresh_ = false;
    auto plan = batches(view, hashes, hints_, todo);
    batches_left_ = plan.size();
    sent_ = SteadyClock::now();
    return plan;
  }

  // An item to try again: at once at `hint`, or after a refresh.
  // REQUIRES: mu_ held.
  void again(std::size_t i, std::optional<Vnode> hint, bool wrong_owner) {
    retry_.push_back(i);
    wrong_[i] = wrong_owner;
    if (hint) {
      hints_[i] = std::move(hint);
    } else {
      refresh_ = true;
    }
  }

  DtableCore& core_;
  std::mutex mu_;
  int attempts_ = 0;                         // guarded by mu_
  std::vector<std::optional<Vnode>> hints_;  // guarded by mu_
  std::vector<bool> wrong_;                  // guarded by mu_: last answer was "wrong owner"
  std::vector<std::size_t> retry_;           // guarded by mu_: items for the next round
  bool refresh_ = false;                     // guarded by mu_: the next round needs a refresh
  std::size_t batches_left_ = 0;             // guarded by mu_
  SteadyClock::time_point sent_{};           // guarded by mu_
};

class SetMultiOp : public std::enable_shared_from_this<SetMultiOp>, MultiBase {
 public:
  SetMultiOp(DtableCore& core, std::vector<KeyValue> items, int consistency, StatusesCallback done)
      : MultiBase(core, items.size()),
        items_(std::move(items)),
        consistency_(consistency),
        done_(std::move(done)),
        results_(items_.size()) {
    hashes_.reserve(items_.size());
    for (const auto& kv : items_) hashes_.push_back(Id::hash(kv.key));
    for (std::size_t i = 0; i < items_.size(); ++i) retry_.push_back(i);
  }

  void round() {
    auto view = core_.view();
    if (!view || core_.closing()) return fail_rest(closed());
    std::vector<std::pair<Vnode, std::vector<std::size_t>>> plan;
    {
      std::lock_guard lock(mu_);
      plan = plan_round(*view, hashes_);
    }
    if (plan.empty()) return finish();
    auto self = shared_from_this();
    for (auto& [to, idx] : plan) {
      std::vector<const KeyValue*> batch;
      batch.reserve(idx.size());
      for (std::size_t i : idx) batch.push_back(&items_[i]);
      core_.send(to.host, set_multi_request(to, batch, consistency_),
                 // `to = to`: clang before 16 cannot capture a structured binding.
                 [self, to = to, idx = std::move(idx)](Result<Message> reply) {
                   self->on_batch(to, idx, read_set_multi_reply(reply, idx.size()));
                 });
    }
  }

 private:
  void on_batch(const Vnode& to, const std::vector<std::size_t>& idx,
                std::vector<WriteAnswer> answers) {
    {
      std::lock_guard lock(mu_);
      for (std::size_t k = 0; k < idx.size(); ++k) {
        const std::size_t i = idx[k];
        WriteAnswer& a = answers[k];
        results_[i] = a.status;
        switch (a.next) {
          case Next::kDone:
            break;
          case Next::kWrongOwner:
            core_.n_wrong_owner.fetch_add(1, std::memory_order_relaxed);
            again(i, same(a.hint, to) ? std::nullopt : std::move(a.hint), true);
            break;
          case Next::kRetry:
          case Next::kNoAnswer:
            again(i, std::nullopt, false);
            break;
        }
      }
      if (--batches_left_ > 0) return;
    }
    next_round();
  }

  void next_round() {
    bool more, refresh;
    int attempts;
    SteadyClock::time_point sent;
    {
      std::lock_guard lock(mu_);
      if (!retry_.empty() && attempts_ >= core_.options().max_attempts) {
        for (std::size_t i : retry_) results_[i] = final_error(results_[i], wrong_[i], attempts_);
        retry_.clear();
      }
      more = !retry_.empty();
      refresh = refresh_;
      attempts = attempts_;
      sent = sent_;
    }
    if (!more) return finish();
    auto self = shared_from_this();
    if (!refresh) {
      core_.request_refresh(sent);
      return round();
    }
    if (!core_.schedule(core_.backoff(attempts + 1), sent, [self] { self->round(); })) {
      fail_rest(closed());
    }
  }

  void fail_rest(const Status& s) {
    {
      std::lock_guard lock(mu_);
      for (std::size_t i : retry_) results_[i] = s;
      retry_.clear();
    }
    finish();
  }

  void finish() {
    std::vector<Status> results;
    {
      std::lock_guard lock(mu_);
      results.swap(results_);
    }
    StatusesCallback done = std::move(done_);
    done(std::move(results));
  }

  const std::vector<KeyValue> items_;
  std::vector<Id> hashes_;
  const int consistency_;
  StatusesCallback done_;
  std::vector<Status> results_;  // guarded by mu_
};

class GetMultiOp : public std::enable_shared_from_this<GetMultiOp>, MultiBase {
 public:
  GetMultiOp(DtableCore& core, std::vector<std::string> keys, int consistency, ValuesCallback done)
      : MultiBase(core, keys.size()),
        keys_(std::move(keys)),
        consistency_(consistency),
        done_(std::move(done)),
        results_(keys_.size(), Result<std::string>(closed())) {
    hashes_.reserve(keys_.size());
    for (const auto& k : keys_) hashes_.push_back(Id::hash(k));
    for (std::size_t i = 0; i < keys_.size(); ++i) retry_.push_back(i);
  }

  void round() {
    auto view = core_.view();
    if (!view || core_.closing()) return fail_rest(closed());
    std::vector<std::pair<Vnode, std::vector<std::size_t>>> plan;
    {
      std::lock_guard lock(mu_);
      round_pending_ = false;
      plan = plan_round(*view, hashes_);
    }
    if (plan.empty()) return maybe_finish();
    auto self = shared_from_this();
    for (auto& [to, idx] : plan) {
      std::vector<Id> hashes;
      hashes.reserve(idx.size());
      for (std::size_t i : idx) hashes.push_back(hashes_[i]);
      core_.send(to.host, get_multi_request(to, hashes, consistency_),
                 // `to = to`: clang before 16 cannot capture a structured binding.
                 [self, to = to, idx = std::move(idx)](Result<Message> reply) {
                   self->on_batch(to, idx, read_get_multi_reply(reply, idx.size()));
                 });
    }
  }

 private:
  void on_batch(const Vnode& to, const std::vector<std::size_t>& idx,
                std::vector<ReadAnswer> answers) {
    std::vector<std::pair<std::size_t, Status>> silent;  // primary did not answer
    int attempts;
    SteadyClock::time_point sent;
    {
      std::lock_guard lock(mu_);
      for (std::size_t k = 0; k < idx.size(); ++k) {
        const std::size_t i = idx[k];
        ReadAnswer& a = answers[k];
        switch (a.next) {
          case Next::kDone:
            results_[i] =
                a.status.ok() ? value_only(entry_of(a, keys_[i])) : Result<std::string>(a.status);
            break;
          case Next::kWrongOwner:
            core_.n_wrong_owner.fetch_add(1, std::memory_order_relaxed);
            results_[i] = a.status;
            again(i, same(a.hint, to) ? std::nullopt : std::move(a.hint), true);
            break;
          case Next::kRetry:
            results_[i] = a.status;
            again(i, std::nullopt, false);
            break;
          case Next::kNoAnswer:
            silent.emplace_back(i, a.status);
            break;
        }
      }
      sub_left_ += silent.size();
      attempts = attempts_;
      sent = sent_;
      --batches_left_;
    }
    // Keys of a silent primary continue one by one, from its replicas.
    auto self = shared_from_this();
    for (auto& [i, error] : silent) {
      auto op = std::make_shared<GetOp>(core_, keys_[i], consistency_,
                                        [self, i = i](Result<dtable::ValueWithExpiry> r) {
                                          {
                                            std::lock_guard lock(self->mu_);
                                            self->results_[i] = value_only(std::move(r));
                                            --self->sub_left_;
                                          }
                                          self->maybe_finish();
                                        });
      op->continue_after_silence(error, attempts, sent);
    }
    maybe_finish();
  }

  // After each batch and each single get: when the round is over, start the
  // next one for the items to retry; when everything is over, report.
  void maybe_finish() {
    bool start_round = false, schedule = false, report = false;
    int attempts;
    SteadyClock::time_point sent;
    {
      std::lock_guard lock(mu_);
      if (finished_ || round_pending_ || batches_left_ > 0) return;
      if (!retry_.empty() && attempts_ >= core_.options().max_attempts) {
        for (std::size_t i : retry_) {
          results_[i] =
              Result<std::string>(final_error(results_[i].status(), wrong_[i], attempts_));
        }
        retry_.clear();
      }
      if (!retry_.empty()) {
        round_pending_ = true;
        (refresh_ ? schedule : start_round) = true;
      } else if (sub_left_ == 0) {
        report = finished_ = true;
      }
      attempts = attempts_;
      sent = sent_;
    }
    auto self = shared_from_this();
    if (start_round) {
      core_.request_refresh(sent);
      return round();
    }
    if (schedule && !core_.schedule(core_.backoff(attempts + 1), sent, [self] { self->round(); })) {
      return fail_rest(closed());
    }
    if (report) finish();
  }

  void fail_rest(const Status& s) {
    {
      std::lock_guard lock(mu_);
      for (std::size_t i : retry_) results_[i] = Result<std::string>(s);
      retry_.clear();
      round_pending_ = false;
      batches_left_ = 0;
    }
    maybe_finish();
  }

  void finish() {
    std::vector<Result<std::string>> results;
    {
      std::lock_guard lock(mu_);
      results.swap(results_);
    }
    ValuesCallback done = std::move(done_);
    done(std::move(results));
  }

  const std::vector<std::string> keys_;
  std::vector<Id> hashes_;
  const int consistency_;
  ValuesCallback done_;
  std::vector<Result<std::string>> results_;  // guarded by mu_
  std::size_t sub_left_ = 0;                  // guarded by mu_: single gets running
  bool round_pending_ = false;                // guarded by mu_: a next round is scheduled
  bool finished_ = false;                     // guarded by mu_
};

}  // namespace

Status check_key(std::string_view key) {
  if (key.empty()) return Status::InvalidArgument("the key must not be empty");
  return Status::Ok();
}

Status check_consistency(const DtableCore& core, int consistency) {
  auto view = core.view();
  const int max = (view ? view->replicas : 0) + 1;
  if (consistency < 1 || consistency > max) {
    return Status::InvalidArgument("consistency " + std::to_string(consistency) +
                                   " is out of range: the maximum is " + std::to_string(max) +
                                   " (replicas + 1)");
  }
  return Status::Ok();
}

void start_write(DtableCore& core, std::string key, std::string value, bool deleted,
                 int consistency, StatusCallback done) {
  std::make_shared<WriteOp>(core, std::move(key), std::move(value), deleted, consistency,
                            std::move(done))
      ->attempt();
}

void start_mutate(DtableCore& core, std::string key, dtable::Mutation m, int consistency,
                  MutationCallback done) {
  std::make_shared<MutateOp>(core, std::move(key), std::move(m), consistency, std::move(done))
      ->attempt();
}

Result<std::string> value_only(Result<dtable::ValueWithExpiry> entry) {
  if (!entry.ok()) return entry.status();
  return std::move(entry->value);
}

void start_get(DtableCore& core, std::string key, int consistency, EntryCallback done) {
  std::make_shared<GetOp>(core, std::move(key), consistency, std::move(done))->attempt();
}

void start_set_multi(DtableCore& core, std::vector<KeyValue> items, int consistency,
                     StatusesCallback done) {
  std::make_shared<SetMultiOp>(core, std::move(items), consistency, std::move(done))->round();
}

void start_get_multi(DtableCore& core, std::vector<std::string> keys, int consistency,
                     ValuesCallback done) {
  std::make_shared<GetMultiOp>(core, std::move(keys), consistency, std::move(done))->round();
}

Result<std::vector<std::string>> list_host_keys(DtableCore& core, const std::string& host) {
  std::vector<std::string> keys;
  std::optional<Id> after;
  for (int page = 0; page < kMaxKeyPages; ++page) {
    auto replies = core.call_all({{host, local_keys_request(after, kKeysPage)}});
    auto decoded = read_local_keys_reply(replies[0]);
    if (!decoded.ok()) return decoded.status();
    keys.insert(keys.end(), std::make_move_iterator(decoded->keys.begin()),
                std::make_move_iterator(decoded->keys.end()));
    if (!decoded->more) return keys;
    after = decoded->last;
  }
  return Status::Internal("the key listing of " + host + " does not end");
}

}  // namespace dendrite::client::detail
