#include "mutate.h"

#include <utility>
#include <vector>

#include "clock.h"
#include "dendrite/dtable/messages.h"
#include "primary.h"
#include "settings.h"

namespace dendrite::dtable {

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
