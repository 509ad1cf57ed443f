#include "mutate.h"

#include <utility>
#include <vector>

#include "clock.h"
#include "dendrite/dtable/messages.h"
#include "primary.h"
#include "settings.h"

namespace dendrite::dtable {

void to_pb(std::string_view key, const Mutation& m, pb::PBDTableMutate* req) {
  req->set_key(std::string(key));
  req->set_op(static_cast<int>(m.op));
  if (m.condition != Mutation::If::kAlways) req->set_condition(static_cast<int>(m.condition));
  if (m.expiry != Mutation::Expiry::kNone) req->set_expiry(static_cast<int>(m.expiry));
  if (m.expiry_if != Mutation::ExpiryIf::kAlways) req->set_expiryif(static_cast<int>(m.expiry_if));
  if (!m.operand.empty()) req->set_operand(m.operand);
  if (m.delta != 0) req->set_delta(m.delta);
  if (m.expires_ms != 0) req->set_expiresat(m.expires_ms);
  if (m.want_previous) req->set_wantprevious(true);
}

namespace {

// `value` as enum E when within [0, last].
template <typename E>
bool enum_in_range(std::int32_t value, E last, E& out) {
  if (value < 0 || value > static_cast<std::int32_t>(last)) return false;
  out = static_cast<E>(value);
  return true;
}

}  // namespace

Result<Mutation> mutation_from_pb(const pb::PBDTableMutate& req) {
  Mutation m;
  if (!enum_in_range(req.op(), Mutation::Op::kTouch, m.op))
    return Status::InvalidArgument("unknown mutation op " + std::to_string(req.op()));
  if (!enum_in_range(req.condition(), Mutation::If::kPresent, m.condition))
    return Status::InvalidArgument("unknown mutation condition " + std::to_string(req.condition()));
  if (!enum_in_range(req.expiry(), Mutation::Expiry::kAt, m.expiry))
    return Status::InvalidArgument("unknown mutation expiry " + std::to_string(req.expiry()));
  if (!enum_in_range(req.expiryif(), Mutation::ExpiryIf::kEarlier, m.expiry_if))
    return Status::InvalidArgument("unknown mutation expiry condition " +
                                   std::to_string(req.expiryif()));
  if (m.expiry == Mutation::Expiry::kAt && req.expiresat() <= 0)
    return Status::InvalidArgument("a mutation with an expiry needs expiresAt > 0");
  m.operand = req.operand();
  m.delta = req.delta();
  m.expires_ms = req.expiresat();
  m.want_previous = req.wantprevious();
  return m;
}

void to_pb(const MutationResult& r, pb::PBDTableMutationResult* out) {
  if (r.applied) out->set_applied(true);
  if (r.existed) out->set_existed(true);
  if (!r.previous.empty()) out->set_previous(r.previous);
  if (r.previous_expires_ms != 0) out->set_previousexpiresat(r.previous_expires_ms);
  if (r.exists) out->set_exists(true);
  if (!r.number.empty()) out->set_number(r.number);
  if (r.length != 0) out->set_length(static_cast<std::int64_t>(r.length));
  if (r.expires_ms != 0) out->set_expiresat(r.expires_ms);
}

MutationResult mutation_result_from_pb(const pb::PBDTableMutationResult& pb) {
  MutationResult r;
  r.applied = pb.applied();
  r.existed = pb.existed();
  r.previous = pb.previous();
  r.previous_expires_ms = pb.previousexpiresat();
  r.exists = pb.exists();
  r.number = pb.number();
  r.length = pb.length() > 0 ? static_cast<std::size_t>(pb.length()) : 0;
  r.expires_ms = pb.expiresat();
  return r;
}

namespace {

// Decides and writes (the key is read through already when v settles).
void decide_and_write(const std::shared_ptr<Context>& ctx, VnodeState& v, std::string key,
                      const Id& hash, const Mutation& m, int min_acks, MutateDone done) {
  auto decision = std::make_shared<MutationDecision>();
  const Store::Decide decide = [&](const std::optional<Item>& current, Item& item) {
    const std::int64_t now = system_wall_ms();
    const bool live = current && live_at(*current, now);
    *decision = decide_mutation(m, live, live ? std::string_view(current->value) : "",
                                live ? current->expires_ms : 0, now);
    if (!decision->error.empty() || !decision->write) return false;
    if (std::string why = write_problem(item.key, decision->value.size(), ctx->settings);
        !why.empty()) {
      decision->error = std::move(why);
      return false;
    }
    item.deleted = decision->deleted;
    item.value = std::move(decision->value);
    item.expires_ms = decision->deleted ? 0 : decision->expires_ms;
    return true;
  };
  // A copy in v's replica table newer than its primary copy (a promotion
  // under way after a failover) is what the ring holds: reads count it, and
  // so must the decision. Adopted first, as a read-through adopts.
  if (auto copy = v.replica.get(hash)) {
    auto held = v.primary.newest(hash);
    if (!held || copy->timestamp > held->timestamp) {
      ctx->clock->observe(copy->timestamp);
      v.primary.put(*copy, /*committed=*/true);
    }
  }
  std::vector<Item> items(1);
  items[0].key = std::move(key);
  items[0].hash = hash;
  primary_write_async(
      ctx, v, std::move(items), min_acks,
      [decision, done = std::move(done)](std::vector<WriteOutcome> out) {
        const WriteOutcome& o = out.at(0);
        if (!decision->error.empty()) return done({kCodeInvalidArgument, decision->error, {}});
        if (o.code != kCodeOk) return done({o.code, o.error, {}});
        done({kCodeOk, "", std::move(decision->result)});
      },
      &decide);
}

}  // namespace

void primary_mutate_async(const std::shared_ptr<Context>& ctx, VnodeState& v, std::string key,
                          const Id& hash, Mutation m, int min_acks, MutateDone done) {
  if (!v.settling())
    return decide_and_write(ctx, v, std::move(key), hash, m, min_acks, std::move(done));
  // A read first: it asks the previous holders for a key v lacks and adopts
  // what they hold, so the decision below sees it.
  primary_read_async(
      ctx, v, {hash}, 1,
      [ctx, &v, key = std::move(key), hash, m = std::move(m), min_acks,
       done = std::move(done)](std::vector<ReadOutcome> read) mutable {
        const ReadOutcome& r = read.at(0);
        if (r.code != kCodeOk) return done({r.code, r.error, {}});
        // The ring may have changed while the previous holders answered.
        VnodeState* owner = ctx->owner_for(hash, &v);
        if (owner == nullptr)
          return done({kCodeWrongOwner, ctx->wrong_owner_text(hash, v.self), {}});
        decide_and_write(ctx, *owner, std::move(key), hash, m, min_acks, std::move(done));
      },
      /*strict=*/true);
}

}  // namespace dendrite::dtable
