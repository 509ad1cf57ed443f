#include "service.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <thread>
#include <utility>

#include "batches.h"
#include "clock.h"
#include "codec.h"
#include "dendrite/dtable/messages.h"
#include "dendrite/dtable/mutate_request.h"
#include "dendrite/dtable/scan_cursor.h"
#include "dendrite/dtable/write_request.h"
#include "mutate.h"
#include "primary.h"
#include "wire.h"

namespace dendrite::dtable {
namespace {

constexpr int kMinAttempts = 4, kMaxAttempts = 20;

// The attempts of one call: retried (with a fresh route) while the ring
// repairs itself: at least kMinAttempts, then more while within a budget of
// two timeouts counted from the first failure (the ring notices a dead vnode
// within about one timeout and a stabilise round; the first attempt may itself
// have spent that long waiting on the dead node), never more than
// kMaxAttempts.
class Attempts {
 public:
  explicit Attempts(Milliseconds timeout) : budget_(2 * timeout) {}
  // Waits before every attempt but the first; false when none is left.
  bool next() {
    if (n_ > 0) {
      const auto now = std::chrono::steady_clock::now();
      if (n_ == 1) deadline_ = now + budget_;
      const Milliseconds pause(std::min(25 * n_ * n_, 250));
      const bool late = now + pause > deadline_;
      if (n_ >= kMaxAttempts || (n_ >= kMinAttempts && late)) return false;
      std::this_thread::sleep_for(pause);
    }
    ++n_;
    return true;
  }
  // True from the second attempt on (the route must be looked up afresh).
  bool retry() const { return n_ > 1; }

 private:
  const Milliseconds budget_;
  std::chrono::steady_clock::time_point deadline_;
  int n_ = 0;
};

Status stopped() {
  return Status::Unavailable("dtable is stopped");
}

// True for failures after which another attempt (with a fresh route) may work:
// the transport's, and Err replies (wrong owner, a node shutting down).
bool retryable(const Status& s) {
  return s.code() == StatusCode::kTimeout || s.code() == StatusCode::kUnavailable ||
         s.code() == StatusCode::kRemoteError ||
         (s.code() == StatusCode::kFailedPrecondition &&
          s.message().find(kWrongOwnerText) != std::string::npos);
}

// What get_entry() answers for the newest copy found: its value and expiry,
// or NotFound when there is none, it is a tombstone or it expired.
Result<ValueWithExpiry> entry_of(std::optional<Item> found) {
  if (!found || !live_at(*found, system_wall_ms())) return Status::NotFound("key not found");
  return ValueWithExpiry{std::move(found->value), found->expires_ms};
}

// One reply of a key's primary to a table request.
struct PrimaryReply {
  enum class Kind {
    kAnswer,      // `response` is the primary's answer
    kNoAnswer,    // no reply: the request may or may not have been applied
    kRefused,     // an Err reply, sent before anything was written
    kWrongOwner,  // the vnode does not own the key (any more)
    kMalformed,   // a reply that is not a Response
  };
  Kind kind = Kind::kAnswer;
  Status status;  // why, for every kind but kAnswer
  pb::PBDTableResponse response;
};

PrimaryReply read_primary_reply(const Result<Message>& reply) {
  using Kind = PrimaryReply::Kind;
  PrimaryReply out;
  if (!reply.ok()) {
    out.kind = Kind::kNoAnswer;
    out.status = reply.status();
    return out;
  }
  if (Status e = error_of(*reply); !e.ok()) {
    out.kind = Kind::kRefused;
    out.status = std::move(e);
    return out;
  }
  auto r = unpack<pb::PBDTableResponse>(*reply, msg::kResponse);
  if (!r.ok()) {
    out.kind = Kind::kMalformed;
    out.status = Status::Internal("malformed reply to a write: " + r.status().message());
    return out;
  }
  if (!r->ok() && r->code() == kCodeWrongOwner) {
    out.kind = Kind::kWrongOwner;
    out.status = status_of(r->code(), r->error());
    return out;
  }
  out.response = std::move(*r);
  return out;
}

Status response_status(const pb::PBDTableResponse& r) {
  return r.ok() ? Status::Ok() : status_of(r.code(), r.error());
}

}  // namespace

Milliseconds TableService::timeout(const Options& options) const {
  return options.timeout.count() > 0 ? options.timeout : ctx_->timeout();
}

Status TableService::check(std::string_view key, const Options& options) const {
  if (key.empty()) return Status::InvalidArgument("key must not be empty");
  return check_consistency(options);
}

Status TableService::check_consistency(const Options& options) const {
  const int max = ctx_->max_consistency();
  if (options.consistency < 1 || options.consistency > max) {
    return Status::InvalidArgument("consistency " + std::to_string(options.consistency) +
                                   " is out of range: the maximum is " + std::to_string(max) +
                                   " (replicas + 1)");
  }
  return Status::Ok();
}

Status TableService::check_write(std::string_view key, std::size_t value_bytes,
                                 const Options& options) const {
  if (Status s = check(key, options); !s.ok()) return s;
  if (std::string why = write_problem(key, value_bytes, ctx_->settings); !why.empty()) {
    return Status::InvalidArgument(why);
  }
  return Status::Ok();
}

Result<Vnode> TableService::route(const Id& hash, bool fresh) const {
  if (!fresh) {
    if (VnodeState* v = primary_here(hash)) return v->self;
  }
  auto found = ctx_->host.lookup(1, hash);
  if (!found.ok()) return found.status();
  if (found->empty()) return Status::Unavailable("lookup found no owner");
  return found->front();
}

VnodeState* TableService::primary_here(const Id& hash) const {
  return ctx_->owner_for(hash, /*asked=*/nullptr);
}

bool TableService::get_entry_here(std::string_view key, const Options& options,
                                  const std::function<void(Result<ValueWithExpiry>)>& done) {
  if (options.consistency != 1) return false;
  GateGuard guard(ctx_->gate);
  if (!guard.entered()) return false;
  if (Status s = check(key, options); !s.ok()) {
    done(s);
    return true;
  }
  const Id hash = Id::hash(key);
  VnodeState* owner = primary_here(hash);
  if (owner == nullptr) return false;
  std::optional<ReadOutcome> r = primary_read_here(ctx_, *owner, hash);
  if (!r) return false;  // a miss while settling: previous holders must be asked
  done(r->code != kCodeOk ? Result<ValueWithExpiry>(status_of(r->code, r->error))
                          : entry_of(std::move(r->item)));
  return true;
}

bool TableService::set_here(std::string_view key, std::string_view value, const Options& options,
                            std::function<void(Status)> done) {
  if (options.consistency != 1) return false;
  GateGuard guard(ctx_->gate);
  if (!guard.entered()) return false;
  if (Status s = check_write(key, value.size(), options); !s.ok()) {
    done(s);
    return true;
  }
  const Id hash = Id::hash(key);
  VnodeState* owner = primary_here(hash);
  if (owner == nullptr) return false;
  std::vector<Item> items(1);
  Item& item = items[0];
  item.key = std::string(key);
  item.hash = hash;
  item.value = std::string(value);
  // The primary stamps the write from this host's clock (put_stamped()).
  primary_write_async(ctx_, *owner, std::move(items), 1,
                      [done = std::move(done)](std::vector<WriteOutcome> outcomes) {
                        const WriteOutcome& o = outcomes.at(0);
                        done(o.code == kCodeOk ? Status::Ok() : status_of(o.code, o.error));
                      });
  return true;
}

std::optional<Vnode> TableService::async_primary(const Id& hash) const {
  std::optional<Vnode> primary;
  if (VnodeState* v = primary_here(hash)) {
    primary = v->self;
  } else {
    primary = ctx_->owner_hint(hash);
  }
  if (primary && ctx_->host.peer_dialect(primary->host) != PeerDialect::kOurs) return std::nullopt;
  return primary;
}

bool TableService::get_entry_async(
    std::string_view key, const Options& options,
    std::function<void(AsyncAttempt<Result<ValueWithExpiry>>)> done) {
  GateGuard guard(ctx_->gate);
  if (!guard.entered()) return false;
  if (Status s = check(key, options); !s.ok()) {
    done({s, {}});
    return true;
  }
  const Id hash = Id::hash(key);
  const std::optional<Vnode> primary = async_primary(hash);
  if (!primary) return false;
  // The callback runs inside dtable's gate; go_on() runs while the caller
  // holds this service.
  ctx_->send_async(
      primary->host, get_item_request(*primary, hash, GetMode::kPrimary, options.consistency),
      [this, hash, options, at = *primary, done = std::move(done)](Result<Message> reply) {
        auto item = item_from_reply(reply);
        if (item.ok()) return done({entry_of(std::move(*item)), {}});
        Status failed = item.status();
        if (!retryable(failed)) return done({std::move(failed), {}});
        auto go_on = [this, hash, options, first = FirstAttempt{at, std::move(reply)}]() mutable {
          return read_entry(hash, options, std::move(first));
        };
        done({std::move(failed), std::move(go_on)});
      },
      timeout(options));
  return true;
}

bool TableService::set_async(std::string_view key, std::string_view value, const Options& options,
                             std::function<void(AsyncAttempt<Status>)> done) {
  GateGuard guard(ctx_->gate);
  if (!guard.entered()) return false;
  if (Status s = check_write(key, value.size(), options); !s.ok()) {
    done({s, {}});
    return true;
  }
  const Id hash = Id::hash(key);
  const std::optional<Vnode> primary = async_primary(hash);
  if (!primary) return false;
  pb::PBDTableSetItem req;
  fill_write_request(req, key, hash.raw(), value, /*deleted=*/false, options.consistency);
  to_pb(*primary, req.mutable_dest());
  ctx_->send_async(
      primary->host, pack(msg::kSetItem, req),
      [this, key = std::string(key), value = std::string(value), options, at = *primary,
       done = std::move(done)](Result<Message> reply) mutable {
        PrimaryReply r = read_primary_reply(reply);
        if (r.kind == PrimaryReply::Kind::kAnswer) return done({response_status(r.response), {}});
        if (r.kind == PrimaryReply::Kind::kMalformed) return done({r.status, {}});
        auto go_on = [this, key = std::move(key), value = std::move(value), options,
                      first = FirstAttempt{at, std::move(reply)}]() mutable {
          return write(key, value, /*deleted=*/false, options, std::move(first));
        };
        done({r.status, std::move(go_on)});
      },
      write_limit(options, /*repeatable=*/true));
  return true;
}

Status TableService::set(std::string_view key, std::string_view value, const Options& options) {
  return write(key, value, false, options);
}

Status TableService::del(std::string_view key, const Options& options) {
  return write(key, "", true, options);
}

Status TableService::write(std::string_view key, std::string_view value, bool deleted,
                           const Options& options, std::optional<FirstAttempt> first) {
  GateGuard guard(ctx_->gate);
  if (!guard.entered()) return stopped();
  if (Status s = check_write(key, value.size(), options); !s.ok()) return s;
  const Id hash = Id::hash(key);
  pb::PBDTableSetItem req;
  fill_write_request(req, key, hash.raw(), value, deleted, options.consistency);
  auto r = ask_primary(
      hash,
      [&](const Vnode& primary) {
        to_pb(primary, req.mutable_dest());
        return pack(msg::kSetItem, req);
      },
      options, /*repeatable=*/true, std::move(first));
  if (!r.ok()) return r.status();
  return response_status(*r);
}

Result<MutationResult> TableService::mutate(std::string_view key, const Mutation& m,
                                            const Options& options) {
  GateGuard guard(ctx_->gate);
  if (!guard.entered()) return stopped();
  if (Status s = check_write(key, m.operand.size(), options); !s.ok()) return s;
  if (m.expiry == Mutation::Expiry::kAt && m.expires_ms <= 0)
    return Status::InvalidArgument("an expiry must be a time after the Unix epoch");
  const Id hash = Id::hash(key);
  pb::PBDTableMutate req;
  fill_mutate_request(req, key, m, options.consistency);
  auto r = ask_primary(
      hash,
      [&](const Vnode& primary) {
        to_pb(primary, req.mutable_dest());
        return pack(msg::kMutate, req);
      },
      options, /*repeatable=*/false);
  if (!r.ok()) return r.status();
  if (!r->ok()) return status_of(r->code(), r->error());
  return mutation_result_of(r->mutation());
}

template <typename Send>
std::optional<TableService::FirstAttempt> TableService::next_attempt(
    std::optional<FirstAttempt>& first, const Id& hash, bool fresh, Send&& send,
    Status& last) const {
  if (first) return std::exchange(first, std::nullopt);
  auto primary = route(hash, fresh);
  if (!primary.ok()) {
    last = primary.status();
    return std::nullopt;
  }
  return FirstAttempt{*primary, send(*primary)};
}

Milliseconds TableService::write_limit(const Options& options, bool repeatable) const {
  return (repeatable ? 1 : 2) * timeout(options) + ctx_->timeout() + Milliseconds(100);
}

Result<pb::PBDTableResponse> TableService::ask_primary(
    const Id& hash, const std::function<Message(const Vnode&)>& request, const Options& options,
    bool repeatable, std::optional<FirstAttempt> first) {
  using Kind = PrimaryReply::Kind;
  const Milliseconds limit = write_limit(options, repeatable);
  Status last = Status::Unavailable("no attempt made");
  for (Attempts attempts(timeout(options)); attempts.next();) {
    auto sent = next_attempt(
        first, hash, attempts.retry(),
        [&](const Vnode& to) { return ctx_->call_in_turn(to.host, request(to), limit); }, last);
    if (!sent) continue;
    const Vnode& primary = sent->primary;
    PrimaryReply r = read_primary_reply(sent->reply);
    switch (r.kind) {
      case Kind::kAnswer:
        return std::move(r.response);
      case Kind::kMalformed:
        return r.status;
      case Kind::kNoAnswer:
        last = r.status;
        if (!repeatable) {
          // It may have been applied: sending it again could apply it twice.
          return Status::Timeout("no answer from the key's primary " + primary.host +
                                 ": the request may or may not have been applied (" +
                                 last.message() + ")");
        }
        continue;
      case Kind::kRefused:
        // Err replies come before anything is written (a decode error, a wrong
        // owner, a plugin not serving the type): safe to send again.
        last = r.status;
        if (ctx_->host.peer_dialect(primary.host) == PeerDialect::kOriginal &&
            last.message().find("unknown message type") != std::string::npos) {
          return Status::Unavailable(
              "the key's primary " + primary.host +
              " is an original node, which does not take this request: " + last.message());
        }
        continue;
      case Kind::kWrongOwner:
        last = r.status;
        continue;
    }
  }
  return last;
}

Result<std::optional<Item>> TableService::read_replicas(const Vnode& primary, const Id& hash,
                                                        int need, const Options&) {
  auto list = ctx_->host.lookup(8, hash);
  if (!list.ok()) return list.status();
  std::vector<std::pair<std::string, Message>> requests;
  std::set<std::string> hosts{primary.host};
  for (const Vnode& v : *list) {
    if (static_cast<int>(requests.size()) >= ctx_->replicas()) break;
    if (!hosts.insert(v.host).second) continue;
    requests.emplace_back(v.host, get_item_request(v, hash, GetMode::kReplica, 1));
  }
  if (requests.empty()) return Status::Unavailable("no replica to read");
  auto replies = ctx_->call_all(std::move(requests));
  std::optional<Item> newest;
  int answered = 0;
  Status last;
  for (const auto& reply : replies) {
    auto item = item_from_reply(reply);
    if (!item.ok()) {
      last = item.status();
      continue;
    }
    ++answered;
    if (*item && (!newest || (*item)->timestamp > newest->timestamp)) newest = *item;
  }
  if (answered == 0) return last;
  if (answered < need) {
    return Status::ConsistencyNotMet(std::string(kConsistencyNotMetText) + ": the primary is " +
                                     "unreachable and " + std::to_string(answered) + " of " +
                                     std::to_string(need) + " copies answered");
  }
  return newest;
}

Result<std::string> TableService::get(std::string_view key, const Options& options) {
  auto e = get_entry(key, options);
  if (!e.ok()) return e.status();
  return std::move(e->value);
}

Result<ValueWithExpiry> TableService::get_entry(std::string_view key, const Options& options) {
  GateGuard guard(ctx_->gate);
  if (!guard.entered()) return stopped();
  if (Status s = check(key, options); !s.ok()) return s;
  return read_entry(Id::hash(key), options, std::nullopt);
}

Result<ValueWithExpiry> TableService::read_entry(const Id& hash, const Options& options,
                                                 std::optional<FirstAttempt> first) {
  GateGuard guard(ctx_->gate);
  if (!guard.entered()) return stopped();
  Status last = Status::Unavailable("no attempt made");
  for (Attempts attempts(timeout(options)); attempts.next();) {
    auto sent = next_attempt(
        first, hash, attempts.retry(),
        [&](const Vnode& to) {
          return ctx_->call(to.host,
                            get_item_request(to, hash, GetMode::kPrimary, options.consistency),
                            timeout(options));
        },
        last);
    if (!sent) continue;
    const Vnode& primary = sent->primary;
    auto item = item_from_reply(sent->reply);
    std::optional<Item> found;
    if (item.ok()) {
      found = std::move(*item);
    } else {
      last = item.status();
      if (!retryable(last)) return last;
      if (is_wrong_owner(last)) continue;
      // The primary did not answer: the replicas may.
      auto fallback = read_replicas(primary, hash, options.consistency, options);
      if (!fallback.ok()) {
        if (fallback.status().code() == StatusCode::kConsistencyNotMet) return fallback.status();
        continue;
      }
      found = std::move(*fallback);
    }
    return entry_of(std::move(found));
  }
  return last;
}

TableService::PrimaryGroups TableService::group_by_primary(
    const std::vector<std::size_t>& which,
    const std::function<const std::string&(std::size_t)>& key_of) const {
  PrimaryGroups out;
  for (std::size_t i : which) {
    auto primary = route(Id::hash(key_of(i)), false);
    if (!primary.ok()) {
      out.single.push_back(i);
      continue;
    }
    auto& g = out.groups[{primary->host, primary->id}];
    g.first = *primary;
    g.second.push_back(i);
  }
  return out;
}

std::vector<Status> TableService::set_multi(const std::vector<KeyValue>& items,
                                            const Options& options) {
  std::vector<Status> out(items.size());
  GateGuard guard(ctx_->gate);
  if (!guard.entered()) {
    std::fill(out.begin(), out.end(), stopped());
    return out;
  }
  // Group by primary; anything a batch cannot settle goes through set().
  std::vector<std::size_t> which;
  for (std::size_t i = 0; i < items.size(); ++i) {
    out[i] = check_write(items[i].key, items[i].value.size(), options);
    if (out[i].ok()) which.push_back(i);
  }
  PrimaryGroups by =
      group_by_primary(which, [&](std::size_t i) -> const std::string& { return items[i].key; });
  auto& groups = by.groups;
  auto& single = by.single;
  const Milliseconds limit = timeout(options) + ctx_->timeout() + Milliseconds(100);
  for (auto& [where, group] : groups) {
    // Named references, not a structured binding: clang before 16 cannot
    // capture a binding in the lambda below (the fuzz build uses clang 14).
    const Vnode& primary = group.first;
    const std::vector<std::size_t>& idx = group.second;
    const auto ranges = batch_ranges(
        idx.size(), ctx_->settings.batch_items, ctx_->settings.batch_bytes,
        [&](std::size_t k) { return items[idx[k]].key.size() + items[idx[k]].value.size(); });
    for (const auto& [from, to] : ranges) {
      pb::PBDTableSetMultiItem req;
      to_pb(primary, req.mutable_dest());
      req.set_minacks(options.consistency);
      for (std::size_t k = from; k < to; ++k) {
        auto* item = req.add_items();
        item->set_key(items[idx[k]].key);
        item->set_val(items[idx[k]].value);
      }
      auto r = reply_as<pb::PBDTableResponse>(
          ctx_->call(primary.host, pack(msg::kSetMultiItem, req), limit), msg::kResponse);
      for (std::size_t k = from; k < to; ++k) {
        const int pos = static_cast<int>(k - from);
        if (!r.ok() || pos >= r->results_size()) {
          single.push_back(idx[k]);
          continue;
        }
        const auto& res = r->results(pos);
        if (res.ok()) {
          out[idx[k]] = Status::Ok();
        } else if (res.code() == kCodeWrongOwner) {
          single.push_back(idx[k]);
        } else {
          out[idx[k]] = status_of(res.code(), res.error());
        }
      }
    }
  }
  for (std::size_t i : single) out[i] = write(items[i].key, items[i].value, false, options);
  return out;
}

std::vector<Result<std::string>> TableService::get_multi(const std::vector<std::string>& keys,
                                                         const Options& options) {
  std::vector<Result<std::string>> out(keys.size(), Status::Unavailable("not read"));
  GateGuard guard(ctx_->gate);
  if (!guard.entered()) {
    std::fill(out.begin(), out.end(), Result<std::string>(stopped()));
    return out;
  }
  std::vector<std::size_t> which;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (Status s = check(keys[i], options); !s.ok()) {
      out[i] = s;
    } else {
      which.push_back(i);
    }
  }
  PrimaryGroups by =
      group_by_primary(which, [&](std::size_t i) -> const std::string& { return keys[i]; });
  auto& groups = by.groups;
  auto& single = by.single;
  for (auto& [where, group] : groups) {
    const auto& [primary, idx] = group;
    for (std::size_t from = 0; from < idx.size(); from += ctx_->settings.batch_items) {
      const std::size_t to = std::min(idx.size(), from + ctx_->settings.batch_items);
      pb::PBDTableGetMultiItem req;
      to_pb(primary, req.mutable_dest());
      if (options.consistency > 1) req.set_consistency(options.consistency);
      for (std::size_t k = from; k < to; ++k) req.add_keyhashes(Id::hash(keys[idx[k]]).raw());
      auto r = reply_as<pb::PBDTableMultiItemResponse>(
          ctx_->call(primary.host, pack(msg::kGetMultiItem, req), timeout(options)),
          msg::kMultiItemResponse);
      for (std::size_t k = from; k < to; ++k) {
        const int pos = static_cast<int>(k - from);
        if (!r.ok() || pos >= r->items_size()) {
          single.push_back(idx[k]);
          continue;
        }
        const auto& pb = r->items(pos);
        if (pb.code() == kCodeWrongOwner) {
          single.push_back(idx[k]);
        } else if (pb.code() != kCodeOk) {
          out[idx[k]] = status_of(pb.code(), pb.error());
        } else if (!pb.found()) {
          out[idx[k]] = Status::NotFound("key not found");
        } else {
          out[idx[k]] = pb.val();
        }
      }
    }
  }
  for (std::size_t i : single) out[i] = get(keys[i], options);
  return out;
}

KeyCounts TableService::local_key_counts() const {
  KeyCounts counts;
  for (const auto& v : ctx_->vnodes()) {
    const Store::Usage u = v->primary.usage();
    counts.keys += u.items;
    counts.expiring += u.expiring;
  }
  return counts;
}

std::vector<std::string> TableService::local_keys() const {
  std::vector<std::string> keys;
  const std::int64_t now_ms = system_wall_ms();
  for (const auto& v : ctx_->vnodes()) {
    for (Item& item :
         v->primary.select([&](const Item&i, const ReplicaMeta&) { return live_at(i, now_ms); })) {
      keys.push_back(std::move(item.key));
    }
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

namespace {

// The newest copy of one key seen by a walk.
struct SeenKey {
  std::string key;
  std::int64_t timestamp = 0;
  bool live = false;
};

// Keeps the newest of each key's copies in `seen`; returns the hash of the
// last item when the reply was cut at its limit (more keys follow it).
std::optional<Id> merge_listing(const pb::PBDTableMultiItemResponse& reply,
                                std::map<Id, SeenKey>& seen) {
  std::optional<Id> last;
  for (const auto& item : reply.items()) {
    auto hash = Id::from_bytes(item.keyhash());
    if (!hash) continue;
    last = *hash;
    auto [it, inserted] = seen.try_emplace(*hash);
    SeenKey& s = it->second;
    if (inserted || item.timestamp() > s.timestamp) {
      s.key = item.key();
      s.timestamp = item.timestamp();
      s.live = item.found() && !item.key().empty();
    }
  }
  return reply.more() ? last : std::nullopt;
}

}  // namespace

std::map<std::string, bool> TableService::walk_hosts() const {
  std::map<std::string, bool> hosts;
  for (const Member& m : ctx_->host.members()) hosts[m.host] = m.reachable;
  for (const Vnode& v : ctx_->host.local_vnodes()) {
    std::vector<Vnode> near = ctx_->host.successors(v.id);
    for (const Vnode& f : ctx_->host.fingers(v.id)) near.push_back(f);
    if (auto p = ctx_->host.predecessor(v.id)) near.push_back(*p);
    for (const Vnode& n : near) hosts.emplace(n.host, true);  // members' state first
  }
  return hosts;
}

std::set<std::string> TableService::owners_of(const Id& from, const Id& to) const {
  std::set<std::string> owners;
  Id pos = from;
  for (int step = 0; step < 100000; ++step) {
    auto found = ctx_->host.lookup(8, pos);
    if (!found.ok() || found->empty()) return owners;
    Id prev = pos;
    for (const Vnode& v : *found) {
      owners.insert(v.host);
      // v's arc ends at v.id: past `to`, or wrapped past the top of the ring.
      if (!(v.id < to) || v.id < prev) return owners;
      prev = v.id;
    }
    if (found->back().id == Id::max()) return owners;
    pos = found->back().id.plus_pow2(0);
  }
  return owners;
}

// Asks every known host for its keys from the cursor on (primary and replica
// tables in one listing, LocalKeys `both`), `limit` per table. Every host's
// keys up to the smallest last hash of a listing cut short are then known;
// the page ends before that hash's bucket (the next page starts at it). When
// that leaves no progress (one bucket holds more than `limit` keys of a
// table), it asks again with a larger limit.
Result<ScanPage> TableService::scan(std::uint64_t cursor, std::size_t count,
                                    const Options& options) {
  if (count == 0) return Status::InvalidArgument("scan count must be at least 1");
  if (Status s = check_consistency(options); !s.ok()) return s;
  GateGuard guard(ctx_->gate);
  if (!guard.entered()) return stopped();
  const std::optional<Id> after = scan_after(cursor);
  const Id from = after ? after->plus_pow2(0) : Id();
  std::map<std::string, bool> hosts = walk_hosts();
  // The first limit is `count` (at most kMaxLimit); a round is repeated when
  // the page made no progress or a ring lookup named a host not asked.
  constexpr std::size_t kMaxLimit = 1 << 16;
  std::size_t limit = std::min(count, kMaxLimit);
  for (int round = 0;; ++round) {
    std::set<std::string> down;
    std::vector<std::pair<std::string, Message>> requests;
    for (const auto& [host, reachable] : hosts) {
      if (!reachable) {
        down.insert(host);
        continue;
      }
      pb::PBDTableLocalKeys req;
      if (after) req.set_afterkeyhash(after->raw());
      req.set_limit(static_cast<std::int32_t>(limit));
      req.set_both(true);
      requests.emplace_back(host, pack(msg::kLocalKeys, req));
    }
    auto replies = ctx_->call_all(requests, timeout(options));
    std::map<Id, SeenKey> seen;
    std::optional<Id> bound;
    for (std::size_t i = 0; i < replies.size(); ++i) {
      auto r = reply_as<pb::PBDTableMultiItemResponse>(replies[i], msg::kMultiItemResponse);
      if (!r.ok()) {
        down.insert(requests[i].first);
        continue;
      }
      if (auto cut = merge_listing(*r, seen); cut && (!bound || *cut < *bound)) bound = cut;
    }
    if (static_cast<int>(down.size()) > ctx_->replicas()) {
      std::string names;
      for (const auto& h : down) names += (names.empty() ? "" : ", ") + h;
      return Status::Unavailable(std::to_string(down.size()) + " hosts did not answer (" + names +
                                 ") and replicas is " + std::to_string(ctx_->replicas()) +
                                 ": the walk could miss keys");
    }
    // Cut: the page ends before the bound's bucket. Stuck: that bucket is the
    // cursor's own, so the page would be empty; ask for more keys (at the
    // largest limit, the keys up to the bound end the page and the rest of
    // that bucket is skipped: more than 2^16 keys sharing 64 bits of SHA-1).
    const std::uint64_t stop = bound ? scan_bucket(*bound) : 0;
    const bool stuck = bound && stop == cursor;
    if (stuck && limit < kMaxLimit) {
      limit = std::min(4 * limit, kMaxLimit);
      continue;
    }
    // The primaries of the page's arc, by a ring lookup now, must have been
    // asked: a node that joined recently may not know every host yet.
    if (round < 8) {
      bool missed = false;
      for (const std::string& owner : owners_of(from, bound ? *bound : Id::max())) {
        missed |= hosts.emplace(owner, true).second;
      }
      if (missed) continue;
    }
    ScanPage page;
    for (auto& [hash, s] : seen) {
      if (bound && (stuck ? *bound < hash : scan_bucket(hash) >= stop)) break;
      if (s.live) page.keys.push_back(std::move(s.key));
    }
    page.cursor = !bound ? 0 : stuck ? cursor + 1 : stop;
    return page;
  }
}

std::vector<StoredCopy> TableService::stored_copies(std::string_view key) const {
  const Id hash = Id::hash(key);
  std::vector<StoredCopy> out;
  for (const auto& v : ctx_->vnodes()) {
    for (auto role : {StoredCopy::Role::kPrimary, StoredCopy::Role::kReplica}) {
      const Store& t = role == StoredCopy::Role::kPrimary ? v->primary : v->replica;
      for (const StoredVersion& sv : t.versions(hash)) {
        out.push_back(StoredCopy{v->self, role, sv.item.key, sv.item.value, sv.item.timestamp,
                                 sv.item.deleted, sv.committed, sv.item.expires_ms});
      }
    }
  }
  return out;
}

}  // namespace dendrite::dtable
