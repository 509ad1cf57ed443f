// The front end's TLS transform (TlsContext, TlsSession) against an OpenSSL
// client in memory, without sockets: the handshake with and without client
// certificates, plaintext both ways (one byte to many records), close_notify,
// garbage instead of a handshake, and the config files that cannot load.
#include "tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/stat.h>

#include <string>

#include <gtest/gtest.h>

#include "support/process.h"
#include "support/tls_files.h"

namespace dendrite::resp {
namespace {

using test::TlsCaFiles;
using test::TlsFiles;

// An OpenSSL client over two memory BIOs: what it sends collects in its
// write BIO, what the server sends is written into its read BIO.
class Client {
 public:
  Client(const TlsCaFiles& files, bool with_cert) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx_, files.ca.cert.c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (with_cert) {
      SSL_CTX_use_certificate_file(ctx_, files.client.cert.c_str(), SSL_FILETYPE_PEM);
      SSL_CTX_use_PrivateKey_file(ctx_, files.client.key.c_str(), SSL_FILETYPE_PEM);
    }
    ssl_ = SSL_new(ctx_);
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl_, in_, out_);
    SSL_set1_host(ssl_, "127.0.0.1");
    SSL_set_connect_state(ssl_);
  }
  ~Client() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }

  // Runs the client's side once: handshake or reads, into `plain`.
  void step(std::string& plain) {
    char buf[16384];
    while (true) {
      const int n = SSL_read(ssl_, buf, sizeof buf);
      if (n <= 0) break;
      plain.append(buf, static_cast<std::size_t>(n));
    }
  }
  void write(const std::string& plain) {
    ASSERT_EQ(SSL_write(ssl_, plain.data(), static_cast<int>(plain.size())),
              static_cast<int>(plain.size()));
  }
  // What the client sent since the last call.
  std::string sent() {
    std::string out;
    char buf[16384];
    int n;
    while ((n = BIO_read(out_, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    return out;
  }
  void deliver(const std::string& cipher) {
    if (!cipher.empty()) BIO_write(in_, cipher.data(), static_cast<int>(cipher.size()));
  }
  bool established() const { return SSL_is_init_finished(ssl_) == 1; }
  bool got_close_notify() const { return (SSL_get_shutdown(ssl_) & SSL_RECEIVED_SHUTDOWN) != 0; }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;   // owned by ssl_
  BIO* out_ = nullptr;  // owned by ssl_
};

class RespTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    files_ = test::make_tls_ca_files(dir_.path());
    ASSERT_EQ(files_.error, "");
  }

  std::shared_ptr<TlsContext> context(ClientCerts certs) {
    TlsSettings s{files_.server.cert, files_.server.key, files_.ca.cert, certs};
    auto c = TlsContext::load(s);
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    return c.ok() ? *c : nullptr;
  }

  // Moves bytes both ways until neither side has any (at most 20 rounds);
  // the server's plaintext collects in `server_plain`, the client's in
  // `client_plain`. Returns the server's first error.
  Status pump(Client& client, TlsSession& server, std::string& server_plain,
              std::string& client_plain) {
    Status first = Status::Ok();
    for (int round = 0; round < 20; ++round) {
      client.step(client_plain);
      const std::string up = client.sent();
      if (!up.empty()) {
        Status s = server.receive(up, server_plain);
        if (!s.ok() && first.ok()) first = s;
      }
      std::string down;
      server.take_output(down);
      if (up.empty() && down.empty()) break;
      client.deliver(down);
    }
    return first;
  }

  test::TempDir dir_;
  TlsCaFiles files_;
};

TEST_F(RespTlsTest, ACertifiedClientTalksBothWaysAndGetsCloseNotify) {
  auto ctx = context(ClientCerts::kRequired);
  ASSERT_NE(ctx, nullptr);
  auto server = ctx->session();
  ASSERT_NE(server, nullptr);
  Client client(files_, true);
  std::string at_server, at_client;
  ASSERT_TRUE(pump(client, *server, at_server, at_client).ok());
  ASSERT_TRUE(server->established());
  ASSERT_TRUE(client.established());

  // A few bytes, then far more than one record each way (compared without
  // printing megabytes on failure).
  const std::string big(3u << 20, 'q');
  client.write("*1\r\n$4\r\nPING\r\n");
  client.write(big);
  ASSERT_TRUE(pump(client, *server, at_server, at_client).ok());
  EXPECT_EQ(at_server.size(), 14 + big.size());
  EXPECT_TRUE(at_server == "*1\r\n$4\r\nPING\r\n" + big);
  at_client.clear();
  ASSERT_TRUE(server->send("+PONG\r\n").ok());
  ASSERT_TRUE(server->send(big).ok());
  ASSERT_TRUE(pump(client, *server, at_server, at_client).ok());
  EXPECT_EQ(at_client.size(), 7 + big.size());
  EXPECT_TRUE(at_client == "+PONG\r\n" + big);

  server->shut_down();
  EXPECT_TRUE(server->has_output());
  ASSERT_TRUE(pump(client, *server, at_server, at_client).ok());
  EXPECT_TRUE(client.got_close_notify());
  EXPECT_FALSE(server->send("after").ok());
}

TEST_F(RespTlsTest, AClientWithoutACertificateIsRefusedWhenOneIsRequired) {
  auto ctx = context(ClientCerts::kRequired);
  ASSERT_NE(ctx, nullptr);
  auto server = ctx->session();
  Client client(files_, false);
  std::string at_server, at_client;
  const Status s = pump(client, *server, at_server, at_client);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("certificate"), std::string::npos) << s.to_string();
  EXPECT_FALSE(server->send("x").ok());
  EXPECT_EQ(at_server, "");

  // Optional: the same client is served.
  auto lenient = context(ClientCerts::kOptional);
  auto session = lenient->session();
  Client again(files_, false);
  at_server.clear();
  ASSERT_TRUE(pump(again, *session, at_server, at_client).ok());
  again.write("hello");
  ASSERT_TRUE(pump(again, *session, at_server, at_client).ok());
  EXPECT_EQ(at_server, "hello");
}

TEST_F(RespTlsTest, PlaintextInsteadOfAHandshakeIsAnErrorWithAnAlert) {
  auto ctx = context(ClientCerts::kNone);
  auto server = ctx->session();
  std::string plain;
  const Status s = server->receive("*1\r\n$4\r\nPING\r\n", plain);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(plain, "");
  EXPECT_FALSE(server->receive("more", plain).ok());
  EXPECT_FALSE(server->established());
}

TEST_F(RespTlsTest, FilesThatCannotLoadNameTheKeyAndTheFile) {
  const std::string missing = dir_.path() + "/missing.pem";
  auto no_cert = TlsContext::load({missing, files_.server.key, "", ClientCerts::kNone});
  ASSERT_FALSE(no_cert.ok());
  EXPECT_EQ(no_cert.status().message().rfind("resp config: 'tls.cert_file' " + missing, 0), 0u)
      << no_cert.status().to_string();

  // Another certificate's key.
  auto wrong_key =
      TlsContext::load({files_.server.cert, files_.client.key, "", ClientCerts::kNone});
  ASSERT_FALSE(wrong_key.ok());
  EXPECT_NE(wrong_key.status().message().find("is not the key of " + files_.server.cert),
            std::string::npos)
      << wrong_key.status().to_string();

  // A key others may read.
  ASSERT_EQ(::chmod(files_.server.key.c_str(), 0644), 0);
  auto open_key = TlsContext::load({files_.server.cert, files_.server.key, "", ClientCerts::kNone});
  ASSERT_FALSE(open_key.ok());
  EXPECT_NE(open_key.status().message().find("'tls.key_file'"), std::string::npos);
  EXPECT_NE(open_key.status().message().find("others may read"), std::string::npos)
      << open_key.status().to_string();
  ASSERT_EQ(::chmod(files_.server.key.c_str(), 0600), 0);

  auto no_ca =
      TlsContext::load({files_.server.cert, files_.server.key, missing, ClientCerts::kRequired});
  ASSERT_FALSE(no_ca.ok());
  EXPECT_NE(no_ca.status().message().find("'tls.ca_file' " + missing), std::string::npos)
      << no_ca.status().to_string();
}

}  // namespace
}  // namespace dendrite::resp
