// The commands against an in-memory Table, without sockets: replies byte for
// byte as Redis gives them, in RESP2 and RESP3, and the session changes.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "commands.h"
#include "dendrite/dtable/memory_table.h"

namespace dendrite::resp {
namespace {

// The connections a test pretends to have: this one and a second one.
class FakeClients final : public Clients {
 public:
  std::vector<ClientInfo> list() const override { return infos; }
  std::size_t kill(const std::function<bool(const ClientInfo&)>& which) override {
    std::size_t n = 0;
    for (const ClientInfo& c : infos) n += which(c) ? 1 : 0;
    killed += n;
    return n;
  }
  void update(const Session& s) override {
    for (ClientInfo& c : infos) {
      if (c.id == s.id) c.name = s.name;
    }
  }
  std::vector<ClientInfo> infos;
  std::size_t killed = 0;
};

class RespCommandsTest : public ::testing::Test {
 protected:
  RespCommandsTest() {
    ctx_.table = table_;
    ctx_.clients = &clients_;
    ctx_.stats = &stats_;
    session_.id = 1;
    ClientInfo me;
    me.id = 1;
    me.addr = "127.0.0.1:40001";
    ClientInfo other;
    other.id = 2;
    other.addr = "127.0.0.1:40002";
    clients_.infos = {me, other};
  }

  // Runs one command as a connection would and returns the reply bytes.
  std::string run(std::vector<std::string> args) {
    std::string out;
    ReplyWriter writer(out, session_.resp3);
    if (const CommandSpec* spec = admit(args, session_, writer)) {
      Call call{args, session_, writer, ctx_};
      run_command(*spec, call);
    }
    return out;
  }

  // start_here() as a connection calls it for a batch's last command (may
  // send); the replies that come later go to later_, "(blocking) " before
  // those to be made on a worker.
  HereStart start(std::vector<std::string> args, std::string* out) {
    const Later collect = [this](LaterReply reply) {
      later_.push_back((reply.blocking ? "(blocking) " : "") + reply.make());
    };
    return start_here(*find_command(args[0]), args, session_, *out, ctx_, collect, true);
  }
  std::vector<std::string> later_;

  // The table's clock: the wall clock (which the commands' relative
  // expiries start from) plus `ahead_ms_`, which a test moves forward.
  std::int64_t ahead_ms_ = 0;
  std::shared_ptr<dtable::MemoryTable> table_ = std::make_shared<dtable::MemoryTable>(3, [this] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count() +
           ahead_ms_;
  });
  FakeClients clients_;
  ServerStats stats_;
  CommandContext ctx_;
  Session session_;
};

// The bulk strings of a RESP2 reply made of arrays and bulk strings (SCAN,
// KEYS), in order; fails the test on anything else.
std::vector<std::string> bulks_of(const std::string& reply) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < reply.size()) {
    const std::size_t eol = reply.find("\r\n", at);
    if (eol == std::string::npos) break;
    const std::string head = reply.substr(at, eol - at);
    at = eol + 2;
    if (head[0] == '*') continue;
    if (head[0] != '$') {
      ADD_FAILURE() << "unexpected reply line " << head << " in " << reply;
      return out;
    }
    const std::size_t n = std::stoul(head.substr(1));
    out.push_back(reply.substr(at, n));
    at += n + 2;
  }
  return out;
}

TEST_F(RespCommandsTest, TheTableIsSortedAndLookupIgnoresCase) {
  const auto table = command_table();
  for (std::size_t i = 1; i < table.size(); ++i) {
    EXPECT_LT(table[i - 1].name, table[i].name);
  }
  for (const CommandSpec& spec : table) {
    EXPECT_EQ(find_command(spec.name), &spec);
  }
  EXPECT_EQ(find_command("GeT"), find_command("get"));
  EXPECT_EQ(find_command("nosuch"), nullptr);
}

TEST_F(RespCommandsTest, UnknownCommandsAndWrongAritiesGetRedisErrors) {
  EXPECT_EQ(run({"FOO", "a", "b"}),
            "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n");
  EXPECT_EQ(run({"get"}), "-ERR wrong number of arguments for 'get' command\r\n");
  EXPECT_EQ(run({"get", "a", "b"}), "-ERR wrong number of arguments for 'get' command\r\n");
  EXPECT_EQ(run({"mset", "a", "1", "b"}), "-ERR wrong number of arguments for 'mset' command\r\n");
}

TEST_F(RespCommandsTest, StringsRoundTrip) {
  EXPECT_EQ(run({"GET", "k"}), "$-1\r\n");
  EXPECT_EQ(run({"SET", "k", "v"}), "+OK\r\n");
  EXPECT_EQ(run({"GET", "k"}), "$1\r\nv\r\n");
  EXPECT_EQ(run({"STRLEN", "k"}), ":1\r\n");
  EXPECT_EQ(run({"STRLEN", "nope"}), ":0\r\n");
  EXPECT_EQ(run({"TYPE", "k"}), "+string\r\n");
  EXPECT_EQ(run({"TYPE", "nope"}), "+none\r\n");
  EXPECT_EQ(run({"MSET", "a", "1", "b", "2"}), "+OK\r\n");
  EXPECT_EQ(run({"MGET", "a", "nope", "b"}), "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n");
  EXPECT_EQ(run({"EXISTS", "a", "a", "nope"}), ":2\r\n");
  EXPECT_EQ(run({"DEL", "a", "nope", "b"}), ":2\r\n");
  EXPECT_EQ(run({"UNLINK", "k"}), ":1\r\n");
  EXPECT_EQ(run({"MGET", "a", "b", "k"}), "*3\r\n$-1\r\n$-1\r\n$-1\r\n");
  // A key named twice counts once in DEL; in MSET its last value wins.
  EXPECT_EQ(run({"MSET", "d", "1", "d", "2"}), "+OK\r\n");
  EXPECT_EQ(run({"GET", "d"}), "$1\r\n2\r\n");
  EXPECT_EQ(run({"DEL", "d", "d"}), ":1\r\n");
  EXPECT_EQ(stats_.keyspace_hits.load(), 8u);  // DEL and UNLINK count none
  EXPECT_EQ(stats_.keyspace_misses.load(), 8u);
}

TEST_F(RespCommandsTest, Resp3NullsAfterHello) {
  const std::string hello = run({"HELLO", "3"});
  EXPECT_EQ(hello.rfind("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n", 0), 0u) << hello;
  EXPECT_NE(hello.find("$5\r\nproto\r\n:3\r\n"), std::string::npos);
  EXPECT_EQ(run({"GET", "nope"}), "_\r\n");
  EXPECT_EQ(run({"HELLO", "4"}), "-NOPROTO unsupported protocol version\r\n");
  const std::string back = run({"HELLO", "2", "SETNAME", "app"});
  EXPECT_EQ(back.rfind("*14\r\n", 0), 0u);
  EXPECT_EQ(session_.name, "app");
  EXPECT_EQ(run({"GET", "nope"}), "$-1\r\n");
}

TEST_F(RespCommandsTest, ConnectionCommands) {
  EXPECT_EQ(run({"PING"}), "+PONG\r\n");
  EXPECT_EQ(run({"PING", "x"}), "$1\r\nx\r\n");
  EXPECT_EQ(run({"PING", "x", "y"}), "-ERR wrong number of arguments for 'ping' command\r\n");
  EXPECT_EQ(run({"ECHO", "hi"}), "$2\r\nhi\r\n");
  EXPECT_EQ(run({"SELECT", "0"}), "+OK\r\n");
  EXPECT_EQ(run({"SELECT", "1"}), "-ERR DB index is out of range\r\n");
  EXPECT_EQ(run({"SELECT", "x"}), "-ERR value is not an integer or out of range\r\n");
  EXPECT_EQ(run({"AUTH", "pw"}).rfind("-ERR AUTH <password> called without any password", 0), 0u);
  EXPECT_EQ(run({"QUIT"}), "+OK\r\n");
  EXPECT_TRUE(session_.quit);
}

TEST_F(RespCommandsTest, ClientSubcommands) {
  EXPECT_EQ(run({"CLIENT", "ID"}), ":1\r\n");
  EXPECT_EQ(run({"CLIENT", "GETNAME"}), "$-1\r\n");
  EXPECT_EQ(run({"CLIENT", "SETNAME", "a b"}),
            "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
  EXPECT_EQ(run({"CLIENT", "SETNAME", "worker"}), "+OK\r\n");
  EXPECT_EQ(run({"CLIENT", "GETNAME"}), "$6\r\nworker\r\n");
  const std::string list = run({"CLIENT", "LIST"});
  EXPECT_NE(list.find("id=1 addr=127.0.0.1:40001"), std::string::npos) << list;
  EXPECT_NE(list.find("id=2 addr=127.0.0.1:40002"), std::string::npos) << list;
  EXPECT_NE(list.find("name=worker"), std::string::npos) << list;
  EXPECT_EQ(run({"CLIENT", "KILL", "127.0.0.1:40002"}), "+OK\r\n");
  EXPECT_EQ(run({"CLIENT", "KILL", "127.0.0.1:9"}), "-ERR No such client\r\n");
  EXPECT_EQ(run({"CLIENT", "KILL", "ID", "1"}), ":0\r\n");  // SKIPME yes by default
  EXPECT_EQ(run({"CLIENT", "KILL", "ID", "1", "SKIPME", "no"}), ":1\r\n");
  EXPECT_EQ(clients_.killed, 2u);
  EXPECT_EQ(run({"CLIENT", "NOPE"}),
            "-ERR unknown subcommand or wrong number of arguments for 'NOPE'. Try CLIENT "
            "HELP.\r\n");
}

TEST_F(RespCommandsTest, ConsistencyIsPerConnectionAndChecked) {
  EXPECT_EQ(run({"CLIENT", "CONSISTENCY"}), ":1\r\n");
  EXPECT_EQ(run({"CLIENT", "CONSISTENCY", "3"}), "+OK\r\n");
  EXPECT_EQ(session_.consistency, 3);
  EXPECT_EQ(run({"SET", "k", "v"}), "+OK\r\n");
  EXPECT_EQ(run({"CLIENT", "CONSISTENCY", "4"}),
            "-ERR consistency must be an integer from 1 to 3 (replicas + 1)\r\n");
  EXPECT_EQ(session_.consistency, 3);
}

TEST_F(RespCommandsTest, TableErrorsBecomeRedisErrors) {
  // The table refuses an empty key; the reply says why.
  EXPECT_EQ(run({"SET", "", "v"}), "-ERR key must not be empty\r\n");
  ctx_.table.reset();
  EXPECT_EQ(run({"GET", "k"}), "-TRYAGAIN the dtable plugin is not running\r\n");
  std::string out;
  ReplyWriter w(out, false);
  reply_status_error(w, Status::ConsistencyNotMet("1 of 2 copies"));
  reply_status_error(w, Status::Timeout("no answer"));
  EXPECT_EQ(out, "-NOREPLICAS 1 of 2 copies\r\n-TRYAGAIN no answer\r\n");
}

TEST_F(RespCommandsTest, CommandIntrospection) {
  EXPECT_EQ(run({"COMMAND", "COUNT"}), ":" + std::to_string(command_table().size()) + "\r\n");
  const std::string info = run({"COMMAND", "INFO", "get", "nosuch"});
  EXPECT_EQ(
      info.rfind("*2\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n",
                 0),
      0u)
      << info;
  EXPECT_NE(info.find("*-1\r\n"), std::string::npos);
  const std::string docs = run({"COMMAND", "DOCS", "set"});
  EXPECT_EQ(docs.rfind("*2\r\n$3\r\nset\r\n*6\r\n$7\r\nsummary\r\n", 0), 0u) << docs;
}

TEST_F(RespCommandsTest, ConfigGetMatchesPatterns) {
  EXPECT_EQ(run({"CONFIG", "GET", "save"}), "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
  const std::string max = run({"CONFIG", "GET", "MAX*"});
  EXPECT_EQ(max.rfind("*6\r\n$10\r\nmaxclients\r\n", 0), 0u) << max;
  EXPECT_EQ(run({"CONFIG", "GET", "nothing"}), "*0\r\n");
  EXPECT_EQ(run({"CONFIG", "SET", "save", ""}).rfind("-ERR CONFIG SET is not supported", 0), 0u);
}

TEST_F(RespCommandsTest, InfoHasItsSections) {
  EXPECT_EQ(run({"SET", "k", "v"}), "+OK\r\n");
  const std::string all = run({"INFO"});
  for (const char* part : {"# Server\r\n", "redis_version:", "# Clients\r\nconnected_clients:2",
                           "# Memory\r\nused_memory:", "# Stats\r\n", "total_commands_processed:",
                           "# Keyspace\r\ndb0:keys=1,", "# Ring\r\n"}) {
    EXPECT_NE(all.find(part), std::string::npos) << part << " in " << all;
  }
  const std::string one = run({"INFO", "keyspace"});
  EXPECT_EQ(one.find("# Server"), std::string::npos);
  EXPECT_NE(one.find("# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n"), std::string::npos) << one;
  EXPECT_EQ(run({"SET", "t", "v", "EX", "100"}), "+OK\r\n");
  const std::string two = run({"INFO", "keyspace"});
  EXPECT_NE(two.find("db0:keys=2,expires=1,avg_ttl=0\r\n"), std::string::npos) << two;
}

TEST_F(RespCommandsTest, MsetnxTakesOneKeyAndRefusesSeveralWithCrossslot) {
  EXPECT_EQ(run({"MSETNX", "k", "1"}), ":1\r\n");
  EXPECT_EQ(run({"MSETNX", "k", "2"}), ":0\r\n");
  EXPECT_EQ(run({"GET", "k"}), "$1\r\n1\r\n");
  EXPECT_EQ(run({"MSETNX", "a", "1", "b", "2"}).rfind("-CROSSSLOT MSETNX of more than one key", 0),
            0u);
  EXPECT_EQ(run({"EXISTS", "a", "b"}), ":0\r\n") << "nothing written";
  EXPECT_EQ(run({"MSETNX", "a", "1", "b"}),
            "-ERR wrong number of arguments for 'msetnx' command\r\n");
  EXPECT_EQ(run({"MSETNX", "a"}), "-ERR wrong number of arguments for 'msetnx' command\r\n");
}

TEST_F(RespCommandsTest, SetOptionsAndConditionalSets) {
  EXPECT_EQ(run({"SET", "k", "v", "NX"}), "+OK\r\n");
  EXPECT_EQ(run({"SET", "k", "w", "NX"}), "$-1\r\n");
  EXPECT_EQ(run({"SET", "k", "w", "XX", "GET"}), "$1\r\nv\r\n");
  EXPECT_EQ(run({"SET", "x", "w", "XX"}), "$-1\r\n");
  EXPECT_EQ(run({"SET", "x", "w", "GET"}), "$-1\r\n");
  EXPECT_EQ(run({"GET", "x"}), "$1\r\nw\r\n");
  EXPECT_EQ(run({"SETNX", "x", "z"}), ":0\r\n");
  EXPECT_EQ(run({"SETNX", "y", "z"}), ":1\r\n");
  EXPECT_EQ(run({"SET", "k", "v", "NX", "XX"}), "-ERR syntax error\r\n");
  EXPECT_EQ(run({"SET", "k", "v", "EX", "abc", "BOGUS"}), "-ERR syntax error\r\n");
  EXPECT_EQ(run({"SET", "k", "v", "KEEPTTL", "EX", "5"}), "-ERR syntax error\r\n");
  EXPECT_EQ(run({"SET", "k", "v", "EX", "1", "PX", "5"}), "-ERR syntax error\r\n");
  EXPECT_EQ(run({"SET", "k", "v", "EX"}), "-ERR syntax error\r\n");
  EXPECT_EQ(run({"SET", "k", "v", "BOGUS"}), "-ERR syntax error\r\n");
  EXPECT_EQ(run({"SET", "k", "v", "EX", "x"}), "-ERR value is not an integer or out of range\r\n");
  EXPECT_EQ(run({"SET", "k", "v", "EX", "0"}), "-ERR invalid expire time in 'set' command\r\n");
  EXPECT_EQ(run({"SETEX", "k", "-1", "v"}), "-ERR invalid expire time in 'setex' command\r\n");
  EXPECT_EQ(run({"SET", "k", "v", "EX", "9223372036854775807"}),
            "-ERR invalid expire time in 'set' command\r\n");
  EXPECT_EQ(run({"GET", "k"}), "$1\r\nw\r\n");  // nothing written by the refusals
  EXPECT_EQ(run({"GETDEL", "k"}), "$1\r\nw\r\n");
  EXPECT_EQ(run({"GETDEL", "k"}), "$-1\r\n");
  EXPECT_EQ(run({"DEL", "x", "y", "x", "none"}), ":2\r\n");
}

TEST_F(RespCommandsTest, ExpiriesAreSetReadAndHonoured) {
  EXPECT_EQ(run({"SET", "k", "v", "EX", "100"}), "+OK\r\n");
  EXPECT_EQ(run({"TTL", "k"}), ":100\r\n");
  EXPECT_EQ(run({"TTL", "none"}), ":-2\r\n");
  EXPECT_EQ(run({"SET", "k", "w", "KEEPTTL"}), "+OK\r\n");
  EXPECT_EQ(run({"TTL", "k"}), ":100\r\n");
  EXPECT_EQ(run({"SET", "k", "w"}), "+OK\r\n");  // a plain SET clears it
  EXPECT_EQ(run({"TTL", "k"}), ":-1\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "100", "XX", "LT"}), ":0\r\n");  // XX: needs an expiry
  EXPECT_EQ(run({"EXPIRE", "k", "100", "GT"}), ":0\r\n");        // none = infinitely late
  EXPECT_EQ(run({"EXPIRE", "k", "100", "XX"}), ":0\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "100", "NX"}), ":1\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "50", "GT"}), ":0\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "50", "LT"}), ":1\r\n");
  EXPECT_EQ(run({"TTL", "k"}), ":50\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "5", "NX", "XX"}),
            "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "5", "GT", "LT"}),
            "-ERR GT and LT options at the same time are not compatible\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "5", "NX", "XX", "SOON"}), "-ERR Unsupported option SOON\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "60", "XX", "GT"}), ":1\r\n");  // 50 -> 60
  EXPECT_EQ(run({"EXPIRE", "k", "50", "XX", "LT"}), ":1\r\n");  // 60 -> 50
  EXPECT_EQ(run({"PERSIST", "k"}), ":1\r\n");
  EXPECT_EQ(run({"PERSIST", "k"}), ":0\r\n");
  EXPECT_EQ(run({"PTTL", "k"}), ":-1\r\n");
  EXPECT_EQ(run({"GETEX", "k", "PX", "1000", "PX", "2000"}), "$1\r\nw\r\n");  // last wins
  EXPECT_EQ(run({"GETEX", "k", "PX", "2000", "PERSIST"}), "-ERR syntax error\r\n");
  EXPECT_EQ(run({"TTL", "k"}), ":2\r\n");
  EXPECT_EQ(run({"PEXPIREAT", "k", "4102444800000"}), ":1\r\n");  // 2100-01-01
  EXPECT_EQ(run({"EXPIRETIME", "k"}), ":4102444800\r\n");
  EXPECT_EQ(run({"PEXPIRETIME", "k"}), ":4102444800000\r\n");
  EXPECT_EQ(run({"GETEX", "k", "PERSIST"}), "$1\r\nw\r\n");
  EXPECT_EQ(run({"TTL", "k"}), ":-1\r\n");
  EXPECT_EQ(run({"EXPIRE", "none", "10"}), ":0\r\n");
  // Time passes (the table's clock): gone at its expiry, for every command.
  EXPECT_EQ(run({"SETEX", "s", "10", "v"}), "+OK\r\n");
  EXPECT_EQ(run({"PSETEX", "p", "10000", "v"}), "+OK\r\n");
  ahead_ms_ = 10'001;
  for (const char* key : {"s", "p"}) {
    EXPECT_EQ(run({"GET", key}), "$-1\r\n") << key;
    EXPECT_EQ(run({"EXISTS", key}), ":0\r\n") << key;
    EXPECT_EQ(run({"TTL", key}), ":-2\r\n") << key;
    EXPECT_EQ(run({"SETNX", key, "again"}), ":1\r\n") << key;  // expired = absent
  }
  // An expiry in the past deletes at once.
  EXPECT_EQ(run({"EXPIRE", "s", "-5"}), ":1\r\n");
  EXPECT_EQ(run({"GET", "s"}), "$-1\r\n");
  EXPECT_EQ(run({"SET", "e", "v", "EXAT", "1"}), "+OK\r\n");
  EXPECT_EQ(run({"GET", "e"}), "$-1\r\n");
}

TEST_F(RespCommandsTest, CountersAndAppendFollowRedis) {
  EXPECT_EQ(run({"INCR", "n"}), ":1\r\n");
  EXPECT_EQ(run({"INCRBY", "n", "41"}), ":42\r\n");
  EXPECT_EQ(run({"DECR", "n"}), ":41\r\n");
  EXPECT_EQ(run({"DECRBY", "n", "-9"}), ":50\r\n");
  EXPECT_EQ(run({"DECRBY", "n", "-9223372036854775808"}), "-ERR decrement would overflow\r\n");
  EXPECT_EQ(run({"INCRBY", "n", "x"}), "-ERR value is not an integer or out of range\r\n");
  EXPECT_EQ(run({"INCRBY", "n", "9223372036854775807"}),
            "-ERR increment or decrement would overflow\r\n");
  EXPECT_EQ(run({"INCRBYFLOAT", "n", "0.25"}), "$5\r\n50.25\r\n");
  EXPECT_EQ(run({"INCR", "n"}), "-ERR value is not an integer or out of range\r\n");
  EXPECT_EQ(run({"INCRBYFLOAT", "n", "x"}), "-ERR value is not a valid float\r\n");
  EXPECT_EQ(run({"GET", "n"}), "$5\r\n50.25\r\n");
  // A counter keeps its expiry.
  EXPECT_EQ(run({"SET", "c", "1", "EX", "100"}), "+OK\r\n");
  EXPECT_EQ(run({"INCR", "c"}), ":2\r\n");
  EXPECT_EQ(run({"TTL", "c"}), ":100\r\n");
  EXPECT_EQ(run({"APPEND", "a", "ab"}), ":2\r\n");
  EXPECT_EQ(run({"APPEND", "a", "cde"}), ":5\r\n");
  EXPECT_EQ(run({"GET", "a"}), "$5\r\nabcde\r\n");
}

TEST_F(RespCommandsTest, PipelinedGetsAndSetsCoalesceIntoOneCallEachAnsweredAlone) {
  using Commands = std::vector<std::vector<std::string>>;
  std::string out;
  // SETs on distinct keys coalesce; the run ends before a repeated key, so the
  // second write of "a" comes after the first, as sent.
  const Commands sets = {
      {"SET", "a", "1"}, {"set", "b", "2"}, {"SET", "", "x"}, {"SET", "a", "3"}, {"GET", "a"}};
  Coalesced c = run_coalesced(sets, session_, out, ctx_);
  EXPECT_EQ(c.ran, 3u);
  EXPECT_EQ(c.failed, 0b100u) << "the third command failed";
  EXPECT_EQ(out, "+OK\r\n+OK\r\n-ERR key must not be empty\r\n");
  EXPECT_EQ(run({"SET", "a", "3"}), "+OK\r\n");
  out.clear();
  const Commands gets = {{"GET", "a"}, {"get", "nope"}, {"GET", "b"}, {"SET", "c", "1"}};
  c = run_coalesced(gets, session_, out, ctx_);
  EXPECT_EQ(c.ran, 3u);
  EXPECT_EQ(out, "$1\r\n3\r\n$-1\r\n$1\r\n2\r\n");
  // A lone GET, a GET with extra arguments or another command: run alone.
  out.clear();
  EXPECT_EQ(run_coalesced(Commands{{"GET", "a"}, {"PING"}}, session_, out, ctx_).ran, 0u);
  EXPECT_EQ(run_coalesced(Commands{{"GET", "a", "x"}, {"GET", "b"}}, session_, out, ctx_).ran, 0u);
  EXPECT_EQ(
      run_coalesced(Commands{{"SET", "a", "1", "EX", "1"}, {"SET", "b", "1"}}, session_, out, ctx_)
          .ran,
      0u);
  EXPECT_TRUE(out.empty());
  // At most kMaxCoalesced per call.
  Commands many(40, std::vector<std::string>{"GET", "a"});
  EXPECT_EQ(run_coalesced(many, session_, out, ctx_).ran, kMaxCoalesced);
}

TEST_F(RespCommandsTest, WithoutUsersAuthActsAsRedisWithoutAPassword) {
  EXPECT_EQ(run({"AUTH", "pw"}).rfind("-ERR AUTH <password> called without any password", 0), 0u);
  EXPECT_EQ(run({"AUTH", "default", "anything"}), "+OK\r\n");
  EXPECT_EQ(run({"AUTH", "alice", "x"}),
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
}

TEST_F(RespCommandsTest, WithUsersEveryCommandWaitsForAuth) {
  ctx_.settings.users = {{"default", "s3cret"}, {"alice", "wonder"}};
  session_.authenticated = false;
  EXPECT_EQ(run({"GET", "k"}), "-NOAUTH Authentication required.\r\n");
  EXPECT_EQ(run({"PING"}), "-NOAUTH Authentication required.\r\n");
  EXPECT_EQ(run({"HELLO", "3"}).rfind("-NOAUTH HELLO must be called with the client already", 0),
            0u);
  EXPECT_FALSE(session_.resp3);
  EXPECT_EQ(run({"AUTH", "wrong"}),
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
  EXPECT_EQ(run({"AUTH", "alice", "s3cret"}),
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
  EXPECT_FALSE(session_.authenticated);
  EXPECT_EQ(run({"AUTH", "s3cret"}), "+OK\r\n");
  EXPECT_EQ(session_.user, "default");
  EXPECT_EQ(run({"GET", "k"}), "$-1\r\n");
  // RESET forgets the login; HELLO AUTH logs in and switches protocol at once.
  EXPECT_EQ(run({"RESET"}), "+RESET\r\n");
  EXPECT_EQ(run({"GET", "k"}), "-NOAUTH Authentication required.\r\n");
  EXPECT_EQ(run({"HELLO", "3", "AUTH", "alice", "nope"}),
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
  EXPECT_EQ(run({"HELLO", "3", "AUTH", "alice", "wonder"}).rfind("%7\r\n", 0), 0u);
  EXPECT_TRUE(session_.authenticated);
  EXPECT_EQ(session_.user, "alice");
  EXPECT_TRUE(session_.resp3);
}

TEST_F(RespCommandsTest, KeyspaceCommandsWalkEveryKey) {
  for (int i = 0; i < 30; ++i) ASSERT_EQ(run({"SET", "key:" + std::to_string(i), "v"}), "+OK\r\n");
  ASSERT_EQ(run({"SET", "other", "x"}), "+OK\r\n");
  ASSERT_EQ(run({"DEL", "key:29"}), ":1\r\n");
  EXPECT_EQ(run({"DBSIZE"}), ":30\r\n");
  auto ones = bulks_of(run({"KEYS", "key:1*"}));
  EXPECT_EQ(std::set<std::string>(ones.begin(), ones.end()),
            (std::set<std::string>{"key:1", "key:10", "key:11", "key:12", "key:13", "key:14",
                                   "key:15", "key:16", "key:17", "key:18", "key:19"}));
  EXPECT_EQ(run({"KEYS", "nothing*"}), "*0\r\n");

  // SCAN pages: a cursor in decimal, MATCH applied to each page.
  std::set<std::string> listed;
  std::string cursor = "0";
  int pages = 0;
  do {
    auto page = bulks_of(run({"SCAN", cursor, "MATCH", "key:*", "COUNT", "4"}));
    ASSERT_FALSE(page.empty());
    cursor = page[0];
    for (std::size_t i = 1; i < page.size(); ++i) {
      EXPECT_TRUE(listed.insert(page[i]).second) << page[i] << " twice";
      EXPECT_EQ(page[i].rfind("key:", 0), 0u) << page[i];
    }
    ASSERT_LT(++pages, 100);
  } while (cursor != "0");
  EXPECT_EQ(listed.size(), 29u);
  EXPECT_GE(pages, 7);
  // Every key is a string: TYPE string lists them, any other type none.
  EXPECT_EQ(bulks_of(run({"SCAN", "0", "COUNT", "1000", "TYPE", "string"})).size(), 31u);
  EXPECT_EQ(run({"SCAN", "0", "COUNT", "1000", "TYPE", "hash"}), "*2\r\n$1\r\n0\r\n*0\r\n");

  EXPECT_EQ(run({"SCAN", "x"}), "-ERR invalid cursor\r\n");
  EXPECT_EQ(run({"SCAN", "-1"}), "-ERR invalid cursor\r\n");
  EXPECT_EQ(run({"SCAN", "18446744073709551616"}), "-ERR invalid cursor\r\n");
  EXPECT_EQ(run({"SCAN", "0", "COUNT", "0"}), "-ERR syntax error\r\n");
  EXPECT_EQ(run({"SCAN", "0", "COUNT", "x"}), "-ERR value is not an integer or out of range\r\n");
  EXPECT_EQ(run({"SCAN", "0", "MATCH"}), "-ERR syntax error\r\n");
  EXPECT_EQ(run({"SCAN", "0", "LIMIT", "3"}), "-ERR syntax error\r\n");
  EXPECT_EQ(run({"KEYS"}), "-ERR wrong number of arguments for 'keys' command\r\n");

  // FLUSHALL only when the config allows it.
  EXPECT_EQ(run({"FLUSHALL"}).rfind("-ERR FLUSHALL is disabled", 0), 0u);
  EXPECT_EQ(run({"DBSIZE"}), ":30\r\n");
  ctx_.settings.allow_flushall = true;
  EXPECT_EQ(run({"FLUSHALL", "NOW"}), "-ERR syntax error\r\n");
  EXPECT_EQ(run({"FLUSHALL", "ASYNC"}), "+OK\r\n");
  EXPECT_EQ(run({"DBSIZE"}), ":0\r\n");
  EXPECT_EQ(run({"GET", "other"}), "$-1\r\n");
}

// A Table that forwards every call to an in-memory one; tests override what
// they need to hold or defer. It has no fast path (Table's default).
class ForwardingTable : public dtable::Table {
 public:
  Status set(std::string_view k, std::string_view v, const dtable::Options& o) override {
    return inner_.set(k, v, o);
  }
  Result<std::string> get(std::string_view k, const dtable::Options& o) override {
    return inner_.get(k, o);
  }
  Result<dtable::ValueWithExpiry> get_entry(std::string_view k, const dtable::Options& o) override {
    return inner_.get_entry(k, o);
  }
  Result<dtable::MutationResult> mutate(std::string_view k, const dtable::Mutation& m,
                                        const dtable::Options& o) override {
    return inner_.mutate(k, m, o);
  }
  Status del(std::string_view k, const dtable::Options& o) override { return inner_.del(k, o); }
  std::vector<Status> set_multi(const std::vector<dtable::KeyValue>& items,
                                const dtable::Options& o) override {
    return inner_.set_multi(items, o);
  }
  std::vector<Result<std::string>> get_multi(const std::vector<std::string>& keys,
                                             const dtable::Options& o) override {
    return inner_.get_multi(keys, o);
  }
  std::vector<std::string> local_keys() const override { return inner_.local_keys(); }
  Result<dtable::ScanPage> scan(std::uint64_t cursor, std::size_t count,
                                const dtable::Options& o) override {
    return inner_.scan(cursor, count, o);
  }
  std::vector<dtable::StoredCopy> stored_copies(std::string_view k) const override {
    return inner_.stored_copies(k);
  }
  int max_consistency() const override { return inner_.max_consistency(); }
  dtable::HookId add_write_hook(dtable::WriteHook h) override {
    return inner_.add_write_hook(std::move(h));
  }
  void remove_write_hook(dtable::HookId id) override { inner_.remove_write_hook(id); }

 protected:
  dtable::MemoryTable inner_;
};

// A table whose scan() waits until released: walks that stay running.
class HeldScanTable final : public ForwardingTable {
 public:
  Result<dtable::ScanPage> scan(std::uint64_t cursor, std::size_t count,
                                const dtable::Options& o) override {
    std::unique_lock lock(mu_);
    ++waiting_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return released_; });
    return inner_.scan(cursor, count, o);
  }

  // Waits until `n` scans are held.
  void wait_for(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return waiting_ >= n; });
  }
  void release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int waiting_ = 0;        // GUARDED_BY(mu_)
  bool released_ = false;  // GUARDED_BY(mu_)
};

TEST_F(RespCommandsTest, AtMostTwoWholeWalksRunAtOnce) {
  auto held = std::make_shared<HeldScanTable>();
  ctx_.table = held;
  ASSERT_EQ(run({"SET", "k", "v"}), "+OK\r\n");
  // Two walks on other connections, held inside the table.
  std::string first, second;
  auto walk = [&](std::vector<std::string> args, std::string* out) {
    Session session;
    ReplyWriter writer(*out, false);
    if (const CommandSpec* spec = admit(args, session, writer)) {
      Call call{args, session, writer, ctx_};
      run_command(*spec, call);
    }
  };
  std::thread a(walk, std::vector<std::string>{"KEYS", "*"}, &first);
  std::thread b(walk, std::vector<std::string>{"DBSIZE"}, &second);
  held->wait_for(2);
  // A third is refused at once.
  EXPECT_EQ(run({"DBSIZE"}).rfind("-TRYAGAIN 2 walks over every key", 0), 0u);
  held->release();
  a.join();
  b.join();
  EXPECT_EQ(first, "*1\r\n$1\r\nk\r\n");
  EXPECT_EQ(second, ":1\r\n");
  EXPECT_EQ(run({"DBSIZE"}), ":1\r\n") << "the slots are free again";
}

// A table with a fast path whose writes answer later (as on a node with a
// journal): set_here() keeps `done` for the test to call.
class DeferredWriteTable final : public ForwardingTable {
 public:
  bool get_entry_here(std::string_view k, const dtable::Options& o,
                      const std::function<void(Result<dtable::ValueWithExpiry>)>& done) override {
    return inner_.get_entry_here(k, o, done);
  }
  bool set_here(std::string_view k, std::string_view v, const dtable::Options& o,
                std::function<void(Status)> done) override {
    if (o.consistency != 1) return false;
    inner_.set(k, v, o);
    pending.push_back(std::move(done));
    return true;
  }
  std::vector<std::function<void(Status)>> pending;
};

// A table whose keys all live elsewhere: no fast path; get_entry_async() and
// set_async() keep `done` for the test to call.
class RemoteTable final : public ForwardingTable {
 public:
  using GetDone = std::function<void(dtable::AsyncAttempt<Result<dtable::ValueWithExpiry>>)>;
  using SetDone = std::function<void(dtable::AsyncAttempt<Status>)>;
  bool get_entry_async(std::string_view k, const dtable::Options& o, GetDone done) override {
    if (k == "unrouted") return false;
    gets.emplace_back(std::string(k), o.consistency);
    get_done.push_back(std::move(done));
    return true;
  }
  bool set_async(std::string_view k, std::string_view v, const dtable::Options& o,
                 SetDone done) override {
    sets.emplace_back(std::string(k) + "=" + std::string(v), o.consistency);
    set_done.push_back(std::move(done));
    return true;
  }
  std::vector<std::pair<std::string, int>> gets, sets;  // key (=value), consistency
  std::vector<GetDone> get_done;
  std::vector<SetDone> set_done;
};

TEST_F(RespCommandsTest, StartHereSendsWhatIsNotHereToThePrimaryWithoutWaiting) {
  std::vector<std::string>& later = later_;
  auto remote = std::make_shared<RemoteTable>();
  ctx_.table = remote;
  std::string out;
  EXPECT_EQ(start({"GET", "a"}, &out), HereStart::kLater);
  EXPECT_EQ(start({"SET", "b", "1"}, &out), HereStart::kLater);
  session_.consistency = 2;  // the primary reads or writes its replicas
  EXPECT_EQ(start({"GET", "c"}, &out), HereStart::kLater);
  EXPECT_EQ(start({"SET", "d", "2"}, &out), HereStart::kLater);
  session_.consistency = 1;
  // Not routable without a lookup, or not a plain GET or SET: elsewhere.
  EXPECT_EQ(start({"GET", "unrouted"}, &out), HereStart::kElsewhere);
  EXPECT_EQ(start({"SET", "e", "3", "NX"}, &out), HereStart::kElsewhere);
  EXPECT_EQ(out, "");
  EXPECT_TRUE(later.empty());
  // Inside a pipeline (not the batch's last command): only the fast path.
  EXPECT_EQ(start_here(
                *find_command("GET"), std::vector<std::string>{"GET", "f"}, session_, out, ctx_,
                [](LaterReply) { ADD_FAILURE(); }, /*may_send=*/false),
            HereStart::kElsewhere);
  EXPECT_EQ(remote->gets, (std::vector<std::pair<std::string, int>>{{"a", 1}, {"c", 2}}));
  EXPECT_EQ(remote->sets, (std::vector<std::pair<std::string, int>>{{"b=1", 1}, {"d=2", 2}}));

  // Answers become replies made on the I/O thread; an attempt that must go on
  // becomes a reply made on a worker, by the Table's go_on().
  ASSERT_EQ(remote->get_done.size(), 2u);
  ASSERT_EQ(remote->set_done.size(), 2u);
  remote->get_done[0]({dtable::ValueWithExpiry{"va", 0}, {}});
  remote->get_done[1]({Status::Timeout("no answer"), [] {
                         return Result<dtable::ValueWithExpiry>(dtable::ValueWithExpiry{"vc", 0});
                       }});
  remote->set_done[0]({Status::Ok(), {}});
  remote->set_done[1]({Status::ConsistencyNotMet("1 of 2 copies"), {}});
  EXPECT_EQ(later, (std::vector<std::string>{"$2\r\nva\r\n", "(blocking) $2\r\nvc\r\n", "+OK\r\n",
                                             "-NOREPLICAS 1 of 2 copies\r\n"}));
  EXPECT_EQ(stats_.keyspace_hits.load(), 2u);
}

TEST_F(RespCommandsTest, StartHereServesPlainGetsAndSetsAndNothingElse) {
  std::vector<std::string>& later = later_;
  std::string out;
  EXPECT_EQ(start({"GET", "k"}, &out), HereStart::kDone);
  EXPECT_EQ(start({"SET", "k", "v"}, &out), HereStart::kDone);
  EXPECT_EQ(start({"GET", "k"}, &out), HereStart::kDone);
  EXPECT_EQ(out, "$-1\r\n+OK\r\n$1\r\nv\r\n");
  EXPECT_EQ(stats_.keyspace_hits.load(), 1u);
  EXPECT_EQ(stats_.keyspace_misses.load(), 1u);
  // Commands that are not plain GET or SET, and any consistency above 1 on a
  // table that cannot send without waiting, go where key commands run, with
  // nothing written.
  out.clear();
  EXPECT_EQ(start({"SET", "k", "v", "NX"}, &out), HereStart::kElsewhere);
  EXPECT_EQ(start({"MGET", "k"}, &out), HereStart::kElsewhere);
  EXPECT_EQ(start({"INCR", "n"}, &out), HereStart::kElsewhere);
  session_.consistency = 2;
  EXPECT_EQ(start({"GET", "k"}, &out), HereStart::kElsewhere);
  session_.consistency = 1;
  EXPECT_EQ(out, "");
  EXPECT_TRUE(later.empty());

  // A table without a fast path: always elsewhere.
  ctx_.table = std::make_shared<HeldScanTable>();
  EXPECT_EQ(start({"GET", "k"}, &out), HereStart::kElsewhere);
  EXPECT_EQ(start({"SET", "k", "v"}, &out), HereStart::kElsewhere);

  // Writes that answer later: the reply comes through `later`, in RESP3 too.
  auto deferred = std::make_shared<DeferredWriteTable>();
  ctx_.table = deferred;
  EXPECT_EQ(start({"SET", "d", "1"}, &out), HereStart::kLater);
  session_.resp3 = true;
  EXPECT_EQ(start({"SET", "d", "2"}, &out), HereStart::kLater);
  EXPECT_EQ(out, "");
  ASSERT_EQ(deferred->pending.size(), 2u);
  deferred->pending[0](Status::Ok());
  deferred->pending[1](Status::Unavailable("the disk is full"));
  ASSERT_EQ(later.size(), 2u);
  EXPECT_EQ(later[0], "+OK\r\n");
  EXPECT_EQ(later[1], "-TRYAGAIN the disk is full\r\n");
  EXPECT_EQ(start({"GET", "d"}, &out), HereStart::kDone);
  EXPECT_EQ(out, "$1\r\n2\r\n");
}

}  // namespace
}  // namespace dendrite::resp
