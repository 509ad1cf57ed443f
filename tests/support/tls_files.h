// A self-signed certificate for 127.0.0.1 and its key, made with the openssl
// program (Debian package openssl) in a directory, for tests of TLS servers.
// Header-only; the includer links dendrite_test_support (process.h).
#pragma once

#include <sys/stat.h>

#include <string>

#include "support/process.h"

namespace dendrite::test {

struct TlsFiles {
  std::string cert;   // PEM, also the CA that verifies it
  std::string key;    // PEM, mode 0600
  std::string error;  // why the files could not be made ("" when they were)
};

// Makes <dir>/cert.pem and <dir>/key.pem (EC P-256, a day, CN and
// subjectAltName 127.0.0.1).
inline TlsFiles make_tls_files(const std::string& dir) {
  TlsFiles f{dir + "/cert.pem", dir + "/key.pem", ""};
  RunResult r =
      run({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
           "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
           "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", f.key, "-out", f.cert},
          dir);
  if (r.code != 0) f.error = "openssl req failed (" + std::to_string(r.code) + "): " + r.err;
  ::chmod(f.key.c_str(), 0600);
  return f;
}

}  // namespace dendrite::test
