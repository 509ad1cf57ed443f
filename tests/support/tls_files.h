// Certificates and keys for tests of TLS servers, made with the openssl
// program (Debian package openssl, 3.0 or later) in a directory: a
// self-signed certificate for 127.0.0.1, or a CA that signs a server's and a
// client's. Header-only; the includer links dendrite_test_support (process.h).
#pragma once

#include <sys/stat.h>

#include <string>
#include <vector>

#include "support/process.h"

namespace dendrite::test {

struct TlsFiles {
  std::string cert;   // PEM, also the CA that verifies it
  std::string key;    // PEM, mode 0600
  std::string error;  // why the files could not be made ("" when they were)
};

// Makes <dir>/<name>.pem and <dir>/<name>.key (EC P-256, a day, CN `cn`,
// subjectAltName IP:127.0.0.1 when `for_server`), self-signed, or signed by
// `ca` when given.
inline TlsFiles make_certificate(const std::string& dir, const std::string& name,
                                 const std::string& cn, bool for_server,
                                 const TlsFiles* ca = nullptr) {
  TlsFiles f{dir + "/" + name + ".pem", dir + "/" + name + ".key", ""};
  std::vector<std::string> args = {"/usr/bin/openssl",
                                   "req",
                                   "-x509",
                                   "-newkey",
                                   "ec",
                                   "-pkeyopt",
                                   "ec_paramgen_curve:prime256v1",
                                   "-nodes",
                                   "-days",
                                   "1",
                                   "-subj",
                                   "/CN=" + cn,
                                   "-keyout",
                                   f.key,
                                   "-out",
                                   f.cert};
  if (for_server) {
    args.insert(args.end(), {"-addext", "subjectAltName=IP:127.0.0.1"});
  }
  if (ca != nullptr) args.insert(args.end(), {"-CA", ca->cert, "-CAkey", ca->key});
  RunResult r = run(args, dir);
  if (r.code != 0) f.error = "openssl req failed (" + std::to_string(r.code) + "): " + r.err;
  ::chmod(f.key.c_str(), 0600);
  return f;
}

// Makes <dir>/cert.pem and <dir>/cert.key: a self-signed server certificate
// for 127.0.0.1.
inline TlsFiles make_tls_files(const std::string& dir) {
  return make_certificate(dir, "cert", "127.0.0.1", true);
}

// A CA and the server and client certificates it signed.
struct TlsCaFiles {
  TlsFiles ca, server, client;
  std::string error;  // the first file's error ("" when all were made)
};

inline TlsCaFiles make_tls_ca_files(const std::string& dir) {
  TlsCaFiles out;
  out.ca = make_certificate(dir, "ca", "dendrite test CA", false);
  out.server = make_certificate(dir, "server", "127.0.0.1", true, &out.ca);
  out.client = make_certificate(dir, "client", "client", false, &out.ca);
  for (const TlsFiles* f : {&out.ca, &out.server, &out.client}) {
    if (out.error.empty()) out.error = f->error;
  }
  return out;
}

}  // namespace dendrite::test
