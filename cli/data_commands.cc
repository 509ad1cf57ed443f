#include "data_commands.h"

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>

#include "dendrite/client/dtable_client.h"

namespace dendrite::cli {
namespace {

using client::DtableClient;

// Connects to the ring through --node; on failure reports it for `command`.
Result<std::unique_ptr<DtableClient>> connect(const std::string& command, const Options& opt,
                                              int* exit) {
  client::DtableClientOptions options;
  options.timeout = opt.timeout();
  options.credentials = opt.credentials;
  auto c = DtableClient::connect(opt.node, options);
  if (!c.ok()) *exit = fail(command, c.status());
  return c;
}

// Consistency below 1 is refused before asking the ring (the maximum needs it).
bool consistency_ok(const std::string& command, const DataArgs& args, int* exit) {
  if (args.consistency >= 1) return true;
  *exit = usage_error(command, "consistency " + std::to_string(args.consistency) +
                                   " is out of range: it must be at least 1");
  return false;
}

bool key_ok(const std::string& command, const DataArgs& args, int* exit) {
  if (!args.key.empty()) return true;
  *exit = usage_error(command, "the key must not be empty");
  return false;
}

// The key's value and expiry at --consistency, for `command` (get, ttl);
// nullopt after reporting why (*exit set).
std::optional<dtable::ValueWithExpiry> read_entry(const std::string& command, const Options& opt,
                                                  const DataArgs& args, int* exit) {
  if (!key_ok(command, args, exit) || !consistency_ok(command, args, exit)) return std::nullopt;
  auto c = connect(command, opt, exit);
  if (!c.ok()) return std::nullopt;
  auto entry = (*c)->get_entry(args.key, args.consistency);
  if (!entry.ok()) {
    *exit = fail(command, entry.status());
    return std::nullopt;
  }
  return std::move(entry).value();
}

}  // namespace

int run_set(const Options& opt, const DataArgs& args) {
  int exit = kExitOk;
  if (!key_ok("set", args, &exit) || !consistency_ok("set", args, &exit)) return exit;
  std::string value = args.value;
  if (value == "-") {
    value.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    if (std::cin.bad()) return usage_error("set", "cannot read the value from stdin");
  }
  if (args.ttl_s < 0) return usage_error("set", "--ttl must be 0 (never) or more seconds");
  if (args.if_absent && args.if_present) {
    return usage_error("set", "--if-absent and --if-present exclude each other");
  }
  auto c = connect("set", opt, &exit);
  if (!c.ok()) return exit;
  if (args.ttl_s == 0 && !args.if_absent && !args.if_present) {
    Status s = (*c)->set(args.key, value, args.consistency);
    return s.ok() ? kExitOk : fail("set", s);
  }
  // An expiry or a condition: decided at the key's primary.
  dtable::Mutation m;
  m.operand = std::move(value);
  if (args.if_absent) m.condition = dtable::Mutation::If::kAbsent;
  if (args.if_present) m.condition = dtable::Mutation::If::kPresent;
  if (args.ttl_s > 0) {
    const std::int64_t now_ms = dtable::unix_now_ms();
    if (args.ttl_s > (INT64_MAX - now_ms) / 1000) return usage_error("set", "--ttl is too large");
    m.expiry = dtable::Mutation::Expiry::kAt;
    m.expires_ms = now_ms + args.ttl_s * 1000;
  }
  auto r = (*c)->mutate(args.key, m, args.consistency);
  if (!r.ok()) return fail("set", r.status());
  if (r->applied) return kExitOk;
  std::cerr << "dendrite-cli: set: not written: key '" << args.key.substr(0, 200)
            << (args.if_absent ? "' exists\n" : "' not found\n");
  return kExitNotFound;
}

int run_incr(const Options& opt, const DataArgs& args) {
  int exit = kExitOk;
  if (!key_ok("incr", args, &exit) || !consistency_ok("incr", args, &exit)) return exit;
  auto c = connect("incr", opt, &exit);
  if (!c.ok()) return exit;
  dtable::Mutation m;
  m.op = dtable::Mutation::Op::kIncrBy;
  m.delta = args.by;
  m.expiry = dtable::Mutation::Expiry::kKeep;
  auto r = (*c)->mutate(args.key, m, args.consistency);
  if (!r.ok()) return fail("incr", r.status());
  std::cout << r->number << "\n" << std::flush;
  return kExitOk;
}

int run_get(const Options& opt, const DataArgs& args) {
  int exit = kExitOk;
  auto entry = read_entry("get", opt, args, &exit);
  if (!entry) return exit;
  std::cout.write(entry->value.data(), static_cast<std::streamsize>(entry->value.size()));
  std::cout.flush();
  return kExitOk;
}

int run_ttl(const Options& opt, const DataArgs& args) {
  int exit = kExitOk;
  auto entry = read_entry("ttl", opt, args, &exit);
  if (!entry) return exit;
  if (entry->expires_ms == 0) {
    std::cout << "none\n";
    return kExitOk;
  }
  const std::int64_t left_ms = std::max<std::int64_t>(0, entry->expires_ms - dtable::unix_now_ms());
  std::cout << (args.ms ? left_ms : (left_ms + 500) / 1000) << "\n";
  return kExitOk;
}

int run_del(const Options& opt, const DataArgs& args) {
  int exit = kExitOk;
  if (!key_ok("del", args, &exit) || !consistency_ok("del", args, &exit)) return exit;
  auto c = connect("del", opt, &exit);
  if (!c.ok()) return exit;
  Status s = (*c)->del(args.key, args.consistency);
  return s.ok() ? kExitOk : fail("del", s);
}

int run_backup(const Options& opt, const DataArgs& args) {
  int exit = kExitOk;
  auto c = connect("backup", opt, &exit);
  if (!c.ok()) return exit;
  Status s = (*c)->backup(args.key);
  return s.ok() ? kExitOk : fail("backup", s);
}

int run_keys(const Options& opt, const DataArgs& args) {
  int exit = kExitOk;
  auto c = connect("keys", opt, &exit);
  if (!c.ok()) return exit;
  auto keys = args.local ? (*c)->local_keys() : (*c)->keys();
  if (!keys.ok()) return fail("keys", keys.status());
  std::string out;
  for (const std::string& k : *keys) {
    out += k;
    out += '\n';
  }
  std::cout << out << std::flush;
  return kExitOk;
}

}  // namespace dendrite::cli
