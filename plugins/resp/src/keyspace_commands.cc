// Commands over the whole keyspace: SCAN, KEYS, DBSIZE, FLUSHALL. They walk
// the ring's keys in key-hash order through Table::scan (a cursor that is a
// position in the hash space, so it survives nodes joining and leaving) and
// run on worker threads (blocking Table calls).
#include <charconv>
#include <set>
#include <string>
#include <vector>

#include "glob.h"
#include "handlers.h"

namespace dendrite::resp {
namespace {

// Keys per Table::scan page for the commands that walk everything.
constexpr std::size_t kWalkPage = 1000;
// The most pages one walk reads (a bound, far above any real keyspace).
constexpr int kMaxWalkPages = 1 << 22;

// Calls `each` with every key of one whole walk (a key may come twice).
// Returns the first Table error.
template <typename Each>
Status walk_all(Call& c, Each&& each) {
  std::uint64_t cursor = 0;
  for (int page = 0; page < kMaxWalkPages; ++page) {
    auto got = c.ctx.table->scan(cursor, kWalkPage, options_of(c));
    if (!got.ok()) return got.status();
    for (auto& key : got->keys) each(std::move(key));
    cursor = got->cursor;
    if (cursor == 0) return Status::Ok();
  }
  return Status::Unavailable("the walk over the keys did not end");
}

// The distinct keys of one whole walk that match `pattern` (all for "*").
Result<std::set<std::string>> matching_keys(Call& c, std::string_view pattern) {
  std::set<std::string> keys;
  const bool all = pattern == "*";
  Status s = walk_all(c, [&](std::string key) {
    if (all || glob_match(pattern, key)) keys.insert(std::move(key));
  });
  if (!s.ok()) return s;
  return keys;
}

}  // namespace

// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]. The cursor is the
// position Table::scan returned, in decimal (0 starts and ends a walk).
void cmd_scan(Call& c) {
  if (no_table(c)) return;
  std::uint64_t cursor = 0;
  const std::string& text = c.args[1];
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), cursor);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return c.reply.error("ERR invalid cursor");
  }
  std::string_view pattern = "*";
  std::int64_t count = 10;
  bool strings = true;  // TYPE: every key is a string
  for (std::size_t i = 2; i < c.args.size(); i += 2) {
    if (i + 1 >= c.args.size()) return reply_syntax_error(c.reply);
    const std::string& value = c.args[i + 1];
    if (iequals(c.args[i], "match")) {
      pattern = value;
    } else if (iequals(c.args[i], "count")) {
      auto n = parse_int(value);
      if (!n) return reply_not_integer(c.reply);
      if (*n < 1) return reply_syntax_error(c.reply);
      count = std::min<std::int64_t>(*n, 1 << 20);
    } else if (iequals(c.args[i], "type")) {
      strings = iequals(value, "string");
    } else {
      return reply_syntax_error(c.reply);
    }
  }
  auto page = c.ctx.table->scan(cursor, static_cast<std::size_t>(count), options_of(c));
  if (!page.ok()) return reply_status_error(c.reply, page.status());
  std::vector<std::string_view> keys;
  if (strings) {
    for (const auto& key : page->keys) {
      if (pattern == "*" || glob_match(pattern, key)) keys.push_back(key);
    }
  }
  c.reply.array(2);
  c.reply.bulk(std::to_string(page->cursor));
  c.reply.array(keys.size());
  for (auto key : keys) c.reply.bulk(key);
}

// KEYS pattern: one whole walk, each key once.
void cmd_keys(Call& c) {
  if (no_table(c)) return;
  auto keys = matching_keys(c, c.args[1]);
  if (!keys.ok()) return reply_status_error(c.reply, keys.status());
  c.reply.array(keys->size());
  for (const auto& key : *keys) c.reply.bulk(key);
}

// DBSIZE: the ring's live keys, counted by one whole walk (linear, not O(1)).
void cmd_dbsize(Call& c) {
  if (no_table(c)) return;
  auto keys = matching_keys(c, "*");
  if (!keys.ok()) return reply_status_error(c.reply, keys.status());
  c.reply.integer(static_cast<std::int64_t>(keys->size()));
}

// FLUSHALL [ASYNC|SYNC]: deletes every key (one walk, then a delete per key
// at the connection's consistency), only when the config allows it. Answers
// after the deletes in both modes.
void cmd_flushall(Call& c) {
  if (no_table(c)) return;
  if (c.args.size() > 2 ||
      (c.args.size() == 2 && !iequals(c.args[1], "async") && !iequals(c.args[1], "sync"))) {
    return reply_syntax_error(c.reply);
  }
  if (!c.ctx.settings.allow_flushall) {
    return c.reply.error(
        "ERR FLUSHALL is disabled on this node (set \"allow_flushall\": true in the resp "
        "plugin's config)");
  }
  auto keys = matching_keys(c, "*");
  if (!keys.ok()) return reply_status_error(c.reply, keys.status());
  for (const auto& key : *keys) {
    if (Status s = c.ctx.table->del(key, options_of(c)); !s.ok()) {
      return reply_status_error(c.reply, s);
    }
  }
  c.reply.simple("OK");
}

}  // namespace dendrite::resp
