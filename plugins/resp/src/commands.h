// The commands the front end understands: a table of their names, arities,
// flags and key positions (what COMMAND reports and the dispatcher checks)
// and the functions that run them against dtable's Table.
//
// Threads: a command flagged kTouchesKeys makes blocking Table calls and runs
// on a worker thread; every other command runs on the connection's I/O thread
// and must not block. A connection runs one command at a time, in the order it
// received them, so a command sees every effect of the ones sent before it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dendrite/dtable/dtable.h"
#include "dendrite/metrics.h"
#include "reply_writer.h"
#include "settings.h"

namespace dendrite::resp {

// One connection's state as commands see and change it. Owned by its
// connection; only the command being run touches it.
struct Session {
  std::uint64_t id = 0;
  bool resp3 = false;         // HELLO 3
  bool authenticated = true;  // false until AUTH when the config has users
  std::string user = "default";
  std::string name;     // CLIENT SETNAME
  int consistency = 1;  // CLIENT CONSISTENCY; per-write and per-read copies
  bool quit = false;    // QUIT: close once this reply is written
};

// A connection as CLIENT LIST shows it.
struct ClientInfo {
  std::uint64_t id = 0;
  std::string addr, laddr, name, user, last_command;
  std::int64_t age_s = 0, idle_s = 0;
  bool resp3 = false;
  int consistency = 1;
  std::size_t query_buffer = 0, output_buffer = 0;
};

// What commands need of the connections around them. Thread-safe.
class Clients {
 public:
  virtual ~Clients() = default;
  virtual std::vector<ClientInfo> list() const = 0;
  // Closes the connections `which` selects (after their current command);
  // returns how many.
  virtual std::size_t kill(const std::function<bool(const ClientInfo&)>& which) = 0;
  // Publishes a session change (name, user, protocol, consistency) to list().
  virtual void update(const Session& session) = 0;
};

// Totals since the front end started, for INFO. Thread-safe.
struct ServerStats {
  std::atomic<std::uint64_t> connections_received{0};
  std::atomic<std::uint64_t> connections_rejected{0};
  std::atomic<std::uint64_t> commands_processed{0};
  std::atomic<std::uint64_t> protocol_errors{0};
  std::atomic<std::uint64_t> tls_failures{0};  // handshakes or records that broke
  std::atomic<std::uint64_t> keyspace_hits{0};
  std::atomic<std::uint64_t> keyspace_misses{0};
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

// Facts about the node INFO reports; filled by the plugin, read-only after.
struct NodeFacts {
  std::string address;                                   // the node's ring address
  std::string listen;                                    // the front end's bound address
  std::string version;                                   // the plugin's version
  std::function<std::vector<std::string>()> ring_lines;  // "vnode_0:id=..,pred=.." lines
};

// Everything a command may use. Shared by all connections; outlives them.
struct CommandContext {
  std::shared_ptr<dtable::Table> table;
  Settings settings;
  Clients* clients = nullptr;
  ServerStats* stats = nullptr;
  MetricsRegistry* metrics = nullptr;  // the node's; nullptr = none recorded
  NodeFacts node;
};

// One command call: its arguments (args[0] is the name as sent), the session,
// and where the reply goes.
struct Call {
  std::span<const std::string> args;
  Session& session;
  ReplyWriter& reply;
  CommandContext& ctx;
};

// Command flags (COMMAND INFO shows them by name).
enum CommandFlag : unsigned {
  kWrite = 1u << 0,        // changes the data
  kReadOnly = 1u << 1,     // reads the data
  kTouchesKeys = 1u << 2,  // calls the Table: runs on a worker thread
  kNoAuth = 1u << 3,       // allowed before AUTH
  kFast = 1u << 4,         // O(1) or O(log n)
  kAdmin = 1u << 5,        // server administration
  kLoading = 1u << 6,      // allowed while loading (always true here)
  kStale = 1u << 7,        // allowed with stale data
};

struct CommandSpec {
  std::string_view name;  // lower case
  int arity;              // Redis's: n = exactly n args (name included), -n = at least n
  unsigned flags;
  int first_key, last_key, step;  // key positions (last -1 = the last argument)
  void (*run)(Call&);
  std::string_view summary;  // for COMMAND DOCS
};

// The table, sorted by name.
std::span<const CommandSpec> command_table();

// The spec of `name` (any case), or nullptr.
const CommandSpec* find_command(std::string_view name);

// Checks what every command needs before it runs: known name (`spec`, as
// find_command(args[0]) found it), arity, AUTH. Writes the error reply and
// returns nullptr when the call may not run.
const CommandSpec* admit(const CommandSpec* spec, std::span<const std::string> args,
                         const Session& session, ReplyWriter& reply);
// admit() after looking the name up.
inline const CommandSpec* admit(std::span<const std::string> args, const Session& session,
                                ReplyWriter& reply) {
  return admit(find_command(args[0]), args, session, reply);
}
// Runs an admitted command (on the thread its flags ask for).
void run_command(const CommandSpec& spec, Call& call);

// The most commands run_coalesced() runs as one Table call.
inline constexpr std::size_t kMaxCoalesced = 16;

// Runs the commands at the front of `commands` as one Table call when they
// allow it: consecutive GETs (one get_multi) or consecutive plain SETs on
// distinct keys (one set_multi), at most kMaxCoalesced, each answered in
// `out` exactly as if it ran alone (a pipeline of them costs one round to
// each primary, not one per command). Returns how many it ran (0 when fewer
// than two qualify: run the first alone) and how many of them answered an
// error (bit i of `failed`: the i-th answered an error). Blocking: call it
// where kTouchesKeys commands run.
struct Coalesced {
  std::size_t ran = 0;
  std::uint32_t failed = 0;
};
static_assert(kMaxCoalesced <= 32, "Coalesced::failed has a bit per command");
Coalesced run_coalesced(std::span<const std::vector<std::string>> commands, Session& session,
                        std::string& out, CommandContext& ctx);

// How start_here() went.
enum class HereStart {
  kElsewhere,  // nothing done: run the command where kTouchesKeys commands run
  kDone,       // its reply is in `out`
  kLater,      // its reply comes through `later`
};
// A reply that comes later: make() returns its text. With `blocking`, make()
// may block (a Table call going on after its attempt failed: a retry, the
// replicas): call it on a worker; else it is quick (the formatting of an
// answer): call it on the I/O thread. Dropping it uncalled is allowed.
struct LaterReply {
  std::function<std::string()> make;
  bool blocking = false;
};
// Where start_here() hands a reply that comes later. Called exactly once, on
// a dtable or host thread; it must not block, and copies of it may be
// destroyed there.
using Later = std::function<void(LaterReply reply)>;

// Starts an admitted GET or plain SET without blocking the calling thread:
// kDone with the reply in `out` when the key's primary copy is on this host
// and the session's consistency is 1 (Table::get_entry_here, set_here);
// kLater when, with `may_send`, it was sent to the key's primary
// (Table::get_entry_async, set_async; any consistency), or it is a SET
// waiting for this node's disk; kElsewhere, nothing done, for any other
// command or when the Table cannot start it so. Without `may_send` only the
// fast path is tried: a connection sends the last command of a batch, while
// the rest of a pipeline goes to a worker, which sends many keys to each
// primary at once (get_multi/set_multi). Any thread; the I/O thread is what
// it is for.
HereStart start_here(const CommandSpec& spec, std::span<const std::string> args,
                     const Session& session, std::string& out, CommandContext& ctx,
                     const Later& later, bool may_send);

// The Redis-style error reply of a failed Table call ("-ERR ...", "-TRYAGAIN
// ..." for a ring that could not be reached, "-NOREPLICAS ..." when the
// consistency was not met).
void reply_status_error(ReplyWriter& reply, const Status& status);

}  // namespace dendrite::resp
