// CURVE key files (wire/curve_keys.h): generating, writing, reading back,
// refusing what a node must not trust.
#include "dendrite/wire/curve_keys.h"

#include <sys/stat.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "support/process.h"

namespace dendrite::wire {
namespace {

using test::TempDir;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(CurveKeysTest, GeneratedPairsAreValidDistinctAndMatch) {
  ASSERT_TRUE(curve_available()) << "Debian's libzmq is built with libsodium";
  auto a = generate_curve_key_pair();
  auto b = generate_curve_key_pair();
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  EXPECT_TRUE(check_z85_key(a->public_key).ok());
  EXPECT_TRUE(check_z85_key(a->secret_key).ok());
  EXPECT_NE(a->secret_key, b->secret_key);
  EXPECT_NE(a->public_key, b->public_key);
  auto derived = public_key_of(a->secret_key);
  ASSERT_TRUE(derived.ok()) << derived.status().to_string();
  EXPECT_EQ(*derived, a->public_key);
  EXPECT_NE(*public_key_of(b->secret_key), a->public_key);
}

TEST(CurveKeysTest, MalformedKeysAreRefusedSayingWhy) {
  const Status short_key = check_z85_key("abc");
  EXPECT_EQ(short_key.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(short_key.message().find("got 3"), std::string::npos) << short_key.message();
  // 40 characters, but a space is not Z85.
  const Status bad_char = check_z85_key(std::string(39, 'a') + " ");
  EXPECT_EQ(bad_char.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad_char.message().find("Z85"), std::string::npos) << bad_char.message();
  EXPECT_FALSE(public_key_of("not a key").ok());
}

TEST(CurveKeysTest, WritesAPairWithPrivateSecretAndReadsItBack) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/keys";  // created by the write
  auto pair = generate_curve_key_pair();
  ASSERT_TRUE(pair.ok());
  ASSERT_TRUE(write_curve_key_pair(dir, *pair).ok());
  const std::string secret = dir + "/" + kSecretKeyFileName;
  const std::string pub = dir + "/" + kPublicKeyFileName;
  EXPECT_EQ(mode_of(dir), 0700u);
  EXPECT_EQ(mode_of(secret), 0600u);
  EXPECT_EQ(mode_of(pub) & 0600u, 0600u);
  auto read_secret = read_secret_key_file(secret);
  auto read_public = read_public_key_file(pub);
  ASSERT_TRUE(read_secret.ok()) << read_secret.status().to_string();
  ASSERT_TRUE(read_public.ok()) << read_public.status().to_string();
  EXPECT_EQ(*read_secret, pair->secret_key);
  EXPECT_EQ(*read_public, pair->public_key);
}

TEST(CurveKeysTest, NeverOverwritesAKey) {
  TempDir tmp;
  auto first = generate_curve_key_pair();
  auto second = generate_curve_key_pair();
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE(write_curve_key_pair(tmp.path(), *first).ok());
  const std::string secret = tmp.path() + "/" + kSecretKeyFileName;
  const std::string before = slurp(secret);
  const Status again = write_curve_key_pair(tmp.path(), *second);
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);
  EXPECT_NE(again.message().find(kSecretKeyFileName), std::string::npos) << again.message();
  EXPECT_EQ(slurp(secret), before);
  // Only the public half there: still refused, and no secret appears.
  TempDir other;
  other.write(kPublicKeyFileName, first->public_key + "\n");
  EXPECT_EQ(write_curve_key_pair(other.path(), *second).code(), StatusCode::kAlreadyExists);
  struct stat st {};
  EXPECT_NE(::stat((other.path() + "/" + kSecretKeyFileName).c_str(), &st), 0);
}

TEST(CurveKeysTest, ASecretOthersMayReadIsRefused) {
  TempDir tmp;
  auto pair = generate_curve_key_pair();
  ASSERT_TRUE(pair.ok());
  ASSERT_TRUE(write_curve_key_pair(tmp.path(), *pair).ok());
  const std::string secret = tmp.path() + "/" + kSecretKeyFileName;
  ASSERT_EQ(::chmod(secret.c_str(), 0644), 0);
  auto r = read_secret_key_file(secret);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("0644"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(secret), std::string::npos) << r.status().message();
  ASSERT_EQ(::chmod(secret.c_str(), 0640), 0);  // the owner's group only: allowed
  EXPECT_TRUE(read_secret_key_file(secret).ok());
  EXPECT_FALSE(read_secret_key_file(tmp.path()).ok());  // a directory
  EXPECT_FALSE(read_secret_key_file(tmp.path() + "/missing").ok());
}

TEST(CurveKeysTest, KeyFilesSkipCommentsAndNeedExactlyOneKey) {
  TempDir tmp;
  auto a = generate_curve_key_pair();
  auto b = generate_curve_key_pair();
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string commented =
      tmp.write("a.pub", "# my node\n\n   " + a->public_key + " \r\n# end\n");
  auto one = read_public_key_file(commented);
  ASSERT_TRUE(one.ok()) << one.status().to_string();
  EXPECT_EQ(*one, a->public_key);

  const std::string two = tmp.write("two.pub", a->public_key + "\n" + b->public_key + "\n");
  auto r = read_public_key_file(two);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("holds 2 keys"), std::string::npos) << r.status().message();

  const std::string none = tmp.write("none.pub", "# nothing here\n");
  EXPECT_FALSE(read_public_key_file(none).ok());

  const std::string garbage = tmp.write("bad.pub", "# ok\nnot-a-key\n");
  auto g = read_public_key_file(garbage);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find(garbage + ":2:"), std::string::npos) << g.status().message();
}

TEST(CurveKeysTest, AllowListsMixKeysAndFilesOnceEach) {
  TempDir tmp;
  auto a = generate_curve_key_pair();
  auto b = generate_curve_key_pair();
  auto c = generate_curve_key_pair();
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  const std::string file =
      tmp.write("clients.txt", "# clients\n" + b->public_key + "\n" + a->public_key + "\n");
  auto keys = read_key_list({a->public_key, file, c->public_key});
  ASSERT_TRUE(keys.ok()) << keys.status().to_string();
  EXPECT_EQ(*keys, (std::vector<std::string>{a->public_key, b->public_key, c->public_key}));
  EXPECT_TRUE(read_key_list({})->empty());

  auto missing = read_key_list({tmp.path() + "/nope.txt"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("neither a CURVE key"), std::string::npos)
      << missing.status().message();
  const std::string bad = tmp.write("bad.txt", a->public_key + "\nshort\n");
  auto b2 = read_key_list({bad});
  ASSERT_FALSE(b2.ok());
  EXPECT_NE(b2.status().message().find(bad + ":2:"), std::string::npos) << b2.status().message();
}

TEST(CurveKeysTest, NodeListsNameTheAddressEachKeyServes) {
  TempDir tmp;
  auto a = generate_curve_key_pair();
  auto b = generate_curve_key_pair();
  auto c = generate_curve_key_pair();
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  const std::string file =
      tmp.write("nodes.txt", "# the ring\n" + a->public_key + " 127.0.0.1:5000\n" + b->public_key +
                                 "\t 127.0.0.1:5001 \r\n" + c->public_key + "\n" + a->public_key +
                                 " 127.0.0.1:5000\n");
  // The roll of a: a new key listed for its address after the old one.
  auto nodes = read_node_key_list({file, c->public_key + " 127.0.0.1:5000"});
  ASSERT_TRUE(nodes.ok()) << nodes.status().to_string();
  ASSERT_EQ(nodes->size(), 4u);  // a's line once
  CurveIdentity id{*a, *nodes};
  EXPECT_EQ(id.server_keys_for("127.0.0.1:5000"),
            (std::vector<std::string>{a->public_key, c->public_key}));
  EXPECT_EQ(id.server_keys_for("127.0.0.1:5001"), (std::vector<std::string>{b->public_key}));
  EXPECT_TRUE(id.server_keys_for("127.0.0.1:5002").empty());

  // What follows a key must be an address; client lists and key files take none.
  const std::string bad = tmp.write("bad.txt", a->public_key + " not-an-address\n");
  auto refused = read_node_key_list({bad});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find(bad + ":1:"), std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("no host:port"), std::string::npos)
      << refused.status().message();
  auto clients = read_key_list({file});
  ASSERT_FALSE(clients.ok());
  EXPECT_NE(clients.status().message().find(file + ":2:"), std::string::npos)
      << clients.status().message();
  EXPECT_FALSE(read_key_list({a->public_key + " 127.0.0.1:5000"}).ok());
  const std::string key_with_address = tmp.write("one.key", a->public_key + " 127.0.0.1:1\n");
  EXPECT_FALSE(read_public_key_file(key_with_address).ok());
}

TEST(CurveKeysTest, APairIsReadBackOnlyWhenItsHalvesMatch) {
  TempDir tmp;
  auto a = generate_curve_key_pair();
  auto b = generate_curve_key_pair();
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(write_curve_key_pair(tmp.path() + "/a", *a).ok());
  ASSERT_TRUE(write_curve_key_pair(tmp.path() + "/b", *b).ok());
  const std::string secret = tmp.path() + "/a/secret.key";
  auto pair = read_curve_key_pair(secret, tmp.path() + "/a/public.key");
  ASSERT_TRUE(pair.ok()) << pair.status().to_string();
  EXPECT_EQ(pair->public_key, a->public_key);
  EXPECT_EQ(pair->secret_key, a->secret_key);
  auto derived = read_curve_key_pair(secret, "");
  ASSERT_TRUE(derived.ok());
  EXPECT_EQ(derived->public_key, a->public_key);
  auto mismatch = read_curve_key_pair(secret, tmp.path() + "/b/public.key");
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.status().message().find("not the public key of " + secret), std::string::npos)
      << mismatch.status().message();
}

}  // namespace
}  // namespace dendrite::wire
