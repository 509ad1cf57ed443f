#include "handlers.h"

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <optional>

#include "await.h"
#include "clock.h"
#include "codec.h"
#include "dendrite/dtable/messages.h"
#include "dendrite/dtable/mutate_request.h"
#include "mutate.h"
#include "primary.h"
#include "wire.h"

namespace dendrite::dtable {
namespace {

// About the most bytes of keys and values one LocalKeys reply carries.
constexpr std::size_t kListingBytes = std::size_t{4} << 20;

Message decode_error(MessageType type) {
  return make_error("dtable: cannot decode message type " + std::to_string(type));
}

Message unknown_vnode(const std::string& raw_id) {
  auto id = Id::from_bytes(raw_id);
  return make_error("unknown vnode " + (id ? id->hex() : std::string("(malformed id)")));
}

// A request addressed to one vnode (its `dest` field): decoded, with that
// vnode when it is one of this node's; otherwise `vnode` is null and `error`
// is the reply (a message that does not decode, or an unknown vnode).
template <typename Pb>
struct ForVnode {
  Pb req;
  VnodeState* vnode = nullptr;
  Message error;
};

template <typename Pb>
ForVnode<Pb> decode_for_vnode(const Context& ctx, const Message& m) {
  ForVnode<Pb> out;
  auto req = unpack<Pb>(m, m.type);
  if (!req.ok()) {
    out.error = decode_error(m.type);
    return out;
  }
  out.req = std::move(*req);
  auto dest = from_pb(out.req.dest());
  out.vnode = dest ? ctx.local(dest->id) : nullptr;
  if (!out.vnode) out.error = unknown_vnode(out.req.dest().id());
  return out;
}

// Replica bookkeeping for the replica writes of one request from `origin`:
// the origin as master, depth 0, refreshed now. Items refine it (item_meta).
ReplicaMeta request_meta(const Context& ctx, const dendrite::PBProtoVnode* origin) {
  ReplicaMeta meta;
  if (origin) meta.master = from_pb(*origin);
  meta.refreshed_ns = ctx.clock->age_now();
  return meta;
}

// The bookkeeping of item `pb` of a request with `base`: its depth, and its
// own master when it names one. Returns `base` itself when the item names
// neither, else `scratch` filled in.
const ReplicaMeta& item_meta(const pb::PBDTableItem& pb, const ReplicaMeta& base,
                             ReplicaMeta& scratch) {
  if (!pb.has_replicainfo()) return base;
  scratch = base;
  if (pb.replicainfo().has_master()) {
    if (auto master = from_pb(pb.replicainfo().master())) scratch.master = std::move(master);
  }
  scratch.depth = pb.replicainfo().depth();
  return scratch;
}

// Writes `item` (decoded from `pb`, which keeps its replicaInfo) as a
// replica copy into v's replica table, with the bookkeeping of a request
// with `base`.
pb::PBDTableResponse apply_replica(Context& ctx, VnodeState& v, const Result<Item>& item,
                                   const pb::PBDTableItem& pb, const ReplicaMeta& base) {
  pb::PBDTableResponse r;
  if (!item.ok()) {
    r.set_ok(false);
    r.set_code(kCodeInvalidArgument);
    r.set_error(item.status().message());
    return r;
  }
  ctx.clock->observe(item->timestamp);
  ReplicaMeta scratch;
  if (v.replica.put(*item, /*committed=*/true, &item_meta(pb, base, scratch)) ==
      PutResult::kOlder) {
    r.set_ok(false);
    r.set_code(kCodeOlder);
    r.set_error("a newer version is held");
  } else {
    r.set_ok(true);
  }
  return r;
}

void fill_response(pb::PBDTableResponse* r, const WriteOutcome& o) {
  r->set_ok(o.code == kCodeOk);
  if (o.code != kCodeOk) {
    r->set_code(o.code);
    r->set_error(o.error);
  }
  if (o.timestamp != 0) r->set_timestamp(o.timestamp);
  r->set_copies(o.copies);
}

}  // namespace

std::vector<MessageType> Handlers::message_types() const {
  return {msg::kStatus,     msg::kResponse,       msg::kItem,         msg::kMultiItemResponse,
          msg::kGetItem,    msg::kSetItem,        msg::kSetMultiItem, msg::kClearReplica,
          msg::kSetReplica, msg::kSetReplicaInfo, msg::kGetMultiItem, msg::kLocalKeys,
          msg::kDropItems,  msg::kReplicaDigest,  msg::kPromoteKey,   msg::kCheckpoint,
          msg::kMutate};
}

std::string Handlers::type_name(MessageType type) const {
  switch (type) {
    case msg::kStatus:
      return "dtable.status";
    case msg::kResponse:
      return "dtable.response";
    case msg::kItem:
      return "dtable.item";
    case msg::kMultiItemResponse:
      return "dtable.multi_item_response";
    case msg::kGetItem:
      return "dtable.get_item";
    case msg::kSetItem:
      return "dtable.set_item";
    case msg::kSetMultiItem:
      return "dtable.set_multi_item";
    case msg::kClearReplica:
      return "dtable.clear_replica";
    case msg::kSetReplica:
      return "dtable.set_replica";
    case msg::kSetReplicaInfo:
      return "dtable.set_replica_info";
    case msg::kGetMultiItem:
      return "dtable.get_multi_item";
    case msg::kLocalKeys:
      return "dtable.local_keys";
    case msg::kDropItems:
      return "dtable.drop_items";
    case msg::kReplicaDigest:
      return "dtable.replica_digest";
    case msg::kPromoteKey:
      return "dtable.promote_key";
    case msg::kCheckpoint:
      return "dtable.checkpoint";
    case msg::kMutate:
      return "dtable.mutate";
    default:
      return "type_" + std::to_string(type);
  }
}

void Handlers::handle_async(const Message& m, Respond respond) {
  switch (m.type) {
    case msg::kSetItem:
      return set_item(m, std::move(respond));
    case msg::kSetMultiItem:
      return set_multi(m, std::move(respond));
    case msg::kGetItem:
      return get_item(m, std::move(respond));
    case msg::kGetMultiItem:
      return get_multi(m, std::move(respond));
    case msg::kMutate:
      return mutate(m, std::move(respond));
    case msg::kSetReplica:
    case msg::kSetReplicaInfo:
    case msg::kPromoteKey:
      // Writes: refused while the storage cannot take them (disk full).
      if (Status broken = ctx_->storage_error(); !broken.ok()) return respond(broken);
      [[fallthrough]];
    case msg::kClearReplica:
    case msg::kDropItems:
      // Changes to the tables: answered once they are on disk.
      return durable(std::move(respond))(handle(m));
    default:
      respond(handle(m));
  }
}

Respond Handlers::durable(Respond respond) const {
  if (!ctx_->journal()) return respond;
  return [ctx = ctx_, respond = std::move(respond)](Result<Message> reply) mutable {
    ctx->after_durable([respond = std::move(respond), reply = std::move(reply)](Status s) mutable {
      // Not on disk: not acknowledged (the sender keeps its copy).
      respond(s.ok() ? std::move(reply) : Result<Message>(std::move(s)));
    });
  };
}

bool Handlers::runs_inline(MessageType type) const {
  switch (type) {
    // Reads and writes of the clients and the replication between nodes: a
    // table lookup or write, then asynchronous requests. Hand-over batches
    // are bounded by batch_bytes.
    case msg::kStatus:
    case msg::kGetItem:
    case msg::kSetItem:
    case msg::kSetMultiItem:
    case msg::kGetMultiItem:
    case msg::kMutate:
    case msg::kSetReplica:
    case msg::kClearReplica:
    case msg::kSetReplicaInfo:
      return true;
    // Walks over whole tables (LocalKeys, ReplicaDigest, DropItems) and
    // PromoteKey (which waits for its replicas) stay on the workers.
    default:
      return false;
  }
}

bool Handlers::client_may_send(MessageType type) const {
  switch (type) {
    case msg::kStatus:
    case msg::kGetItem:
    case msg::kSetItem:
    case msg::kSetMultiItem:
    case msg::kGetMultiItem:
    case msg::kLocalKeys:
    case msg::kMutate:
      return true;
    default:
      return false;
  }
}

Result<Message> Handlers::handle(const Message& m) {
  switch (m.type) {
    case msg::kStatus:
      return status(m);
    case msg::kGetItem:
    case msg::kGetMultiItem:
    case msg::kSetItem:
    case msg::kSetMultiItem:
    case msg::kMutate:
      return wait_for(m);
    case msg::kSetReplica:
      return set_replica(m);
    case msg::kClearReplica:
      return clear_replica(m);
    case msg::kSetReplicaInfo:
      return set_replica_info(m);
    case msg::kLocalKeys:
      return local_keys(m);
    case msg::kDropItems:
      return drop_items(m);
    case msg::kReplicaDigest:
      return replica_digest(m);
    case msg::kPromoteKey:
      return promote_key(m);
    case msg::kCheckpoint:
      return checkpoint(m);
    default:
      return make_error("dtable: message type " + std::to_string(m.type) +
                        " is a reply, not a request");
  }
}

Message Handlers::status(const Message& m) {
  auto req = unpack<pb::PBDTableStatus>(m, m.type);
  if (!req.ok()) return decode_error(m.type);
  auto dest = from_pb(req->dest());
  if (dest && ctx_->local(dest->id)) return ok_response();
  return fail_response(kCodeNotFound, "no table for that vnode here");
}

void Handlers::get_item(const Message& m, Respond respond) {
  auto in = decode_for_vnode<pb::PBDTableGetItem>(*ctx_, m);
  if (!in.vnode) return respond(std::move(in.error));
  auto* req = &in.req;
  VnodeState* v = in.vnode;
  auto hash = hash_from_pb(req->keyhash());
  if (!hash.ok()) return respond(item_error_reply(kCodeInvalidArgument, hash.status().message()));
  // A replica read also sees the primary table: after a failover the copy may
  // have been promoted there already (readers of replicas want the key's newest
  // copy held by that vnode, whichever table holds it).
  if (req->replica())
    return respond(item_reply(newer(v->replica.get(*hash), v->primary.get(*hash))));
  if (req->peek()) return respond(item_reply(v->primary.get(*hash)));
  VnodeState* owner = ctx_->owner_for(*hash, v);
  if (!owner) {
    // Moved away but not yet confirmed by its new owner: still served here.
    if (auto held = v->primary.get(*hash)) return respond(item_reply(held));
    return respond(make_error(ctx_->wrong_owner_text(*hash, v->self)));
  }
  primary_read_async(
      ctx_, *owner, {*hash}, req->consistency(),
      [respond = std::move(respond)](std::vector<ReadOutcome> outcomes) {
        const ReadOutcome& r = outcomes.at(0);
        respond(r.code == kCodeOk ? item_reply(r.item) : item_error_reply(r.code, r.error));
      });
}

Result<Message> Handlers::wait_for(const Message& m) {
  return await<Result<Message>>([&](Respond respond) { handle_async(m, std::move(respond)); });
}

Message Handlers::set_replica(const Message& m) {
  auto in = decode_for_vnode<pb::PBDTableSetItem>(*ctx_, m);
  if (!in.vnode) return std::move(in.error);
  auto* req = &in.req;
  VnodeState* v = in.vnode;
  const ReplicaMeta base = request_meta(*ctx_, req->has_origin() ? &req->origin() : nullptr);
  const Result<Item> item = item_from_pb(std::move(*req->mutable_item()));  // key, value only
  return pack(msg::kResponse, apply_replica(*ctx_, *v, item, req->item(), base));
}

void Handlers::set_item(const Message& m, Respond respond) {
  auto in = decode_for_vnode<pb::PBDTableSetItem>(*ctx_, m);
  if (!in.vnode) return respond(std::move(in.error));
  auto* req = &in.req;
  VnodeState* v = in.vnode;
  auto item = item_from_pb(std::move(*req->mutable_item()));  // moves the key and value out
  if (!item.ok()) return respond(fail_response(kCodeInvalidArgument, item.status().message()));
  if (req->demoting()) {
    // A hand-over of one key (the original sends them so): stored at once,
    // answered once v's replicas hold it too and it is on disk here.
    if (Status broken = ctx_->storage_error(); !broken.ok()) return respond(broken);
    respond = durable(std::move(respond));
    v->settle_for(ctx_->settings.settle);
    const bool pass_on = ctx_->any_outside(*v, {*item});
    adopt_async(ctx_, *v, {std::move(*item)}, std::nullopt,
                [respond = std::move(respond), pass_on, ctx = ctx_, id = v->self.id](bool) {
                  respond(ok_response());
                  if (pass_on) ctx->request_hand_over(id);
                });
    return;
  }
  if (std::string why = write_problem(item->key, item->value.size(), ctx_->settings); !why.empty())
    return respond(fail_response(kCodeInvalidArgument, why));
  ctx_->clock->observe(item->timestamp);
  VnodeState* owner = ctx_->owner_for(item->hash, v);
  if (!owner) return respond(make_error(ctx_->wrong_owner_text(item->hash, v->self)));
  std::vector<Item> items;  // (an initializer list would copy the item)
  items.push_back(std::move(*item));
  primary_write_async(ctx_, *owner, std::move(items), req->minacks(),
                      [respond = std::move(respond)](std::vector<WriteOutcome> outcomes) {
                        pb::PBDTableResponse r;
                        fill_response(&r, outcomes.at(0));
                        respond(pack(msg::kResponse, r));
                      });
}

void Handlers::mutate(const Message& m, Respond respond) {
  auto in = decode_for_vnode<pb::PBDTableMutate>(*ctx_, m);
  if (!in.vnode) return respond(std::move(in.error));
  pb::PBDTableMutate& req = in.req;
  std::string bad;
  auto mutation = mutation_of_request(req, bad);
  if (!mutation) return respond(fail_response(kCodeInvalidArgument, bad));
  if (std::string why = write_problem(req.key(), 0, ctx_->settings); !why.empty())
    return respond(fail_response(kCodeInvalidArgument, why));
  const Id hash = Id::hash(req.key());
  VnodeState* owner = ctx_->owner_for(hash, in.vnode);
  if (!owner) return respond(make_error(ctx_->wrong_owner_text(hash, in.vnode->self)));
  primary_mutate_async(ctx_, *owner, std::move(*req.mutable_key()), hash, std::move(*mutation),
                       req.minacks(), [respond = std::move(respond)](MutateOutcome o) {
                         pb::PBDTableResponse r;
                         r.set_ok(o.code == kCodeOk);
                         if (o.code != kCodeOk) {
                           r.set_code(o.code);
                           r.set_error(o.error);
                         } else {
                           fill_mutation_result(*r.mutable_mutation(), o.result);
                         }
                         respond(pack(msg::kResponse, r));
                       });
}

void Handlers::set_multi(const Message& m, Respond respond) {
  auto in = decode_for_vnode<pb::PBDTableSetMultiItem>(*ctx_, m);
  if (!in.vnode) return respond(std::move(in.error));
  auto* req = &in.req;
  VnodeState* v = in.vnode;
  const int n = req->items_size();
  if (req->replica()) {
    const ReplicaMeta base = request_meta(*ctx_, req->has_origin() ? &req->origin() : nullptr);
    // Decoded first (the key and value move out; replicaInfo stays for
    // item_meta), so that all the batch's entries, cold in the CPU cache,
    // start loading before the first is written.
    std::vector<Result<Item>> items;
    items.reserve(static_cast<std::size_t>(n));
    std::vector<Id> hashes;
    hashes.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      items.push_back(item_from_pb(std::move(*req->mutable_items(i))));
      if (items.back().ok()) hashes.push_back(items.back()->hash);
    }
    if (hashes.size() > 1) v->replica.prefetch(hashes);
    // The answer lists a result per item only when one failed; {ok} alone
    // says every item was written.
    std::vector<std::pair<int, pb::PBDTableResponse>> failed;
    for (int i = 0; i < n; ++i) {
      pb::PBDTableResponse r = apply_replica(*ctx_, *v, items[i], req->items(i), base);
      if (!r.ok()) failed.emplace_back(i, std::move(r));
    }
    pb::PBDTableResponse reply;
    reply.set_ok(failed.empty());
    if (!failed.empty()) {
      auto next = failed.begin();
      for (int i = 0; i < n; ++i) {
        if (next != failed.end() && next->first == i) {
          *reply.add_results() = std::move(next->second);
          ++next;
        } else {
          reply.add_results()->set_ok(true);
        }
      }
    }
    return respond(pack(msg::kResponse, reply));
  }
  // One result per item; writes at several local primaries fill theirs as
  // they finish, and the last one answers.
  struct Batch {
    std::mutex mu;
    std::vector<pb::PBDTableResponse> results;  // GUARDED_BY(mu)
    int waiting = 0;                            // GUARDED_BY(mu)
    Respond respond;
    void answer() {
      pb::PBDTableResponse reply;
      reply.set_ok(true);
      for (auto& r : results) {
        if (!r.ok()) reply.set_ok(false);
        *reply.add_results() = std::move(r);
      }
      respond(pack(msg::kResponse, reply));
    }
  };
  if (req->demoting()) {
    // A hand-over is answered once what it stored is on disk here.
    if (Status broken = ctx_->storage_error(); !broken.ok()) return respond(broken);
    respond = durable(std::move(respond));
  }
  auto batch = std::make_shared<Batch>();
  batch->respond = std::move(respond);
  batch->results.resize(static_cast<std::size_t>(n));
  auto& results = batch->results;
  std::vector<std::optional<Item>> parsed(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto item = item_from_pb(std::move(*req->mutable_items(i)));
    auto& r = results[static_cast<std::size_t>(i)];
    if (!item.ok()) {
      r.set_ok(false);
      r.set_code(kCodeInvalidArgument);
      r.set_error(item.status().message());
    } else if (std::string why = req->demoting()
                                     ? std::string()
                                     : write_problem(item->key, item->value.size(), ctx_->settings);
               !why.empty()) {
      r.set_ok(false);
      r.set_code(kCodeInvalidArgument);
      r.set_error(why);
    } else {
      r.set_ok(true);
      parsed[static_cast<std::size_t>(i)] = std::move(*item);
    }
  }
  if (req->demoting()) {
    // A hand-over: stored at once, answered once the replicas hold the items
    // too (the old owner erases its copies on our answer). No worker waits.
    // Each item goes to the local vnode nearest after its key (v, or one of
    // ours between the key and v that the sender's routes did not know yet):
    // no vnode nearer than that can be ours, and the keys do not have to be
    // passed on between local vnodes later.
    std::map<VnodeState*, std::vector<Item>> groups;
    for (auto& p : parsed) {
      if (!p) continue;
      VnodeState* to = v;
      Id gap = distance(p->hash, v->self.id);
      for (const auto& w : ctx_->vnodes()) {
        if (const Id d = distance(p->hash, w->self.id); d < gap) {
          to = w.get();
          gap = d;
        }
      }
      groups[to].push_back(std::move(*p));
    }
    // A sender naming itself as origin keeps what it handed over as replica
    // copies (no need to send them back to it).
    std::optional<Vnode> keeper;
    if (req->has_origin()) keeper = from_pb(req->origin());
    bool all_ok = true;
    for (const auto& r : results) all_ok = all_ok && r.ok();
    if (groups.empty()) return batch->answer();
    {
      std::lock_guard lock(batch->mu);
      batch->waiting = static_cast<int>(groups.size());
    }
    for (auto& [to, items] : groups) {
      to->settle_for(ctx_->settings.settle);
      // Keys that are not `to`'s either (its own predecessor is newer than
      // the sender's routes) go on to their owner: it hands them over soon.
      const bool pass_on = ctx_->any_outside(*to, items);
      adopt_async(ctx_, *to, std::move(items), keeper,
                  [batch, pass_on, all_ok, ctx = ctx_, id = to->self.id](bool) {
                    bool last;
                    {
                      std::lock_guard lock(batch->mu);
                      last = --batch->waiting == 0;
                    }
                    if (last && all_ok) {
                      // Every item taken: no per-item results (the sender
                      // reads missing results as taken).
                      batch->respond(ok_response());
                    } else if (last) {
                      batch->answer();
                    }
                    if (pass_on) ctx->request_hand_over(id);
                  });
    }
    return;
  }
  // Client writes, grouped by the local vnode that owns each key.
  std::map<VnodeState*, std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < parsed.size(); ++i) {
    if (!parsed[i]) continue;
    ctx_->clock->observe(parsed[i]->timestamp);
    VnodeState* owner = ctx_->owner_for(parsed[i]->hash, v);
    if (!owner) {
      results[i].set_ok(false);
      results[i].set_code(kCodeWrongOwner);
      results[i].set_error(ctx_->wrong_owner_text(parsed[i]->hash, v->self));
      if (auto hint = ctx_->owner_hint(parsed[i]->hash)) to_pb(*hint, results[i].mutable_owner());
      continue;
    }
    groups[owner].push_back(i);
  }
  if (groups.empty()) return batch->answer();
  {
    std::lock_guard lock(batch->mu);
    batch->waiting = static_cast<int>(groups.size());
  }
  for (auto& [owner, idx] : groups) {
    std::vector<Item> items;
    for (std::size_t i : idx) items.push_back(std::move(*parsed[i]));
    primary_write_async(ctx_, *owner, std::move(items), req->minacks(),
                        [batch, idx = idx](std::vector<WriteOutcome> outcomes) {
                          bool last;
                          {
                            std::lock_guard lock(batch->mu);
                            for (std::size_t k = 0; k < idx.size(); ++k) {
                              fill_response(&batch->results[idx[k]], outcomes[k]);
                            }
                            last = --batch->waiting == 0;
                          }
                          if (last) batch->answer();
                        });
  }
}

Message Handlers::clear_replica(const Message& m) {
  auto in = decode_for_vnode<pb::PBDTableClearReplica>(*ctx_, m);
  if (!in.vnode) return std::move(in.error);
  auto* req = &in.req;
  VnodeState* v = in.vnode;
  auto hash = hash_from_pb(req->keyhash());
  if (!hash.ok()) return fail_response(kCodeInvalidArgument, hash.status().message());
  // An original that took a hand-over from us says so with `demoted`; the
  // copy was passed on (or kept as a replica) when it answered the SetItem.
  if (req->demoted()) return ok_response();
  std::optional<Id> master;
  if (req->has_origin()) {
    if (auto o = from_pb(req->origin())) master = o->id;
  }
  v->replica.erase_replica(*hash, master);
  return ok_response();
}

Message Handlers::set_replica_info(const Message& m) {
  auto in = decode_for_vnode<pb::PBDTableSetReplicaInfo>(*ctx_, m);
  if (!in.vnode) return std::move(in.error);
  auto* req = &in.req;
  VnodeState* v = in.vnode;
  auto hash = hash_from_pb(req->keyhash());
  if (!hash.ok()) return fail_response(kCodeInvalidArgument, hash.status().message());
  // Our replica copies are committed when written; the original's commit step
  // is accepted (and commits a version still pending, if any).
  if (req->has_timestamp()) v->replica.commit(*hash, req->timestamp());
  return ok_response();
}

void Handlers::get_multi(const Message& m, Respond respond) {
  auto in = decode_for_vnode<pb::PBDTableGetMultiItem>(*ctx_, m);
  if (!in.vnode) return respond(std::move(in.error));
  auto* req = &in.req;
  VnodeState* v = in.vnode;
  // One item reply per hash; reads at several local primaries fill theirs as
  // they finish, and the last one answers.
  struct Batch {
    std::mutex mu;
    std::vector<Message> items;  // GUARDED_BY(mu)
    int waiting = 0;             // GUARDED_BY(mu)
    Vnode origin;
    Respond respond;
    void answer() {
      pb::PBDTableMultiItemResponse reply;
      to_pb(origin, reply.mutable_origin());
      for (const Message& item : items) reply.add_items()->ParseFromString(item.payload);
      respond(pack(msg::kMultiItemResponse, reply));
    }
  };
  auto batch = std::make_shared<Batch>();
  batch->origin = v->self;
  batch->respond = std::move(respond);
  const std::size_t n = static_cast<std::size_t>(req->keyhashes_size());
  batch->items.resize(n);
  auto& items = batch->items;
  std::map<VnodeState*, std::vector<std::size_t>> groups;
  std::vector<Id> hashes(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto hash = hash_from_pb(req->keyhashes(static_cast<int>(i)));
    if (!hash.ok()) {
      items[i] = item_error_reply(kCodeInvalidArgument, hash.status().message());
      continue;
    }
    hashes[i] = *hash;
    VnodeState* owner = ctx_->owner_for(*hash, v);
    if (owner) {
      groups[owner].push_back(i);
    } else if (auto held = v->primary.get(*hash)) {
      items[i] = item_reply(held);
    } else {
      items[i] = item_error_reply(kCodeWrongOwner, ctx_->wrong_owner_text(*hash, v->self));
    }
  }
  if (groups.empty()) return batch->answer();
  {
    std::lock_guard lock(batch->mu);
    batch->waiting = static_cast<int>(groups.size());
  }
  for (auto& [owner, idx] : groups) {
    std::vector<Id> group;
    for (std::size_t i : idx) group.push_back(hashes[i]);
    primary_read_async(ctx_, *owner, group, req->consistency(),
                       [batch, idx = idx](std::vector<ReadOutcome> outcomes) {
                         bool last;
                         {
                           std::lock_guard lock(batch->mu);
                           for (std::size_t k = 0; k < idx.size(); ++k) {
                             const ReadOutcome& o = outcomes[k];
                             batch->items[idx[k]] = o.code == kCodeOk
                                                        ? item_reply(o.item)
                                                        : item_error_reply(o.code, o.error);
                           }
                           last = --batch->waiting == 0;
                         }
                         if (last) batch->answer();
                       });
  }
}

Message Handlers::local_keys(const Message& m) {
  auto req = unpack<pb::PBDTableLocalKeys>(m, m.type);
  if (!req.ok()) return decode_error(m.type);
  std::vector<VnodeState*> vnodes;
  if (req->has_dest()) {
    auto dest = from_pb(req->dest());
    VnodeState* v = dest ? ctx_->local(dest->id) : nullptr;
    if (!v) return unknown_vnode(req->dest().id());
    vnodes.push_back(v);
  } else {
    for (const auto& v : ctx_->vnodes()) vnodes.push_back(v.get());
  }
  std::optional<Id> after, start, end, master;
  if (req->has_afterkeyhash()) after = Id::from_bytes(req->afterkeyhash());
  if (req->has_rangestart() && req->has_rangeend()) {
    start = Id::from_bytes(req->rangestart());
    end = Id::from_bytes(req->rangeend());
  }
  if (req->has_master()) {
    if (auto mv = from_pb(req->master())) master = mv->id;
  }
  // Which tables, in this order. With `both`, the primary tables are read
  // again after the replica tables: a copy moving between them (a hand-over
  // demoting it, a promotion) is then seen in one of the reads.
  const bool both = req->both();
  std::vector<bool> tables;
  if (both) {
    tables = {false, true, false};
  } else {
    tables = {req->replicas()};
  }
  const bool tombstones = both || req->replicas() || req->tombstones();
  const std::int64_t now_ms = system_wall_ms();
  const std::size_t limit = req->limit() > 0 ? static_cast<std::size_t>(req->limit())
                                             : std::numeric_limits<std::size_t>::max();
  // What the filter can pass, for the part of a table on disk only.
  std::vector<HashSpan> spans = start && end ? arc_spans(*start, *end) : std::vector<HashSpan>{{}};
  if (after) {
    std::erase_if(spans, [&](const HashSpan& s) { return s.to <= *after; });
    for (HashSpan& s : spans) {
      if (s.from <= *after) s = HashSpan{*after, true, s.to};
    }
  }
  // Each table's first `limit` keys after `after`; every listing cut at its
  // limit bounds what is complete: up to the smallest last hash among them.
  std::map<Id, Item> merged;  // the newest copy of each key
  std::optional<Id> bound;
  for (bool replica_table : tables) {
    auto filter = [&](const Item& item, const ReplicaMeta& meta) {
      if (!tombstones && !live_at(item, now_ms)) return false;
      if (start && end && !between(*start, *end, item.hash, true)) return false;
      if (replica_table && !both && master && (!meta.master || meta.master->id != *master))
        return false;
      return true;
    };
    for (VnodeState* v : vnodes) {
      const Store& table = replica_table ? v->replica : v->primary;
      Store::Page page = table.select_first(after, limit, filter, req->with_values(), &spans);
      if (page.more && (!bound || page.items.back().hash < *bound)) bound = page.items.back().hash;
      for (Item& item : page.items) {
        auto [it, inserted] = merged.try_emplace(item.hash, item);
        if (!inserted && it->second.timestamp < item.timestamp) it->second = std::move(item);
      }
    }
  }
  pb::PBDTableMultiItemResponse reply;
  if (vnodes.size() == 1) to_pb(vnodes[0]->self, reply.mutable_origin());
  // A listing cut at its limit means more keys follow, whatever this reply
  // holds. A reply stays far below the frame limit: cut at kListingBytes too.
  if (bound) reply.set_more(true);
  std::size_t bytes = 0, n = 0;
  for (const auto& [hash, item] : merged) {
    if (bound && *bound < hash) break;
    if (n == limit || bytes > kListingBytes) {
      reply.set_more(true);
      break;
    }
    auto* pb = reply.add_items();
    to_pb(item, pb, req->with_values());
    pb->set_found(live_at(item, now_ms));
    bytes += item.key.size() + (req->with_values() ? item.value.size() : 0) + 48;
    ++n;
  }
  return pack(msg::kMultiItemResponse, reply);
}

Message Handlers::drop_items(const Message& m) {
  auto in = decode_for_vnode<pb::PBDTableDropItems>(*ctx_, m);
  if (!in.vnode) return std::move(in.error);
  auto* req = &in.req;
  VnodeState* v = in.vnode;
  std::optional<Id> master;
  if (req->has_origin()) {
    if (auto o = from_pb(req->origin())) master = o->id;
  }
  for (const auto& ref : req->items()) {
    auto hash = Id::from_bytes(ref.keyhash());
    if (!hash) continue;
    Store& table = req->replica() ? v->replica : v->primary;
    if (ref.has_timestamp()) {
      table.rollback(*hash, ref.timestamp());
    } else if (req->replica()) {
      v->replica.erase_replica(*hash, master);
    } else {
      v->primary.erase_if_not_newer(*hash, std::numeric_limits<std::int64_t>::max());
    }
  }
  return ok_response();
}

Message Handlers::replica_digest(const Message& m) {
  auto in = decode_for_vnode<pb::PBDTableReplicaDigest>(*ctx_, m);
  if (!in.vnode) return std::move(in.error);
  auto* req = &in.req;
  VnodeState* v = in.vnode;
  auto origin = from_pb(req->origin());
  if (!origin) return decode_error(m.type);
  const std::int64_t now = ctx_->clock->age_now();
  pb::PBDTableMultiItemResponse reply;
  to_pb(v->self, reply.mutable_origin());
  for (const auto& item : req->items()) {
    auto hash = Id::from_bytes(item.keyhash());
    if (!hash) continue;
    ctx_->clock->observe(item.timestamp());
    if (!v->replica.refresh(*hash, item.timestamp(), *origin, now)) {
      reply.add_items()->set_keyhash(item.keyhash());
    }
  }
  return pack(msg::kMultiItemResponse, reply);
}

Message Handlers::promote_key(const Message& m) {
  auto in = decode_for_vnode<pb::PBDTablePromoteKey>(*ctx_, m);
  if (!in.vnode) return std::move(in.error);
  auto* req = &in.req;
  VnodeState* v = in.vnode;
  auto item = item_from_pb(req->item());
  if (!item.ok()) return fail_response(kCodeInvalidArgument, item.status().message());
  adopt(ctx_, *v, {*item}, /*replicate=*/true);
  return ok_response();
}

Message Handlers::checkpoint(const Message& m) {
  auto req = unpack<pb::PBDTableCheckpoint>(m, m.type);
  if (!req.ok()) return decode_error(m.type);
  Journal* journal = ctx_->journal();
  if (!journal) {
    return fail_response(kCodeInvalidArgument,
                         "this node keeps its tables in memory (storage.engine \"memory\"): "
                         "nothing on disk to back up");
  }
  const std::string& dir = req->dir();
  if (dir.empty() || dir.front() != '/') {
    return fail_response(kCodeInvalidArgument,
                         "backup directory '" + dir + "' must be an absolute path on the node");
  }
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    return fail_response(kCodeInvalidArgument, "backup directory " + dir + " already exists");
  }
  if (Status s = journal->checkpoint(dir); !s.ok()) {
    return fail_response(kCodeInternal, s.message());
  }
  ctx_->log.info("storage: backed up " + journal->path() + " into " + dir);
  return ok_response();
}

}  // namespace dendrite::dtable
