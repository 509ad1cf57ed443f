// The functions behind the command table (commands.h), by group, and the
// small argument helpers they share. Internal to the resp plugin.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "commands.h"

namespace dendrite::resp {

// Connection commands (connection_commands.cc).
void cmd_auth(Call& c);
void cmd_client(Call& c);
void cmd_echo(Call& c);
void cmd_hello(Call& c);
void cmd_ping(Call& c);
void cmd_quit(Call& c);
void cmd_reset(Call& c);
void cmd_select(Call& c);

// Server commands (server_commands.cc).
void cmd_command(Call& c);
void cmd_config(Call& c);
void cmd_info(Call& c);

// String commands (string_commands.cc).
void cmd_del(Call& c);
void cmd_exists(Call& c);
void cmd_get(Call& c);
void cmd_mget(Call& c);
void cmd_mset(Call& c);
void cmd_set(Call& c);
void cmd_strlen(Call& c);
void cmd_type(Call& c);

// Commands decided at the key's primary (mutation_commands.cc): SET with
// options, SETNX, MSETNX (one key), SETEX, PSETEX, GETDEL, GETEX, APPEND, the INCR family.
void cmd_set_with_options(Call& c);
void cmd_setnx(Call& c);
void cmd_msetnx(Call& c);
void cmd_setex(Call& c);
void cmd_psetex(Call& c);
void cmd_getdel(Call& c);
void cmd_getex(Call& c);
void cmd_append(Call& c);
void cmd_incr(Call& c);
void cmd_decr(Call& c);
void cmd_incrby(Call& c);
void cmd_decrby(Call& c);
void cmd_incrbyfloat(Call& c);

// Expiry commands (expiry_commands.cc).
void cmd_expire(Call& c);
void cmd_pexpire(Call& c);
void cmd_expireat(Call& c);
void cmd_pexpireat(Call& c);
void cmd_ttl(Call& c);
void cmd_pttl(Call& c);
void cmd_expiretime(Call& c);
void cmd_pexpiretime(Call& c);
void cmd_persist(Call& c);

// Keyspace commands (keyspace_commands.cc).
void cmd_dbsize(Call& c);
void cmd_flushall(Call& c);
void cmd_keys(Call& c);
void cmd_scan(Call& c);

// GET's reply to `value`: the bulk, a null for NotFound, else the error.
// Counts the hit or miss in `stats`. True when it replied an error.
bool reply_get(ReplyWriter& reply, const Result<std::string>& value, ServerStats& stats);
// A plain SET's reply to `status`: OK or the error. True for an error.
bool reply_set(ReplyWriter& reply, const Status& status);

// The Table options of a call: the connection's consistency level.
dtable::Options options_of(const Call& c);
// True (after writing the error reply) when dtable is not there.
bool no_table(Call& c);
// ASCII case-insensitive equality.
bool iequals(std::string_view a, std::string_view b);

// The argument as a signed 64-bit decimal integer (Redis's rules: no spaces,
// no '+', no leading zeros), or nothing.
std::optional<std::int64_t> parse_int(std::string_view text);

// Runs `m` on `key` through the Table at the connection's consistency; on a
// failure writes the error reply (Redis's wording for refused numbers) and
// returns nothing.
std::optional<dtable::MutationResult> mutate(Call& c, const std::string& key,
                                             const dtable::Mutation& m);
// The wall clock, Unix ms (what dtable compares expiries with).
std::int64_t now_ms();
// An expiry argument as an absolute Unix time in ms: `text` counts seconds
// (`seconds`) or ms, from now (`relative`) or from the epoch. With
// `positive`, 0 and less are refused (SET, SETEX, GETEX). On a bad argument
// writes Redis's error ("value is not an integer", "invalid expire time in
// '<command>' command") and returns nothing.
std::optional<std::int64_t> expiry_arg(Call& c, std::string_view text, bool seconds, bool relative,
                                       bool positive);

// Writes Redis's "-ERR value is not an integer or out of range".
void reply_not_integer(ReplyWriter& reply);
// Writes Redis's "-ERR syntax error".
void reply_syntax_error(ReplyWriter& reply);

}  // namespace dendrite::resp
