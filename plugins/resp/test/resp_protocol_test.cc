// The RESP wire format without sockets: the request parser (multibulk,
// inline, partial input, every protocol error), the reply writer in RESP2 and
// RESP3, glob patterns and the plugin's config.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "glob.h"
#include "reply_writer.h"
#include "request_parser.h"
#include "settings.h"

namespace dendrite::resp {
namespace {

using Kind = Parsed::Kind;
using Args = std::vector<std::string>;

Parsed parse(std::string_view in, ParserLimits limits = {}) {
  return parse_request(in, limits);
}

TEST(RespParserTest, MultibulkCommandsAreSplitAndConsumedExactly) {
  const std::string in = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nv\r\nxy\r\n*1\r\n$4\r\nPING\r\n";
  Parsed p = parse(in);
  ASSERT_EQ(p.kind, Kind::kCommand);
  EXPECT_EQ(p.args, (Args{"SET", "k", std::string("v\r\nxy")}));
  Parsed q = parse(std::string_view(in).substr(p.consumed));
  ASSERT_EQ(q.kind, Kind::kCommand);
  EXPECT_EQ(q.args, Args{"PING"});
  EXPECT_EQ(p.consumed + q.consumed, in.size());
}

TEST(RespParserTest, BinaryAndEmptyArgumentsSurvive) {
  const std::string value("a\0b\xff", 4);
  const std::string in = "*3\r\n$3\r\nSET\r\n$0\r\n\r\n$4\r\n" + value + "\r\n";
  Parsed p = parse(in);
  ASSERT_EQ(p.kind, Kind::kCommand);
  EXPECT_EQ(p.args, (Args{"SET", "", value}));
}

TEST(RespParserTest, EveryPrefixOfACommandAsksForMore) {
  const std::string in = "*2\r\n$4\r\nECHO\r\n$11\r\nhello world\r\n";
  for (std::size_t n = 0; n < in.size(); ++n) {
    EXPECT_EQ(parse(in.substr(0, n)).kind, Kind::kNeedMore) << "prefix of " << n;
  }
  EXPECT_EQ(parse(in).kind, Kind::kCommand);
}

TEST(RespParserTest, ProgressResumesWhereTheLastCallStopped) {
  std::string in = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*1\r\n$4\r\nPING\r\n";
  ParseProgress progress;
  std::string arrived;
  std::vector<Args> got;
  // Byte by byte, as a slow client sends: the same commands as in one piece.
  for (char ch : in) {
    arrived.push_back(ch);
    while (true) {
      Parsed p = parse_request(arrived, {}, &progress);
      if (p.kind != Kind::kCommand) break;
      got.push_back(p.args);
      arrived.erase(0, p.consumed);
      EXPECT_EQ(progress.count, 0);
    }
  }
  EXPECT_EQ(got, (std::vector<Args>{{"SET", "k", "hello"}, {"PING"}}));
  EXPECT_TRUE(arrived.empty());
  // A command of 100,000 empty arguments arriving in 1 KiB pieces reads each
  // header once: the progress holds what was read.
  std::string big = "*100000\r\n";
  for (int i = 0; i < 100000; ++i) big += "$0\r\n\r\n";
  ParseProgress slow;
  std::size_t calls = 0;
  Parsed last;
  for (std::size_t n = 1024; n < big.size() + 1024; n += 1024) {
    last = parse_request(std::string_view(big).substr(0, std::min(n, big.size())), {}, &slow);
    ++calls;
    if (last.kind != Kind::kNeedMore) break;
    EXPECT_EQ(slow.spans.size(), (std::min(n, big.size()) - 10) / 6) << n;
  }
  ASSERT_EQ(last.kind, Kind::kCommand);
  EXPECT_EQ(last.args.size(), 100000u);
  EXPECT_EQ(last.consumed, big.size());
  EXPECT_EQ(slow.count, 0);
}

TEST(RespParserTest, EmptyMultibulkIsSkipped) {
  for (std::string in : {"*0\r\n", "*-1\r\n"}) {
    Parsed p = parse(in);
    EXPECT_EQ(p.kind, Kind::kCommand) << in;
    EXPECT_TRUE(p.args.empty());
    EXPECT_EQ(p.consumed, in.size());
  }
}

TEST(RespParserTest, MalformedHeadersAreProtocolErrors) {
  struct Case {
    std::string in, error;
  };
  const Case cases[] = {
      {"*x\r\n", "Protocol error: invalid multibulk length"},
      {"*99999999999\r\n", "Protocol error: invalid multibulk length"},
      {"*1\r\n+PING\r\n", "Protocol error: expected '$', got '+'"},
      {"*1\r\n$-3\r\n", "Protocol error: invalid bulk length"},
      {"*1\r\n$1x\r\n", "Protocol error: invalid bulk length"},
      {"*1\r\n$2\r\nabcd\r\n", "Protocol error: bulk string not terminated by CRLF"},
      {"*1\nx\r\n", "Protocol error: invalid multibulk length"},
  };
  for (const Case& c : cases) {
    Parsed p = parse(c.in);
    EXPECT_EQ(p.kind, Kind::kError) << c.in;
    EXPECT_EQ(p.error, c.error) << c.in;
  }
}

TEST(RespParserTest, LimitsRefuseBeforeTheBytesArrive) {
  ParserLimits limits;
  limits.max_bulk_bytes = 1024;
  limits.max_args = 4;
  // A bulk of 2^40 bytes is refused on its header alone.
  Parsed huge = parse("*2\r\n$3\r\nGET\r\n$1099511627776\r\n", limits);
  EXPECT_EQ(huge.kind, Kind::kError);
  EXPECT_EQ(huge.error, "Protocol error: invalid bulk length");
  EXPECT_EQ(parse("*1\r\n$1025\r\n", limits).kind, Kind::kError);
  EXPECT_EQ(parse("*1\r\n$1024\r\n", limits).kind, Kind::kNeedMore);
  EXPECT_EQ(parse("*5\r\n", limits).kind, Kind::kError);
  // A header line that never ends.
  EXPECT_EQ(parse("*" + std::string(70000, '1'), limits).kind, Kind::kError);
}

TEST(RespParserTest, InlineCommandsSplitLikeRedis) {
  Parsed p = parse("SET k \"a b\\x41\\n\" 'it\\'s'\r\nrest");
  ASSERT_EQ(p.kind, Kind::kCommand);
  EXPECT_EQ(p.args, (Args{"SET", "k", "a bA\n", "it's"}));
  EXPECT_EQ(p.consumed, std::string("SET k \"a b\\x41\\n\" 'it\\'s'\r\n").size());
  EXPECT_EQ(parse("PING\n").args, Args{"PING"});
  Parsed empty = parse("\r\n");
  EXPECT_EQ(empty.kind, Kind::kCommand);
  EXPECT_TRUE(empty.args.empty());
  EXPECT_EQ(parse("PING").kind, Kind::kNeedMore);
}

TEST(RespParserTest, InlineErrors) {
  EXPECT_EQ(parse("SET \"open\r\n").error, "Protocol error: unbalanced quotes in request");
  EXPECT_EQ(parse("SET \"a\"b\r\n").error, "Protocol error: unbalanced quotes in request");
  ParserLimits limits;
  limits.max_inline_bytes = 16;
  EXPECT_EQ(parse(std::string(17, 'a'), limits).error, "Protocol error: too big inline request");
  EXPECT_EQ(parse(std::string(20, 'a') + "\n", limits).error,
            "Protocol error: too big inline request");
}

TEST(RespWriterTest, Resp2Encodings) {
  std::string out;
  ReplyWriter w(out, false);
  w.simple("OK");
  w.error("ERR bad\r\nthing");
  w.integer(-7);
  w.bulk("hi");
  w.null();
  w.null_array();
  w.map(1);
  w.set(2);
  w.real(1.5);
  EXPECT_EQ(out,
            "+OK\r\n-ERR bad  thing\r\n:-7\r\n$2\r\nhi\r\n$-1\r\n*-1\r\n*2\r\n*2\r\n$3\r\n1.5\r\n");
}

TEST(RespWriterTest, Resp3Encodings) {
  std::string out;
  ReplyWriter w(out, true);
  w.null();
  w.null_array();
  w.map(2);
  w.set(1);
  w.real(-0.25);
  w.verbatim("a:1");
  EXPECT_EQ(out, "_\r\n_\r\n%2\r\n~1\r\n,-0.25\r\n=7\r\ntxt:a:1\r\n");
}

TEST(RespWriterTest, RealsPrintLikeIncrByFloat) {
  EXPECT_EQ(format_real(3.0L), "3");
  EXPECT_EQ(format_real(10.5L), "10.5");
  EXPECT_EQ(format_real(-0.0L), "0");
  EXPECT_EQ(format_real(1e20L), "100000000000000000000");
  EXPECT_EQ(format_real(1.0L / 0.0L), "inf");
}

TEST(RespGlobTest, PatternsMatchLikeRedis) {
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("user:*", "user:42"));
  EXPECT_FALSE(glob_match("user:*", "use"));
  EXPECT_TRUE(glob_match("h?llo", "hello"));
  EXPECT_TRUE(glob_match("h[ae]llo", "hallo"));
  EXPECT_FALSE(glob_match("h[^e]llo", "hello"));
  EXPECT_TRUE(glob_match("h[a-c]llo", "hbllo"));
  EXPECT_TRUE(glob_match("a\\*b", "a*b"));
  EXPECT_FALSE(glob_match("a\\*b", "axb"));
  EXPECT_TRUE(glob_match("*a*b*c*", "xxaxxbxxcxx"));
  EXPECT_FALSE(glob_match("*a*b*c*", "xxaxxcxxbxx"));
  EXPECT_TRUE(glob_match("MAX*", "maxclients", true));
  EXPECT_FALSE(glob_match("MAX*", "maxclients", false));
  // A pathological pattern stays linear enough to finish at once.
  EXPECT_FALSE(glob_match(std::string(64, '*') + "b", std::string(10000, 'a')));
}

TEST(RespSettingsTest, DefaultsAndOverrides) {
  auto d = parse_settings("{}");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->host, "127.0.0.1");
  EXPECT_EQ(d->port, 6380);
  auto s = parse_settings(R"({"listen": "0.0.0.0:7000", "consistency": 2, "workers": 4,
                              "allow_flushall": true})");
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->host, "0.0.0.0");
  EXPECT_EQ(s->port, 7000);
  EXPECT_EQ(s->consistency, 2);
  EXPECT_EQ(s->workers, 4);
  EXPECT_TRUE(s->allow_flushall);
}

TEST(RespSettingsTest, ErrorsNameTheKey) {
  EXPECT_EQ(parse_settings(R"({"lisen": "x"})").status().message(),
            "resp config: unknown key 'lisen' (did you mean 'listen'?)");
  EXPECT_EQ(parse_settings(R"({"workers": 0})").status().message(),
            "resp config: 'workers' must be an integer from 1 to 1024");
  EXPECT_EQ(parse_settings(R"({"listen": "nohost"})").status().message(),
            "resp config: 'listen' must be host:port with a port from 0 to 65535");
  EXPECT_EQ(parse_settings(R"({"allow_flushall": 1})").status().message(),
            "resp config: 'allow_flushall' must be true or false");
  EXPECT_EQ(parse_settings("[1]").status().message(), "resp config: must be a JSON object");
}

TEST(RespSettingsTest, UsersComeFromTheConfigOrPrivateFiles) {
  char dir_template[] = "/tmp/resp-settings-XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  const std::string good = dir + "/good.pass", open = dir + "/open.pass";
  std::ofstream(good) << "from-file\n";
  std::ofstream(open) << "x\n";
  chmod(good.c_str(), 0600);
  chmod(open.c_str(), 0644);
  auto s = parse_settings(R"({"users": [{"name": "default", "password": "pw"},
                                        {"name": "app", "password_file": ")" +
                          good + R"("}]})");
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_EQ(s->users.size(), 2u);
  EXPECT_EQ(s->users[1].password, "from-file");
  EXPECT_NE(find_user(*s, "app", "from-file"), nullptr);
  EXPECT_EQ(find_user(*s, "app", "from-fil"), nullptr);
  EXPECT_EQ(find_user(*s, "app", "pw"), nullptr);
  EXPECT_EQ(find_user(*s, "nobody", "pw"), nullptr);
  EXPECT_NE(parse_settings(R"({"users": [{"name": "a", "password_file": ")" + open + R"("}]})")
                .status()
                .message()
                .find("others may read or change it"),
            std::string::npos);
  EXPECT_EQ(parse_settings(R"({"users": [{"name": "a"}]})").status().message(),
            "resp config: 'users[0]' needs exactly one of password and password_file");
  EXPECT_EQ(parse_settings(R"({"users": [{"name": "a", "pasword": "x"}]})").status().message(),
            "resp config: unknown key 'users[0].pasword' (did you mean 'users[0].password'?)");
  EXPECT_EQ(parse_settings(R"({"users": [{"name": "a", "password": "x"},
                                         {"name": "a", "password": "y"}]})")
                .status()
                .message(),
            "resp config: 'users[1].name' 'a' is listed twice");
  std::filesystem::remove_all(dir);
}

TEST(RespSettingsTest, TlsNeedsItsFilesAndACaForClientCertificates) {
  auto s = parse_settings(R"({"tls": {"cert_file": "c.pem", "key_file": "k.pem"}})");
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  ASSERT_TRUE(s->tls.has_value());
  EXPECT_EQ(s->tls->cert_file, "c.pem");
  EXPECT_EQ(s->tls->client_certs, ClientCerts::kNone);
  s = parse_settings(R"({"tls": {"cert_file": "c", "key_file": "k", "ca_file": "ca"}})");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->tls->client_certs, ClientCerts::kRequired);  // with a CA: required
  s = parse_settings(
      R"({"tls": {"cert_file": "c", "key_file": "k", "ca_file": "ca", "client_certs": "optional"}})");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->tls->client_certs, ClientCerts::kOptional);
  EXPECT_FALSE(parse_settings("{}")->tls.has_value());

  EXPECT_EQ(parse_settings(R"({"tls": {"key_file": "k"}})").status().message(),
            "resp config: 'tls.cert_file' is required");
  EXPECT_EQ(parse_settings(R"({"tls": {"cert_file": "c", "key_file": "k", "cafile": "x"}})")
                .status()
                .message(),
            "resp config: unknown key 'tls.cafile' (did you mean 'tls.ca_file'?)");
  EXPECT_EQ(
      parse_settings(R"({"tls": {"cert_file": "c", "key_file": "k", "client_certs": "required"}})")
          .status()
          .message(),
      "resp config: 'tls.client_certs' 'required' needs a ca_file");
  EXPECT_EQ(parse_settings(R"({"tls": {"cert_file": "c", "key_file": "k", "ca_file": "ca",
                                       "client_certs": "yes"}})")
                .status()
                .message(),
            "resp config: 'tls.client_certs' must be \"required\", \"optional\" or \"none\"");
  EXPECT_EQ(parse_settings(R"({"tls": true})").status().message(),
            "resp config: 'tls' must be an object");
}

TEST(RespSettingsTest, ProtectedModeRefusesOnlyRemoteClientsOfAnOpenNonLoopbackListener) {
  Settings s;
  s.host = "0.0.0.0";
  EXPECT_TRUE(refused_by_protected_mode(s, "10.1.2.3"));
  EXPECT_FALSE(refused_by_protected_mode(s, "127.0.0.1"));
  EXPECT_FALSE(refused_by_protected_mode(s, "::1"));
  s.users = {{"default", "pw"}};
  EXPECT_FALSE(refused_by_protected_mode(s, "10.1.2.3"));
  s.users.clear();
  s.protected_mode = false;
  EXPECT_FALSE(refused_by_protected_mode(s, "10.1.2.3"));
  s.protected_mode = true;
  // TLS that requires client certificates authenticates clients; without
  // required certificates it does not.
  s.tls = TlsSettings{"c", "k", "ca", ClientCerts::kRequired};
  EXPECT_FALSE(refused_by_protected_mode(s, "10.1.2.3"));
  s.tls->client_certs = ClientCerts::kOptional;
  EXPECT_TRUE(refused_by_protected_mode(s, "10.1.2.3"));
  s.tls.reset();
  s.host = "127.0.0.1";
  EXPECT_FALSE(refused_by_protected_mode(s, "10.1.2.3"));
}

}  // namespace
}  // namespace dendrite::resp
