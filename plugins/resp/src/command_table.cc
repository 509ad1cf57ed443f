// The command table, admission (name, arity, AUTH) and the shared helpers.
#include <algorithm>

#include "ascii.h"
#include "handlers.h"

namespace dendrite::resp {
namespace {

constexpr unsigned kKeyRead = kReadOnly | kTouchesKeys;
constexpr unsigned kKeyWrite = kWrite | kTouchesKeys;
constexpr unsigned kAlways = kLoading | kStale;

// Sorted by name (find_command() searches it).
constexpr CommandSpec kCommands[] = {
    {"append", 3, kKeyWrite | kFast, 1, 1, 1, cmd_append,
     "Appends to a value (or sets it); returns the new length."},
    {"auth", -2, kNoAuth | kFast | kAlways, 0, 0, 0, cmd_auth, "Authenticates the connection."},
    {"client", -2, kAlways, 0, 0, 0, cmd_client,
     "Connection introspection: ID, SETNAME, GETNAME, LIST, INFO, KILL, CONSISTENCY."},
    {"command", -1, kAlways, 0, 0, 0, cmd_command,
     "Details about the commands: COUNT, INFO, DOCS, LIST."},
    {"config", -2, kAdmin | kAlways, 0, 0, 0, cmd_config,
     "Reads configuration parameters (GET only)."},
    {"dbsize", 1, kKeyRead, 0, 0, 0, cmd_dbsize,
     "The number of keys in the ring (one walk over them)."},
    {"decr", 2, kKeyWrite | kFast, 1, 1, 1, cmd_decr, "Decrements a counter by one."},
    {"decrby", 3, kKeyWrite | kFast, 1, 1, 1, cmd_decrby, "Decrements a counter."},
    {"del", -2, kKeyWrite, 1, -1, 1, cmd_del, "Deletes keys; returns how many existed."},
    {"echo", 2, kFast, 0, 0, 0, cmd_echo, "Returns the given string."},
    {"exists", -2, kKeyRead | kFast, 1, -1, 1, cmd_exists, "Counts the given keys that exist."},
    {"expire", -3, kKeyWrite | kFast, 1, 1, 1, cmd_expire,
     "Sets a key's time to live in seconds (NX, XX, GT, LT)."},
    {"expireat", -3, kKeyWrite | kFast, 1, 1, 1, cmd_expireat,
     "Sets a key's expiry as a Unix time in seconds (NX, XX, GT, LT)."},
    {"expiretime", 2, kKeyRead | kFast, 1, 1, 1, cmd_expiretime,
     "A key's expiry as a Unix time in seconds (-1: none, -2: no key)."},
    {"flushall", -1, kKeyWrite | kAdmin, 0, 0, 0, cmd_flushall,
     "Deletes every key, when the config allows it (allow_flushall)."},
    {"get", 2, kKeyRead | kFast, 1, 1, 1, cmd_get, "Returns the value of a key."},
    {"getdel", 2, kKeyWrite | kFast, 1, 1, 1, cmd_getdel, "Returns a key's value and deletes it."},
    {"getex", -2, kKeyWrite | kFast, 1, 1, 1, cmd_getex,
     "Returns a key's value and changes its expiry (EX, PX, EXAT, PXAT, PERSIST)."},
    {"hello", -1, kNoAuth | kFast | kAlways, 0, 0, 0, cmd_hello,
     "Picks the protocol version (2 or 3); optionally authenticates and names the connection."},
    {"incr", 2, kKeyWrite | kFast, 1, 1, 1, cmd_incr, "Increments a counter by one."},
    {"incrby", 3, kKeyWrite | kFast, 1, 1, 1, cmd_incrby, "Increments a counter."},
    {"incrbyfloat", 3, kKeyWrite | kFast, 1, 1, 1, cmd_incrbyfloat,
     "Adds a decimal number to a value."},
    {"info", -1, kAlways | kTouchesKeys, 0, 0, 0, cmd_info,
     "Information about the node: server, clients, memory, stats, keyspace, ring."},
    {"keys", 2, kKeyRead, 0, 0, 0, cmd_keys, "The keys matching a glob pattern."},
    {"mget", -2, kKeyRead | kFast, 1, -1, 1, cmd_mget, "Returns the values of several keys."},
    {"mset", -3, kKeyWrite, 1, -1, 2, cmd_mset, "Sets several keys."},
    {"msetnx", -3, kKeyWrite, 1, -1, 2, cmd_msetnx,
     "Sets a key if it is absent (one key only: keys are decided at their own primaries)."},
    {"persist", 2, kKeyWrite | kFast, 1, 1, 1, cmd_persist, "Removes a key's expiry."},
    {"pexpire", -3, kKeyWrite | kFast, 1, 1, 1, cmd_pexpire,
     "Sets a key's time to live in ms (NX, XX, GT, LT)."},
    {"pexpireat", -3, kKeyWrite | kFast, 1, 1, 1, cmd_pexpireat,
     "Sets a key's expiry as a Unix time in ms (NX, XX, GT, LT)."},
    {"pexpiretime", 2, kKeyRead | kFast, 1, 1, 1, cmd_pexpiretime,
     "A key's expiry as a Unix time in ms (-1: none, -2: no key)."},
    {"ping", -1, kFast | kAlways, 0, 0, 0, cmd_ping, "Returns PONG, or the given string."},
    {"psetex", 4, kKeyWrite, 1, 1, 1, cmd_psetex, "Sets a value with a time to live in ms."},
    {"pttl", 2, kKeyRead | kFast, 1, 1, 1, cmd_pttl,
     "A key's time to live in ms (-1: none, -2: no key)."},
    {"quit", -1, kNoAuth | kFast | kAlways, 0, 0, 0, cmd_quit, "Closes the connection."},
    {"reset", 1, kNoAuth | kFast | kAlways, 0, 0, 0, cmd_reset,
     "Resets the connection to its state at connect."},
    {"scan", -2, kKeyRead, 0, 0, 0, cmd_scan,
     "A page of keys from a cursor; the cursor walks the ring and survives joins."},
    {"select", 2, kFast | kAlways, 0, 0, 0, cmd_select, "Selects database 0 (the only one)."},
    {"set", -3, kKeyWrite, 1, 1, 1, cmd_set,
     "Sets the value of a key (NX, XX, GET, EX, PX, EXAT, PXAT, KEEPTTL)."},
    {"setex", 4, kKeyWrite, 1, 1, 1, cmd_setex, "Sets a value with a time to live in seconds."},
    {"setnx", 3, kKeyWrite | kFast, 1, 1, 1, cmd_setnx, "Sets a value if the key is absent."},
    {"strlen", 2, kKeyRead | kFast, 1, 1, 1, cmd_strlen, "Returns the length of a value."},
    {"ttl", 2, kKeyRead | kFast, 1, 1, 1, cmd_ttl,
     "A key's time to live in seconds (-1: none, -2: no key)."},
    {"type", 2, kKeyRead | kFast, 1, 1, 1, cmd_type, "The type of a key: string or none."},
    {"unlink", -2, kKeyWrite | kFast, 1, -1, 1, cmd_del,
     "Deletes keys (as DEL); returns how many existed."},
};

bool less_nocase(std::string_view a, std::string_view b) {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return ascii_lower(x) < ascii_lower(y);
  });
}

}  // namespace

std::span<const CommandSpec> command_table() {
  return kCommands;
}

const CommandSpec* find_command(std::string_view name) {
  const auto* end = std::end(kCommands);
  const auto* it = std::lower_bound(
      std::begin(kCommands), end, name,
      [](const CommandSpec& spec, std::string_view n) { return less_nocase(spec.name, n); });
  return it != end && iequals(it->name, name) ? it : nullptr;
}

const CommandSpec* admit(const CommandSpec* spec, std::span<const std::string> args,
                         const Session& session, ReplyWriter& reply) {
  if (spec == nullptr) {
    std::string text =
        "ERR unknown command '" + args[0].substr(0, 128) + "', with args beginning with: ";
    for (std::size_t i = 1; i < args.size() && text.size() < 256; ++i) {
      text += "'" + args[i].substr(0, 128) + "' ";
    }
    reply.error(text);
    return nullptr;
  }
  const auto n = static_cast<int>(std::min<std::size_t>(args.size(), 1u << 30));
  if ((spec->arity > 0 && n != spec->arity) || (spec->arity < 0 && n < -spec->arity)) {
    reply.error("ERR wrong number of arguments for '" + std::string(spec->name) + "' command");
    return nullptr;
  }
  if (!session.authenticated && (spec->flags & kNoAuth) == 0) {
    reply.error("NOAUTH Authentication required.");
    return nullptr;
  }
  return spec;
}

void run_command(const CommandSpec& spec, Call& call) {
  spec.run(call);
}

void reply_status_error(ReplyWriter& reply, const Status& status) {
  switch (status.code()) {
    case StatusCode::kConsistencyNotMet:
      reply.error("NOREPLICAS " + status.message());
      return;
    case StatusCode::kTimeout:
    case StatusCode::kUnavailable:
    case StatusCode::kBusy:
      reply.error("TRYAGAIN " + status.message());
      return;
    default:
      reply.error("ERR " + status.message());
      return;
  }
}

dtable::Options options_of(const Call& c) {
  dtable::Options o;
  o.consistency = c.session.consistency;
  return o;
}

bool no_table(Call& c) {
  if (c.ctx.table) return false;
  c.reply.error("TRYAGAIN the dtable plugin is not running");
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

std::optional<std::int64_t> parse_int(std::string_view text) {
  return dtable::parse_decimal_integer(text);
}

void reply_not_integer(ReplyWriter& reply) {
  reply.error("ERR value is not an integer or out of range");
}

void reply_syntax_error(ReplyWriter& reply) {
  reply.error("ERR syntax error");
}

}  // namespace dendrite::resp
