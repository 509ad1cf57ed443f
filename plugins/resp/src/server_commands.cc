// Commands about the server: COMMAND, CONFIG (GET), INFO.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <utility>
#include <vector>

#include "glob.h"
#include "handlers.h"

namespace dendrite::resp {
namespace {

constexpr std::pair<unsigned, std::string_view> kFlagNames[] = {
    {kWrite, "write"}, {kReadOnly, "readonly"}, {kNoAuth, "no_auth"}, {kFast, "fast"},
    {kAdmin, "admin"}, {kLoading, "loading"},   {kStale, "stale"},
};

std::string_view group_of(const CommandSpec& spec) {
  if (spec.flags & kTouchesKeys && spec.first_key > 0) return "string";
  if (spec.name == "command" || spec.name == "config" || spec.name == "info") return "server";
  return "connection";
}

void command_info(ReplyWriter& r, const CommandSpec& spec) {
  r.array(10);
  r.bulk(spec.name);
  r.integer(spec.arity);
  std::size_t n = 0;
  for (const auto& [flag, name] : kFlagNames) n += (spec.flags & flag) ? 1 : 0;
  r.set(n);
  for (const auto& [flag, name] : kFlagNames) {
    if (spec.flags & flag) r.simple(name);
  }
  r.integer(spec.first_key);
  r.integer(spec.last_key);
  r.integer(spec.step);
  std::vector<std::string> categories;
  if (spec.flags & kWrite) categories.push_back("@write");
  if (spec.flags & kReadOnly) categories.push_back("@read");
  if (spec.flags & kFast) categories.push_back("@fast");
  if (spec.first_key > 0) categories.push_back("@keyspace");
  categories.push_back("@" + std::string(group_of(spec)));
  r.set(categories.size());
  for (const auto& cat : categories) r.simple(cat);
  r.array(0);  // tips
  r.array(0);  // key specifications
  r.array(0);  // subcommands
}

void command_docs(ReplyWriter& r, const CommandSpec& spec) {
  r.bulk(spec.name);
  r.map(3);
  r.bulk("summary");
  r.bulk(spec.summary);
  r.bulk("since");
  r.bulk("1.0.0");
  r.bulk("group");
  r.bulk(group_of(spec));
}

// The resident set of this process in bytes (0 when /proc is unreadable).
std::uint64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

std::string human_bytes(std::uint64_t bytes) {
  char buf[32];
  if (bytes < 1024) {
    std::snprintf(buf, sizeof buf, "%lluB", static_cast<unsigned long long>(bytes));
  } else if (bytes < (1u << 20)) {
    std::snprintf(buf, sizeof buf, "%.2fK", static_cast<double>(bytes) / 1024);
  } else if (bytes < (1u << 30)) {
    std::snprintf(buf, sizeof buf, "%.2fM", static_cast<double>(bytes) / (1u << 20));
  } else {
    std::snprintf(buf, sizeof buf, "%.2fG", static_cast<double>(bytes) / (1u << 30));
  }
  return buf;
}

// The parameters CONFIG GET answers, as name/value pairs.
std::vector<std::pair<std::string, std::string>> config_parameters(const CommandContext& ctx) {
  const Settings& s = ctx.settings;
  return {
      {"appendonly", "no"},
      {"bind", s.host},
      {"client-query-buffer-limit", std::to_string(s.max_query_buffer_bytes)},
      {"databases", "1"},
      {"dendrite-consistency", std::to_string(s.consistency)},
      {"maxclients", std::to_string(s.max_clients)},
      {"maxmemory", "0"},
      {"maxmemory-policy", "noeviction"},
      {"port", std::to_string(s.port)},
      {"proto-max-bulk-len", std::to_string(s.max_bulk_bytes)},
      {"save", ""},
      {"timeout", "0"},
  };
}

std::string info_section(const CommandContext& ctx, std::string_view section) {
  const ServerStats& st = *ctx.stats;
  std::string out;
  auto line = [&](std::string_view key, const std::string& value) {
    out.append(key).append(":").append(value).append("\r\n");
  };
  const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::steady_clock::now() - st.started)
                          .count();
  if (section == "server") {
    out += "# Server\r\n";
    line("redis_version", "7.0.0");
    line("dendrite_version", ctx.node.version);
    line("redis_mode", "standalone");
    line("os", "Linux");
    line("arch_bits", std::to_string(sizeof(void*) * 8));
    line("process_id", std::to_string(getpid()));
    line("tcp_port", std::to_string(ctx.settings.port));
    line("listen", ctx.node.listen);
    line("uptime_in_seconds", std::to_string(uptime));
    line("uptime_in_days", std::to_string(uptime / 86400));
  } else if (section == "clients") {
    out += "# Clients\r\n";
    line("connected_clients", std::to_string(ctx.clients ? ctx.clients->list().size() : 0));
    line("maxclients", std::to_string(ctx.settings.max_clients));
  } else if (section == "memory") {
    const std::uint64_t rss = resident_bytes();
    out += "# Memory\r\n";
    line("used_memory", std::to_string(rss));
    line("used_memory_human", human_bytes(rss));
    line("used_memory_rss", std::to_string(rss));
    line("maxmemory", "0");
    line("maxmemory_policy", "noeviction");
  } else if (section == "stats") {
    out += "# Stats\r\n";
    line("total_connections_received", std::to_string(st.connections_received.load()));
    line("total_commands_processed", std::to_string(st.commands_processed.load()));
    line("rejected_connections", std::to_string(st.connections_rejected.load()));
    line("keyspace_hits", std::to_string(st.keyspace_hits.load()));
    line("keyspace_misses", std::to_string(st.keyspace_misses.load()));
    line("total_protocol_errors", std::to_string(st.protocol_errors.load()));
    line("total_tls_failures", std::to_string(st.tls_failures.load()));
  } else if (section == "keyspace") {
    out += "# Keyspace\r\n";
    // This node's primary keys (the ring's other nodes hold the rest), and
    // those with an expiry. avg_ttl is not kept (Redis too shows 0 then).
    const dtable::KeyCounts counts =
        ctx.table ? ctx.table->local_key_counts() : dtable::KeyCounts{};
    if (counts.keys > 0) {
      line("db0", "keys=" + std::to_string(counts.keys) +
                      ",expires=" + std::to_string(counts.expiring) + ",avg_ttl=0");
    }
  } else if (section == "ring") {
    out += "# Ring\r\n";
    line("ring_address", ctx.node.address);
    line("ring_max_consistency", std::to_string(ctx.table ? ctx.table->max_consistency() : 1));
    if (ctx.node.ring_lines) {
      for (const std::string& l : ctx.node.ring_lines()) out += l + "\r\n";
    }
  }
  return out;
}

constexpr std::string_view kSections[] = {"server", "clients",  "memory",
                                          "stats",  "keyspace", "ring"};

}  // namespace

void cmd_command(Call& c) {
  const auto& a = c.args;
  const auto table = command_table();
  if (a.size() == 1) {
    c.reply.array(table.size());
    for (const CommandSpec& spec : table) command_info(c.reply, spec);
  } else if (iequals(a[1], "count") && a.size() == 2) {
    c.reply.integer(static_cast<std::int64_t>(table.size()));
  } else if (iequals(a[1], "list") && a.size() == 2) {
    c.reply.array(table.size());
    for (const CommandSpec& spec : table) c.reply.bulk(spec.name);
  } else if (iequals(a[1], "info")) {
    if (a.size() == 2) {
      c.reply.array(table.size());
      for (const CommandSpec& spec : table) command_info(c.reply, spec);
      return;
    }
    c.reply.array(a.size() - 2);
    for (std::size_t i = 2; i < a.size(); ++i) {
      if (const CommandSpec* spec = find_command(a[i])) {
        command_info(c.reply, *spec);
      } else {
        c.reply.null_array();
      }
    }
  } else if (iequals(a[1], "docs")) {
    std::vector<const CommandSpec*> which;
    if (a.size() == 2) {
      for (const CommandSpec& spec : table) which.push_back(&spec);
    } else {
      for (std::size_t i = 2; i < a.size(); ++i) {
        if (const CommandSpec* spec = find_command(a[i])) which.push_back(spec);
      }
    }
    c.reply.map(which.size());
    for (const CommandSpec* spec : which) command_docs(c.reply, *spec);
  } else {
    c.reply.error("ERR unknown subcommand or wrong number of arguments for '" + a[1] +
                  "'. Try COMMAND HELP.");
  }
}

void cmd_config(Call& c) {
  const auto& a = c.args;
  if (iequals(a[1], "get") && a.size() >= 3) {
    std::vector<std::pair<std::string, std::string>> hits;
    for (const auto& [name, value] : config_parameters(c.ctx)) {
      for (std::size_t i = 2; i < a.size(); ++i) {
        if (glob_match(a[i], name, /*nocase=*/true)) {
          hits.emplace_back(name, value);
          break;
        }
      }
    }
    c.reply.map(hits.size());
    for (const auto& [name, value] : hits) {
      c.reply.bulk(name);
      c.reply.bulk(value);
    }
  } else if (iequals(a[1], "set")) {
    c.reply.error(
        "ERR CONFIG SET is not supported: the front end's settings come from the node's config "
        "file");
  } else if (iequals(a[1], "resetstat") && a.size() == 2) {
    c.reply.simple("OK");
  } else {
    c.reply.error("ERR unknown subcommand or wrong number of arguments for '" + a[1] +
                  "'. Try CONFIG HELP.");
  }
}

void cmd_info(Call& c) {
  std::vector<std::string_view> which;
  bool all = c.args.size() == 1;
  for (std::size_t i = 1; i < c.args.size(); ++i) {
    if (iequals(c.args[i], "all") || iequals(c.args[i], "default") ||
        iequals(c.args[i], "everything")) {
      all = true;
    }
  }
  std::string text;
  for (std::string_view section : kSections) {
    bool asked = all;
    for (std::size_t i = 1; i < c.args.size() && !asked; ++i) asked = iequals(c.args[i], section);
    if (!asked) continue;
    if (!text.empty()) text += "\r\n";
    text += info_section(c.ctx, section);
  }
  c.reply.verbatim(text);
}

}  // namespace dendrite::resp
