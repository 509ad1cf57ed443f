// Expiry commands: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (with NX, XX, GT,
// LT), PERSIST (mutations at the key's primary), and TTL, PTTL, EXPIRETIME,
// PEXPIRETIME (reads). They run on worker threads (blocking Table calls).
#include <algorithm>
#include <cctype>

#include "handlers.h"

namespace dendrite::resp {
namespace {

using dtable::Mutation;

// EXPIRE and its three siblings: args[2] in seconds or ms, relative or
// absolute; then at most one of NX, XX, GT, LT.
void expire(Call& c, bool seconds, bool relative) {
  if (no_table(c)) return;
  // Every option first (an unknown one fails at once), then the conflicts,
  // as Redis checks them: NX with any other, then GT with LT.
  bool nx = false, xx = false, gt = false, lt = false;
  for (std::size_t i = 3; i < c.args.size(); ++i) {
    const std::string& a = c.args[i];
    if (iequals(a, "nx")) {
      nx = true;
    } else if (iequals(a, "xx")) {
      xx = true;
    } else if (iequals(a, "gt")) {
      gt = true;
    } else if (iequals(a, "lt")) {
      lt = true;
    } else {
      c.reply.error("ERR Unsupported option " + a);
      return;
    }
  }
  if (nx && (xx || gt || lt)) {
    c.reply.error("ERR NX and XX, GT or LT options at the same time are not compatible");
    return;
  }
  if (gt && lt) {
    c.reply.error("ERR GT and LT options at the same time are not compatible");
    return;
  }
  // GT already needs an expiry (none counts as infinitely late); XX with LT
  // needs one too, where LT alone takes a key without one.
  Mutation::ExpiryIf cond = Mutation::ExpiryIf::kAlways;
  if (nx) cond = Mutation::ExpiryIf::kNone;
  if (xx) cond = Mutation::ExpiryIf::kSome;
  if (gt) cond = Mutation::ExpiryIf::kLater;
  if (lt) cond = xx ? Mutation::ExpiryIf::kSomeEarlier : Mutation::ExpiryIf::kEarlier;
  // A time in the past is allowed: the key is then gone at once.
  auto at = expiry_arg(c, c.args[2], seconds, relative, /*positive=*/false);
  if (!at) return;
  Mutation m;
  m.op = Mutation::Op::kTouch;
  m.expiry = Mutation::Expiry::kAt;
  m.expires_ms = *at;
  m.expiry_if = cond;
  auto r = mutate(c, c.args[1], m);
  if (!r) return;
  c.reply.integer(r->applied ? 1 : 0);
}

// What TTL and its siblings answer: -2 absent, -1 no expiry, else the value
// `of(expires_ms)` gives.
template <typename Of>
void expiry_of(Call& c, Of of) {
  if (no_table(c)) return;
  auto e = c.ctx.table->get_entry(c.args[1], options_of(c));
  if (!e.ok()) {
    if (e.status().code() == StatusCode::kNotFound) return c.reply.integer(-2);
    return reply_status_error(c.reply, e.status());
  }
  if (e->expires_ms == 0) return c.reply.integer(-1);
  c.reply.integer(of(e->expires_ms));
}

}  // namespace

void cmd_expire(Call& c) {
  expire(c, /*seconds=*/true, /*relative=*/true);
}

void cmd_pexpire(Call& c) {
  expire(c, /*seconds=*/false, /*relative=*/true);
}

void cmd_expireat(Call& c) {
  expire(c, /*seconds=*/true, /*relative=*/false);
}

void cmd_pexpireat(Call& c) {
  expire(c, /*seconds=*/false, /*relative=*/false);
}

void cmd_ttl(Call& c) {
  // Rounded to the nearest second, as Redis does.
  expiry_of(c, [](std::int64_t at) {
    const std::int64_t left = std::max<std::int64_t>(at - now_ms(), 0);
    return (left + 500) / 1000;
  });
}

void cmd_pttl(Call& c) {
  expiry_of(c, [](std::int64_t at) { return std::max<std::int64_t>(at - now_ms(), 0); });
}

void cmd_expiretime(Call& c) {
  // Rounded to the nearest second, as Redis does.
  expiry_of(c, [](std::int64_t at) { return at / 1000 + (at % 1000 >= 500 ? 1 : 0); });
}

void cmd_pexpiretime(Call& c) {
  expiry_of(c, [](std::int64_t at) { return at; });
}

void cmd_persist(Call& c) {
  if (no_table(c)) return;
  Mutation m;
  m.op = Mutation::Op::kTouch;
  m.expiry = Mutation::Expiry::kNone;
  m.expiry_if = Mutation::ExpiryIf::kSome;
  auto r = mutate(c, c.args[1], m);
  if (!r) return;
  c.reply.integer(r->applied ? 1 : 0);
}

}  // namespace dendrite::resp
