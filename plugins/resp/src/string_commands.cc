// Commands on string keys, answered through dtable's Table at the connection's
// consistency level. They run on worker threads (blocking Table calls).
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "handlers.h"

namespace dendrite::resp {
namespace {

// Reads `keys`: each a value, NotFound, or an error. Counts hits and misses
// (INFO keyspace_hits/misses) unless the read only serves a write.
std::vector<Result<std::string>> read_keys(Call& c, const std::vector<std::string>& keys,
                                           bool count = true) {
  auto values = keys.size() == 1
                    ? std::vector<Result<std::string>>{c.ctx.table->get(keys[0], options_of(c))}
                    : c.ctx.table->get_multi(keys, options_of(c));
  for (const auto& v : values) {
    if (!count) break;
    if (v.ok()) {
      c.ctx.stats->keyspace_hits.fetch_add(1, std::memory_order_relaxed);
    } else if (v.status().code() == StatusCode::kNotFound) {
      c.ctx.stats->keyspace_misses.fetch_add(1, std::memory_order_relaxed);
    }
  }
  return values;
}

// The first failure other than NotFound among `values`, or Ok.
Status first_failure(const std::vector<Result<std::string>>& values) {
  for (const auto& v : values) {
    if (!v.ok() && v.status().code() != StatusCode::kNotFound) return v.status();
  }
  return Status::Ok();
}

std::vector<std::string> keys_from(const Call& c, std::size_t first) {
  return std::vector<std::string>(c.args.begin() + static_cast<std::ptrdiff_t>(first),
                                  c.args.end());
}

}  // namespace

bool reply_get(ReplyWriter& reply, const Result<std::string>& value, ServerStats& stats) {
  if (value.ok()) {
    stats.keyspace_hits.fetch_add(1, std::memory_order_relaxed);
    reply.bulk(*value);
    return false;
  }
  if (value.status().code() == StatusCode::kNotFound) {
    stats.keyspace_misses.fetch_add(1, std::memory_order_relaxed);
    reply.null();
    return false;
  }
  reply_status_error(reply, value.status());
  return true;
}

bool reply_set(ReplyWriter& reply, const Status& status) {
  if (!status.ok()) {
    reply_status_error(reply, status);
    return true;
  }
  reply.simple("OK");
  return false;
}

void cmd_get(Call& c) {
  if (no_table(c)) return;
  reply_get(c.reply, c.ctx.table->get(c.args[1], options_of(c)), *c.ctx.stats);
}

void cmd_set(Call& c) {
  if (no_table(c)) return;
  if (c.args.size() > 3) return cmd_set_with_options(c);  // decided at the primary
  reply_set(c.reply, c.ctx.table->set(c.args[1], c.args[2], options_of(c)));
}

void cmd_mget(Call& c) {
  if (no_table(c)) return;
  auto values = read_keys(c, keys_from(c, 1));
  if (Status s = first_failure(values); !s.ok()) return reply_status_error(c.reply, s);
  c.reply.array(values.size());
  for (const auto& v : values) {
    if (v.ok()) {
      c.reply.bulk(*v);
    } else {
      c.reply.null();
    }
  }
}

void cmd_mset(Call& c) {
  if (no_table(c)) return;
  if (c.args.size() % 2 != 1) {
    c.reply.error("ERR wrong number of arguments for 'mset' command");
    return;
  }
  // One item per key, with its last value (as Redis, where the last wins):
  // set_multi does not promise an order between items of one key.
  std::vector<dtable::KeyValue> items;
  std::unordered_map<std::string_view, std::size_t> index;
  items.reserve(c.args.size() / 2);
  for (std::size_t i = 1; i + 1 < c.args.size(); i += 2) {
    auto [it, fresh] = index.try_emplace(c.args[i], items.size());
    if (fresh) {
      items.push_back(dtable::KeyValue{c.args[i], c.args[i + 1]});
    } else {
      items[it->second].value = c.args[i + 1];
    }
  }
  for (const Status& s : c.ctx.table->set_multi(items, options_of(c))) {
    if (!s.ok()) return reply_status_error(c.reply, s);
  }
  c.reply.simple("OK");
}

// DEL and UNLINK: each key's delete is decided at its primary (a mutation),
// so the count is exact: a key counts when that delete found it live, and
// nothing is written for an absent one.
void cmd_del(Call& c) {
  if (no_table(c)) return;
  // Each key once: DEL k k deletes (and counts) k once, as Redis.
  std::unordered_set<std::string_view> seen;
  dtable::Mutation del;
  del.op = dtable::Mutation::Op::kDelete;
  std::int64_t deleted = 0;
  for (std::size_t i = 1; i < c.args.size(); ++i) {
    if (!seen.insert(c.args[i]).second) continue;
    auto r = mutate(c, c.args[i], del);
    if (!r) return;
    deleted += r->applied ? 1 : 0;
  }
  c.reply.integer(deleted);
}

void cmd_exists(Call& c) {
  if (no_table(c)) return;
  auto values = read_keys(c, keys_from(c, 1));
  if (Status s = first_failure(values); !s.ok()) return reply_status_error(c.reply, s);
  std::int64_t n = 0;
  for (const auto& v : values) n += v.ok() ? 1 : 0;
  c.reply.integer(n);
}

void cmd_strlen(Call& c) {
  if (no_table(c)) return;
  auto values = read_keys(c, {c.args[1]});
  if (Status s = first_failure(values); !s.ok()) return reply_status_error(c.reply, s);
  c.reply.integer(values[0].ok() ? static_cast<std::int64_t>(values[0]->size()) : 0);
}

void cmd_type(Call& c) {
  if (no_table(c)) return;
  auto values = read_keys(c, {c.args[1]});
  if (Status s = first_failure(values); !s.ok()) return reply_status_error(c.reply, s);
  c.reply.simple(values[0].ok() ? "string" : "none");
}

Coalesced run_coalesced(std::span<const std::vector<std::string>> commands, Session& session,
                        std::string& out, CommandContext& ctx) {
  if (!ctx.table || !session.authenticated || commands.empty()) return {};
  const auto is_get = [](const std::vector<std::string>& a) {
    return a.size() == 2 && iequals(a[0], "get");
  };
  const auto is_set = [](const std::vector<std::string>& a) {
    return a.size() == 3 && iequals(a[0], "set");
  };
  const std::size_t limit = std::min(commands.size(), kMaxCoalesced);
  std::size_t n = 0;
  if (is_get(commands[0])) {
    while (n < limit && is_get(commands[n])) ++n;
  } else if (is_set(commands[0])) {
    std::unordered_set<std::string_view> keys;
    while (n < limit && is_set(commands[n]) && keys.insert(commands[n][1]).second) ++n;
  }
  if (n < 2) return {};
  Coalesced done{n, 0};
  std::size_t i = 0;
  dtable::Options options;
  options.consistency = session.consistency;
  ReplyWriter reply(out, session.resp3);
  if (is_get(commands[0])) {
    std::vector<std::string> keys;
    keys.reserve(n);
    for (std::size_t i = 0; i < n; ++i) keys.push_back(commands[i][1]);
    for (const auto& v : ctx.table->get_multi(keys, options)) {
      if (reply_get(reply, v, *ctx.stats)) done.failed |= 1u << i;
      ++i;
    }
    return done;
  }
  std::vector<dtable::KeyValue> items;
  items.reserve(n);
  for (std::size_t i = 0; i < n; ++i) items.push_back({commands[i][1], commands[i][2]});
  for (const Status& s : ctx.table->set_multi(items, options)) {
    if (reply_set(reply, s)) done.failed |= 1u << i;
    ++i;
  }
  return done;
}

}  // namespace dendrite::resp
