// Commands that dtable decides at the key's primary (Table::mutate): SET with
// its options, SETNX, SETEX, PSETEX, GETDEL, GETEX, APPEND and the INCR
// family. Each is one mutation, atomic at the primary. They run on worker
// threads (blocking Table calls).
#include <limits>

#include "ascii.h"
#include "handlers.h"

namespace dendrite::resp {
namespace {

using dtable::Mutation;

// SET's and GETEX's expiry option, as given: which one (lower case: "ex",
// "px", "exat", "pxat", "keepttl", "persist"; empty: none) and the text of
// its value. As Redis, the same option may repeat (the last value wins);
// two different ones are a syntax error; the value is checked once every
// option was read (expiry_of()).
struct ExpiryOption {
  std::string kind;
  std::string value;
  std::int64_t at_ms = 0;  // set by expiry_of()
};

// Reads the expiry option at args[i] into `out` (KEEPTTL only when
// `keepttl_ok`, PERSIST only when `persist_ok`). Returns how many arguments
// it took (0: not an expiry option), or -1 after writing the error reply.
int parse_expiry_option(Call& c, std::size_t i, bool keepttl_ok, bool persist_ok,
                        ExpiryOption& out) {
  const std::string a = ascii_lowered(c.args[i]);
  const bool timed = a == "ex" || a == "px" || a == "exat" || a == "pxat";
  const bool flag = (keepttl_ok && a == "keepttl") || (persist_ok && a == "persist");
  if (!timed && !flag) return 0;
  if (!out.kind.empty() && out.kind != a) {
    reply_syntax_error(c.reply);
    return -1;
  }
  out.kind = a;
  if (flag) return 1;
  if (i + 1 >= c.args.size()) {
    reply_syntax_error(c.reply);
    return -1;
  }
  out.value = c.args[i + 1];
  return 2;
}

// Checks and converts the value of a timed option (after every option was
// read). False after writing the error reply.
bool expiry_of(Call& c, ExpiryOption& e) {
  if (e.kind.empty() || e.kind == "keepttl" || e.kind == "persist") return true;
  const bool seconds = e.kind == "ex" || e.kind == "exat";
  const bool relative = e.kind == "ex" || e.kind == "px";
  auto at = expiry_arg(c, e.value, seconds, relative, /*positive=*/true);
  if (!at) return false;
  e.at_ms = *at;
  return true;
}

void set_expiry(Mutation& m, const ExpiryOption& e) {
  if (e.kind == "keepttl") {
    m.expiry = Mutation::Expiry::kKeep;
  } else if (!e.kind.empty() && e.kind != "persist") {
    m.expiry = Mutation::Expiry::kAt;
    m.expires_ms = e.at_ms;
  }
}

// INCRBY with `delta` (all four integer commands).
void incr_by(Call& c, std::int64_t delta) {
  if (no_table(c)) return;
  Mutation m;
  m.op = Mutation::Op::kIncrBy;
  m.delta = delta;
  m.expiry = Mutation::Expiry::kKeep;  // Redis keeps a counter's expiry
  auto r = mutate(c, c.args[1], m);
  if (!r) return;
  auto n = parse_int(r->number);
  if (!n) {
    c.reply.error("ERR the primary answered no number");
    return;
  }
  c.reply.integer(*n);
}

// A plain or conditional set with an optional expiry; `int_reply` answers
// :1/:0 (SETNX) instead of OK/nil.
void set_value(Call& c, const std::string& key, const std::string& value, Mutation::If cond,
               const ExpiryOption& expiry, bool get, bool int_reply) {
  Mutation m;
  m.operand = value;
  m.condition = cond;
  m.want_previous = get;
  set_expiry(m, expiry);
  auto r = mutate(c, key, m);
  if (!r) return;
  if (int_reply) return c.reply.integer(r->applied ? 1 : 0);
  if (get) return r->existed ? c.reply.bulk(r->previous) : c.reply.null();
  if (r->applied) return c.reply.simple("OK");
  c.reply.null();
}

// Runs `m` on args[1] and answers the value the key had before (nil when
// none): GETDEL, GETEX.
void reply_previous(Call& c, Mutation m) {
  m.want_previous = true;
  auto r = mutate(c, c.args[1], m);
  if (!r) return;
  if (r->existed) return c.reply.bulk(r->previous);
  c.reply.null();
}

// SETEX and PSETEX: key, a time to live in seconds or ms, value.
void set_expiring(Call& c, bool seconds) {
  if (no_table(c)) return;
  auto at = expiry_arg(c, c.args[2], seconds, /*relative=*/true, /*positive=*/true);
  if (!at) return;
  ExpiryOption expiry{"pxat", "", *at};
  set_value(c, c.args[1], c.args[3], Mutation::If::kAlways, expiry, false, false);
}

}  // namespace

std::optional<dtable::MutationResult> mutate(Call& c, const std::string& key,
                                             const dtable::Mutation& m) {
  auto r = c.ctx.table->mutate(key, m, options_of(c));
  if (!r.ok()) {
    reply_status_error(c.reply, r.status());
    return std::nullopt;
  }
  return std::move(*r);
}

std::int64_t now_ms() {
  return dtable::unix_now_ms();
}

std::optional<std::int64_t> expiry_arg(Call& c, std::string_view text, bool seconds, bool relative,
                                       bool positive) {
  auto n = parse_int(text);
  if (!n) {
    reply_not_integer(c.reply);
    return std::nullopt;
  }
  auto invalid = [&]() -> std::optional<std::int64_t> {
    c.reply.error("ERR invalid expire time in '" + ascii_lowered(c.args[0]) + "' command");
    return std::nullopt;
  };
  if (positive && *n <= 0) return invalid();
  std::int64_t ms = *n;
  if (seconds && __builtin_mul_overflow(*n, std::int64_t{1000}, &ms)) return invalid();
  if (relative && __builtin_add_overflow(ms, now_ms(), &ms)) return invalid();
  // dtable reads 0 as "never": a time at or before the epoch is "already".
  return ms <= 0 ? 1 : ms;
}

void cmd_set_with_options(Call& c) {
  ExpiryOption expiry;
  Mutation::If cond = Mutation::If::kAlways;
  bool get = false;
  for (std::size_t i = 3; i < c.args.size();) {
    const std::string& a = c.args[i];
    if (iequals(a, "nx") || iequals(a, "xx")) {
      const auto next = iequals(a, "nx") ? Mutation::If::kAbsent : Mutation::If::kPresent;
      if (cond != Mutation::If::kAlways && cond != next) return reply_syntax_error(c.reply);
      cond = next;
      ++i;
    } else if (iequals(a, "get")) {
      get = true;
      ++i;
    } else {
      const int took = parse_expiry_option(c, i, /*keepttl_ok=*/true, /*persist_ok=*/false, expiry);
      if (took < 0) return;
      if (took == 0) return reply_syntax_error(c.reply);
      i += static_cast<std::size_t>(took);
    }
  }
  if (!expiry_of(c, expiry)) return;
  set_value(c, c.args[1], c.args[2], cond, expiry, get, /*int_reply=*/false);
}

void cmd_setnx(Call& c) {
  if (no_table(c)) return;
  set_value(c, c.args[1], c.args[2], Mutation::If::kAbsent, {}, false, /*int_reply=*/true);
}

void cmd_msetnx(Call& c) {
  if (no_table(c)) return;
  if (c.args.size() % 2 == 0) {
    return c.reply.error("ERR wrong number of arguments for 'msetnx' command");
  }
  // dtable decides a write at its key's primary, one key at a time: "all or
  // none" over several keys would need them decided together, which it
  // cannot. One key is exactly SETNX.
  if (c.args.size() > 3) {
    return c.reply.error(
        "CROSSSLOT MSETNX of more than one key is not atomic here: dtable decides each key at "
        "its own primary (send one key per MSETNX, or SET NX per key)");
  }
  set_value(c, c.args[1], c.args[2], Mutation::If::kAbsent, {}, false, /*int_reply=*/true);
}

void cmd_setex(Call& c) {
  set_expiring(c, /*seconds=*/true);
}

void cmd_psetex(Call& c) {
  set_expiring(c, /*seconds=*/false);
}

void cmd_getdel(Call& c) {
  if (no_table(c)) return;
  Mutation m;
  m.op = Mutation::Op::kDelete;
  reply_previous(c, m);
}

void cmd_getex(Call& c) {
  if (no_table(c)) return;
  ExpiryOption expiry;
  for (std::size_t i = 2; i < c.args.size();) {
    const int took = parse_expiry_option(c, i, /*keepttl_ok=*/false, /*persist_ok=*/true, expiry);
    if (took < 0) return;
    if (took == 0) return reply_syntax_error(c.reply);
    i += static_cast<std::size_t>(took);
  }
  if (expiry.kind.empty()) return cmd_get(c);  // GETEX key: a plain read
  if (!expiry_of(c, expiry)) return;
  Mutation m;
  m.op = Mutation::Op::kTouch;
  set_expiry(m, expiry);  // PERSIST leaves Expiry::kNone: the expiry goes
  reply_previous(c, m);
}

void cmd_append(Call& c) {
  if (no_table(c)) return;
  Mutation m;
  m.op = Mutation::Op::kAppend;
  m.operand = c.args[2];
  m.expiry = Mutation::Expiry::kKeep;
  auto r = mutate(c, c.args[1], m);
  if (!r) return;
  c.reply.integer(static_cast<std::int64_t>(r->length));
}

void cmd_incr(Call& c) {
  incr_by(c, 1);
}

void cmd_decr(Call& c) {
  incr_by(c, -1);
}

void cmd_incrby(Call& c) {
  auto n = parse_int(c.args[2]);
  if (!n) return reply_not_integer(c.reply);
  incr_by(c, *n);
}

void cmd_decrby(Call& c) {
  auto n = parse_int(c.args[2]);
  if (!n) return reply_not_integer(c.reply);
  if (*n == std::numeric_limits<std::int64_t>::min()) {
    c.reply.error("ERR decrement would overflow");
    return;
  }
  incr_by(c, -*n);
}

void cmd_incrbyfloat(Call& c) {
  if (no_table(c)) return;
  Mutation m;
  m.op = Mutation::Op::kIncrByFloat;
  m.operand = c.args[2];
  m.expiry = Mutation::Expiry::kKeep;
  auto r = mutate(c, c.args[1], m);
  if (!r) return;
  c.reply.bulk(r->number);
}

}  // namespace dendrite::resp
