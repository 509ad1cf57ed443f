// TLS for the front end's connections (OpenSSL), as a transform between the
// bytes on the socket and the RESP bytes the connection parses and writes:
// the server keeps its non-blocking socket loop and hands what it reads to
// TlsSession::receive() and what it would write to TlsSession::send(). No
// OpenSSL type or header appears here (tls.cc alone includes them).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "dendrite/status.h"
#include "settings.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX
struct ssl_st;      // OpenSSL's SSL

namespace dendrite::resp {

class TlsSession;

// What a session's BIO reads from (receive()'s input) and writes to (the
// ciphertext to send); tls.cc's BIO finds it through BIO_get_data.
struct TlsPipe {
  std::string_view in;
  std::string out;
};

// The server's certificate, key and client-certificate policy, loaded once.
// Thread-safe after load(): sessions may be made on any thread.
class TlsContext {
 public:
  // Loads `settings` (certificate chain, private key that others must not be
  // able to read, CA for client certificates). InvalidArgument naming the
  // file and OpenSSL's reason: "resp config: 'tls.cert_file' /x.pem: ...".
  static Result<std::shared_ptr<TlsContext>> load(const TlsSettings& settings);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // A server-side session for one new connection.
  std::unique_ptr<TlsSession> session();

 private:
  explicit TlsContext(ssl_ctx_st* ctx) : ctx_(ctx) {}
  ssl_ctx_st* ctx_;
};

// One connection's TLS state. Not thread-safe: the connection's I/O thread
// makes every call. Ciphertext to send collects in an internal buffer that
// take_output() empties; nothing else is buffered between calls beyond
// OpenSSL's own record state (its buffers are released while idle).
class TlsSession {
 public:
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Takes `cipher` as read from the socket (the handshake, then records) and
  // appends the plaintext it completes to `plain`. Handshake answers and
  // alerts collect for take_output(). A broken handshake or record is an
  // error (Unavailable with OpenSSL's reason); the connection should send
  // what take_output() holds (the alert) and close.
  Status receive(std::string_view cipher, std::string& plain);
  // Encrypts `plain` (after the handshake) for take_output(). Unavailable
  // when the session failed or is not yet established.
  Status send(std::string_view plain);
  // Queues the close_notify alert (once); then only take_output() is useful.
  void shut_down();
  // Whether take_output() has bytes.
  bool has_output() const { return !pipe_.out.empty(); }
  // The peer sent close_notify: no more input will come.
  bool peer_closed() const { return peer_closed_; }
  // Moves the ciphertext to send into `to` (which it replaces).
  void take_output(std::string& to);
  // The handshake completed.
  bool established() const;

 private:
  friend class TlsContext;
  explicit TlsSession(ssl_st* ssl);
  ssl_st* ssl_;
  TlsPipe pipe_;
  bool failed_ = false;
  bool peer_closed_ = false;
  bool shut_ = false;
};

}  // namespace dendrite::resp
