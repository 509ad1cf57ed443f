// Commands over the whole keyspace: SCAN, KEYS, DBSIZE, FLUSHALL. They walk
// the ring's keys in key-hash order through Table::scan (a cursor that is a
// position in the hash space, so it survives nodes joining and leaving) and
// run on worker threads (blocking Table calls).
#include <atomic>
#include <charconv>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "dendrite/id.h"

#include "glob.h"
#include "handlers.h"

namespace dendrite::resp {
namespace {

// Keys per Table::scan page for the commands that walk everything.
constexpr std::size_t kWalkPage = 1000;
// The most pages one walk reads (a bound, far above any real keyspace).
constexpr int kMaxWalkPages = 1 << 22;
// The largest SCAN COUNT asked of the table (COUNT is a hint; each host
// answers up to this many keys per table and page).
constexpr std::int64_t kMaxScanCount = 10000;
// Whole walks (KEYS, DBSIZE, FLUSHALL) running at once on this node: each
// holds a worker for as long as it reads the ring, so a few clients cannot
// take every worker.
constexpr int kMaxWalks = 2;
std::atomic<int> walks_running{0};

// Holds one of the kMaxWalks slots while it lives; !entered() when none is free.
class WalkSlot {
 public:
  WalkSlot() : entered_(walks_running.fetch_add(1) < kMaxWalks) {}
  ~WalkSlot() { walks_running.fetch_sub(1); }
  WalkSlot(const WalkSlot&) = delete;
  WalkSlot& operator=(const WalkSlot&) = delete;
  bool entered() const { return entered_; }

 private:
  const bool entered_;
};

// Calls `each` with every page of one whole walk (a key may come twice, in
// different pages). Returns the first Table error, or `each`'s.
template <typename Each>
Status walk_all(Call& c, Each&& each) {
  std::uint64_t cursor = 0;
  for (int page = 0; page < kMaxWalkPages; ++page) {
    auto got = c.ctx.table->scan(cursor, kWalkPage, options_of(c));
    if (!got.ok()) return got.status();
    if (Status s = each(got->keys); !s.ok()) return s;
    cursor = got->cursor;
    if (cursor == 0) return Status::Ok();
  }
  return Status::Unavailable("the walk over the keys did not end");
}

// Writes the error of a whole walk that could not start; true then.
bool no_walk_slot(Call& c, const WalkSlot& slot) {
  if (slot.entered()) return false;
  c.reply.error("TRYAGAIN " + std::to_string(kMaxWalks) +
                " walks over every key (KEYS, DBSIZE, FLUSHALL) are running on this node");
  return true;
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
      count = std::min(*n, kMaxScanCount);
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

// KEYS pattern: one whole walk, each matching key once.
void cmd_keys(Call& c) {
  if (no_table(c)) return;
  WalkSlot slot;
  if (no_walk_slot(c, slot)) return;
  const std::string_view pattern = c.args[1];
  std::set<std::string> keys;
  Status s = walk_all(c, [&](std::vector<std::string>& page) {
    for (auto& key : page) {
      if (pattern == "*" || glob_match(pattern, key)) keys.insert(std::move(key));
    }
    return Status::Ok();
  });
  if (!s.ok()) return reply_status_error(c.reply, s);
  c.reply.array(keys.size());
  for (const auto& key : keys) c.reply.bulk(key);
}

// DBSIZE: the ring's live keys, counted by one whole walk (linear, not O(1));
// a key listed twice is counted once (by its 20-byte hash).
void cmd_dbsize(Call& c) {
  if (no_table(c)) return;
  WalkSlot slot;
  if (no_walk_slot(c, slot)) return;
  std::unordered_set<std::string> hashes;
  Status s = walk_all(c, [&](std::vector<std::string>& page) {
    for (const auto& key : page) hashes.insert(Id::hash(key).raw());
    return Status::Ok();
  });
  if (!s.ok()) return reply_status_error(c.reply, s);
  c.reply.integer(static_cast<std::int64_t>(hashes.size()));
}

// FLUSHALL [ASYNC|SYNC]: deletes every key (one walk, deleting each page's
// keys at the connection's consistency), only when the config allows it.
// Answers after the deletes in both modes.
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
  WalkSlot slot;
  if (no_walk_slot(c, slot)) return;
  // Page by page: deleting the keys behind the cursor does not change the
  // walk ahead of it.
  Status s = walk_all(c, [&](std::vector<std::string>& page) {
    for (const auto& key : page) {
      if (Status d = c.ctx.table->del(key, options_of(c)); !d.ok()) return d;
    }
    return Status::Ok();
  });
  if (!s.ok()) return reply_status_error(c.reply, s);
  c.reply.simple("OK");
}

}  // namespace dendrite::resp
