#include "tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <algorithm>

#include "dendrite/private_file.h"

namespace dendrite::resp {
namespace {

// The largest key file read (a PEM key with a long chain is a few KiB).
constexpr std::size_t kMaxKeyFileBytes = 1u << 20;
// Plaintext read from OpenSSL per SSL_read (its largest record).
constexpr int kPlainChunk = 16 << 10;
// Plaintext handed to one SSL_write (an int; OpenSSL splits it into records).
constexpr std::size_t kWriteChunk = 1u << 20;

// OpenSSL's queued errors as one line ("" when there are none); clears them.
std::string openssl_errors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(e, text, sizeof text);
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out;
}

// A BIO over the session's TlsPipe: reads take from `in` (and ask to be
// retried when it is empty), writes append to `out` and never block.
int pipe_write(BIO* b, const char* data, std::size_t size, std::size_t* written) {
  auto* pipe = static_cast<TlsPipe*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  pipe->out.append(data, size);
  *written = size;
  return 1;
}

int pipe_read(BIO* b, char* data, std::size_t size, std::size_t* read) {
  auto* pipe = static_cast<TlsPipe*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  if (pipe->in.empty()) {
    BIO_set_retry_read(b);
    *read = 0;
    return 0;
  }
  const std::size_t n = std::min(size, pipe->in.size());
  std::copy_n(pipe->in.data(), n, data);
  pipe->in.remove_prefix(n);
  *read = n;
  return 1;
}

long pipe_ctrl(BIO*, int command, long, void*) {
  return command == BIO_CTRL_FLUSH ? 1 : 0;
}

int pipe_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

// The BIO method, made once (thread-safe: a function-local static).
const BIO_METHOD* pipe_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "resp-pipe");
    BIO_meth_set_write_ex(m, pipe_write);
    BIO_meth_set_read_ex(m, pipe_read);
    BIO_meth_set_ctrl(m, pipe_ctrl);
    BIO_meth_set_create(m, pipe_create);
    return m;
  }();
  return method;
}

// OpenSSL's passphrase callback for the key file: none (a key that needs one
// fails to load instead of prompting on a terminal).
int no_passphrase(char*, int, int, void*) {
  return 0;
}

Status file_error(std::string_view key, const std::string& path, const std::string& why) {
  return Status::InvalidArgument("resp config: 'tls." + std::string(key) + "' " + path + ": " +
                                 (why.empty() ? "cannot be loaded" : why));
}

}  // namespace

Result<std::shared_ptr<TlsContext>> TlsContext::load(const TlsSettings& settings) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr)
    return Status::Internal("resp: cannot make a TLS context: " + openssl_errors());
  std::shared_ptr<TlsContext> out(new TlsContext(ctx));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Idle connections give their record buffers back.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  static constexpr unsigned char kSessionContext[] = "dendrite-resp";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);

  if (SSL_CTX_use_certificate_chain_file(ctx, settings.cert_file.c_str()) != 1) {
    return file_error("cert_file", settings.cert_file, openssl_errors());
  }
  auto key_pem = read_private_file(settings.key_file, kMaxKeyFileBytes);
  if (!key_pem.ok()) return file_error("key_file", settings.key_file, key_pem.status().message());
  BIO* key_bio = BIO_new_mem_buf(key_pem->data(), static_cast<int>(key_pem->size()));
  EVP_PKEY* key =
      key_bio ? PEM_read_bio_PrivateKey(key_bio, nullptr, no_passphrase, nullptr) : nullptr;
  BIO_free(key_bio);
  std::fill(key_pem->begin(), key_pem->end(), '\0');
  if (key == nullptr) {
    return file_error("key_file", settings.key_file,
                      "holds no PEM private key without a passphrase (" + openssl_errors() + ")");
  }
  const int used = SSL_CTX_use_PrivateKey(ctx, key);
  EVP_PKEY_free(key);
  if (used != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    return file_error("key_file", settings.key_file,
                      "is not the key of " + settings.cert_file + " (" + openssl_errors() + ")");
  }

  int verify = SSL_VERIFY_NONE;
  if (!settings.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, settings.ca_file.c_str(), nullptr) != 1) {
      return file_error("ca_file", settings.ca_file, openssl_errors());
    }
    // The CA names sent to clients, so that they pick a matching certificate.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(settings.ca_file.c_str())) {
      SSL_CTX_set_client_CA_list(ctx, names);
    }
    ERR_clear_error();
    if (settings.client_certs == ClientCerts::kRequired) {
      verify = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    } else if (settings.client_certs == ClientCerts::kOptional) {
      verify = SSL_VERIFY_PEER;
    }
  }
  SSL_CTX_set_verify(ctx, verify, nullptr);
  return out;
}

TlsContext::~TlsContext() {
  SSL_CTX_free(ctx_);
}

std::unique_ptr<TlsSession> TlsContext::session() {
  SSL* ssl = SSL_new(ctx_);
  if (ssl == nullptr) return nullptr;
  return std::unique_ptr<TlsSession>(new TlsSession(ssl));
}

TlsSession::TlsSession(ssl_st* ssl) : ssl_(ssl) {
  BIO* bio = BIO_new(pipe_method());
  if (bio == nullptr) {
    failed_ = true;  // out of memory: receive() refuses the connection
    return;
  }
  BIO_set_data(bio, &pipe_);
  SSL_set_bio(ssl_, bio, bio);  // one reference, owned by the SSL from here
  SSL_set_accept_state(ssl_);
}

TlsSession::~TlsSession() {
  SSL_free(ssl_);
}

Status TlsSession::receive(std::string_view cipher, std::string& plain) {
  if (failed_) return Status::Unavailable("TLS session failed before");
  ERR_clear_error();
  pipe_.in = cipher;
  char chunk[kPlainChunk];
  Status result = Status::Ok();
  while (true) {
    const int n = SSL_read(ssl_, chunk, sizeof chunk);
    if (n > 0) {
      plain.append(chunk, static_cast<std::size_t>(n));
      continue;
    }
    const int error = SSL_get_error(ssl_, n);
    if (error == SSL_ERROR_WANT_READ) break;  // every byte given is taken
    if (error == SSL_ERROR_ZERO_RETURN) {
      peer_closed_ = true;
      break;
    }
    failed_ = true;
    const std::string why = openssl_errors();
    result = Status::Unavailable("TLS: " + (why.empty() ? "the peer broke the session" : why));
    break;
  }
  pipe_.in = {};
  return result;
}

Status TlsSession::send(std::string_view plain) {
  if (failed_ || shut_) return Status::Unavailable("TLS session is closed");
  if (!established()) return Status::Unavailable("TLS handshake not finished");
  ERR_clear_error();
  while (!plain.empty()) {
    const std::size_t n = std::min(plain.size(), kWriteChunk);
    if (SSL_write(ssl_, plain.data(), static_cast<int>(n)) <= 0) {
      failed_ = true;
      return Status::Unavailable("TLS: " + openssl_errors());
    }
    plain.remove_prefix(n);
  }
  return Status::Ok();
}

void TlsSession::shut_down() {
  if (shut_) return;
  shut_ = true;
  if (failed_ || !established()) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

void TlsSession::take_output(std::string& to) {
  to.clear();
  to.swap(pipe_.out);
}

bool TlsSession::established() const {
  return SSL_is_init_finished(ssl_) == 1;
}

}  // namespace dendrite::resp
