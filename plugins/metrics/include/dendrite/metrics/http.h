// The service the metrics plugin publishes (name "metrics"): where its HTTP
// server listens. Tests and other plugins use it to find the bound port when
// the config asks for port 0.
#pragma once

#include <string>
#include <string_view>

namespace dendrite::metrics {

// The service name under which the endpoint is published.
inline constexpr std::string_view kServiceName = "metrics";

// Thread-safe.
class HttpEndpoint {
 public:
  virtual ~HttpEndpoint() = default;
  // The bound "ip:port" of the HTTP server while it runs (between the plugin's
  // start() and stop()), else "".
  virtual std::string address() const = 0;
};

}  // namespace dendrite::metrics
