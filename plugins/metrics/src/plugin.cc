// The metrics plugin: an HTTP server (cpp-httplib, on threads of its own) with
//   GET /metrics    the node's registry in the Prometheus text format
//   GET /ring       this node's vnodes as JSON (?walk=1 adds the whole ring)
//   GET /ring.svg   the ring drawn as SVG (?walk=1: the walked ring)
//   GET /           a page that shows ring.svg and refreshes it
// and message type 0x60, which tells other nodes' metrics plugins the key
// counts of this node's vnodes for their drawings. It knows the host only
// through the SDK, and dtable only by one metric name.
#include <atomic>
#include <cctype>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include <sys/socket.h>

#include <httplib.h>

#include "dendrite/dendrite.h"
#include "dendrite/metrics/http.h"
#include "dendrite/private_file.h"
#include "exposition.h"
#include "metrics.pb.h"
#include "ring_view.h"
#include "settings.h"

namespace dendrite::metrics {
namespace {

using nlohmann::json;

constexpr int kPageRefreshMs = 3000;
constexpr std::size_t kMaxRequestBytes = 64 << 10;
constexpr std::size_t kMaxTokenBytes = 4096;
constexpr std::size_t kMaxTlsFileBytes = 1 << 20;

std::string trimmed(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// True when `header` is "Bearer <token>"; compares in time independent of
// where the first difference is.
bool bearer_matches(const std::string& header, const std::string& token) {
  constexpr std::string_view kScheme = "Bearer ";
  if (header.size() != kScheme.size() + token.size() || header.rfind(kScheme, 0) != 0) {
    return false;
  }
  unsigned char diff = 0;
  for (std::size_t i = 0; i < token.size(); ++i) {
    diff |= static_cast<unsigned char>(header[kScheme.size() + i] ^ token[i]);
  }
  return diff == 0;
}

class Endpoint final : public HttpEndpoint {
 public:
  std::string address() const override {
    std::lock_guard lock(mu_);
    return address_;
  }
  void set(std::string address) {
    std::lock_guard lock(mu_);
    address_ = std::move(address);
  }

 private:
  mutable std::mutex mu_;
  std::string address_;  // GUARDED_BY(mu_)
};

// Fails the request with 400 when its query has a key outside `allowed` or a
// value of `walk` other than 0/1/true/false; else reads `walk`.
bool read_query(const httplib::Request& req, httplib::Response& res,
                const std::set<std::string>& allowed, bool& walk) {
  walk = false;
  for (const auto& [key, value] : req.params) {
    if (!allowed.contains(key)) {
      res.status = 400;
      res.set_content("bad query: unknown parameter '" + key + "'\n", "text/plain");
      return false;
    }
    if (key == "walk") {
      if (value == "1" || value == "true") {
        walk = true;
      } else if (value != "0" && value != "false") {
        res.status = 400;
        res.set_content("bad query: walk must be 0 or 1\n", "text/plain");
        return false;
      }
    }
  }
  return true;
}

class MetricsPlugin final : public Plugin, public TransportHook {
 public:
  ~MetricsPlugin() override { stop(); }

  Status init(const std::string& config_json, PluginContext& context) override {
    auto settings = parse_settings(config_json);
    if (!settings.ok()) return settings.status();
    settings_ = *settings;
    if (!settings_.bearer_token_file.empty()) {
      auto token = read_private_file(settings_.bearer_token_file, kMaxTokenBytes);
      if (!token.ok()) {
        return Status::InvalidArgument("config key 'bearer_token_file': " +
                                       token.status().message());
      }
      token_ = trimmed(*token);
      if (token_.empty() || token_.find_first_of(" \t\r\n") != std::string::npos) {
        return Status::InvalidArgument(
            "config key 'bearer_token_file': " + settings_.bearer_token_file +
            " must hold one token (one line without blanks)");
      }
    }
    if (!settings_.tls_key_file.empty()) {
      // The server reads the files itself; the key must be private.
      if (auto key = read_private_file(settings_.tls_key_file, kMaxTlsFileBytes); !key.ok()) {
        return Status::InvalidArgument("config key 'tls': " + key.status().message());
      }
    }
    host_ = &context.host;
    log_ = &context.logger;
    endpoint_ = std::make_shared<Endpoint>();
    return host_->publish_service(std::string(kServiceName),
                                  std::static_pointer_cast<HttpEndpoint>(endpoint_));
  }

  Status start() override {
    std::unique_ptr<httplib::Server> server;
    if (settings_.tls_cert_file.empty()) {
      server = std::make_unique<httplib::Server>();
    } else {
      auto tls = std::make_unique<httplib::SSLServer>(settings_.tls_cert_file.c_str(),
                                                      settings_.tls_key_file.c_str());
      if (!tls->is_valid()) {
        return Status::InvalidArgument("config key 'tls': cannot load the certificate " +
                                       settings_.tls_cert_file + " with the key " +
                                       settings_.tls_key_file +
                                       " (PEM files, the key matching the certificate)");
      }
      server = std::move(tls);
    }
    if (!token_.empty()) {
      // Every path asks for the token, as Prometheus's "authorization"
      // (type Bearer) sends it.
      server->set_pre_routing_handler(
          [token = token_](const httplib::Request& req, httplib::Response& res) {
            if (bearer_matches(req.get_header_value("Authorization"), token)) {
              return httplib::Server::HandlerResponse::Unhandled;
            }
            res.status = 401;
            res.set_header("WWW-Authenticate", "Bearer realm=\"dendrite\"");
            res.set_content("a bearer token is required\n", "text/plain");
            return httplib::Server::HandlerResponse::Handled;
          });
    }
    const int threads = settings_.threads;
    server->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(settings_.timeout);
    const auto usecs =
        std::chrono::duration_cast<std::chrono::microseconds>(settings_.timeout - secs);
    server->set_read_timeout(secs.count(), usecs.count());
    server->set_write_timeout(secs.count(), usecs.count());
    server->set_keep_alive_timeout(std::max<time_t>(1, secs.count()));
    server->set_keep_alive_max_count(100);
    server->set_payload_max_length(kMaxRequestBytes);
    // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, which would let a
    // second server bind a port in use instead of failing.
    server->set_socket_options([](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    routes(*server);

    int port = settings_.port;
    if (port == 0) {
      port = server->bind_to_any_port(settings_.host);
      if (port < 0) port = 0;
    } else if (!server->bind_to_port(settings_.host, port)) {
      port = 0;
    }
    const std::string listen = settings_.host + ":" + std::to_string(settings_.port);
    if (port <= 0) return Status::Unavailable("cannot listen on " + listen);
    httplib::Server* raw = server.get();
    thread_ = std::thread([raw] { raw->listen_after_bind(); });
    // stop() is only heard once the accept loop runs: wait for it (bounded).
    for (int i = 0; i < 5000 && !raw->is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    server_ = std::move(server);
    if (!raw->is_running()) {
      stop();
      return Status::Internal("the HTTP server on " + listen + " did not start");
    }
    const std::string host =
        settings_.host.find(':') != std::string::npos ? "[" + settings_.host + "]" : settings_.host;
    endpoint_->set(host + ":" + std::to_string(port));
    log_->info("serving /metrics, /ring and / on " +
               std::string(settings_.tls_cert_file.empty() ? "http" : "https") + "://" +
               endpoint_->address() + "/" + (token_.empty() ? "" : " (bearer token required)"));
    return Status::Ok();
  }

  void stop() override {
    if (server_) {
      server_->stop();
      if (thread_.joinable()) thread_.join();  // also waits for the handler threads
      server_.reset();
    }
    if (endpoint_) endpoint_->set("");
  }

  std::string version() const override { return DENDRITE_VERSION; }
  TransportHook* transport_hook() override { return this; }

  // ---- TransportHook: key counts for other nodes' ring drawings ----

  std::vector<MessageType> message_types() const override { return {kVnodeKeys}; }
  std::string type_name(MessageType) const override { return "metrics.vnode_keys"; }
  Result<Message> handle(const Message& request) override {
    auto req = unpack<dendrite_metrics::PBMetricsVnodeKeysRequest>(request, kVnodeKeys);
    if (!req.ok()) return req.status();
    const auto keys = keys_by_vnode(host_->metrics().snapshot());
    dendrite_metrics::PBMetricsVnodeKeysReply reply;
    for (const Vnode& v : host_->local_vnodes()) {
      auto k = keys.find(v.id.hex());
      if (k == keys.end()) continue;
      auto* e = reply.add_entries();
      e->set_vnode(v.id.raw());
      e->set_keys(static_cast<std::uint64_t>(k->second));
    }
    return pack(kVnodeKeysReply, reply);
  }

 private:
  void routes(httplib::Server& server) {
    server.Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
      bool walk;
      if (!read_query(req, res, {}, walk)) return;
      std::vector<MetricFamily> snapshot = host_->metrics().snapshot();
      log_new_errors();
      res.set_content(render_exposition(snapshot), kExpositionContentType);
    });
    server.Get("/ring", [this](const httplib::Request& req, httplib::Response& res) {
      bool walk;
      if (!read_query(req, res, {"walk"}, walk)) return;
      json doc = local_view(*host_, keys_by_vnode(host_->metrics().snapshot()));
      if (walk) {
        auto ring = walk_ring(*host_, walk_timeout());
        if (ring.ok()) {
          doc["ring"] = walk_json(*ring);
        } else {
          doc["ring"] = nullptr;
          doc["ring_error"] = ring.status().to_string();
        }
      }
      res.set_content(doc.dump(2) + "\n", "application/json");
    });
    server.Get("/ring.svg", [this](const httplib::Request& req, httplib::Response& res) {
      bool walk;
      if (!read_query(req, res, {"walk"}, walk)) return;
      res.set_content(render_svg(ring_entries(walk), host_->address()), "image/svg+xml");
    });
    server.Get("/", [this](const httplib::Request& req, httplib::Response& res) {
      bool walk;
      if (!read_query(req, res, {}, walk)) return;
      const std::string svg = render_svg(ring_entries(true), host_->address());
      res.set_content(render_page(svg, host_->address(), kPageRefreshMs),
                      "text/html; charset=utf-8");
    });
    server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (res.body.empty()) {
        res.set_content(res.status == 404 ? "not found\n" : "error\n", "text/plain");
      }
    });
    server.set_exception_handler(
        [this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
          std::string what = "unknown exception";
          try {
            std::rethrow_exception(ep);
          } catch (const std::exception& e) {
            what = e.what();
          } catch (...) {
          }
          log_->error("HTTP " + req.path + ": " + what);
          res.status = 500;
          res.set_content("internal error\n", "text/plain");
        });
  }

  // The walked ring, or (when the walk fails, or without `walk`) this node's
  // vnodes with their first successors as far as this node knows them.
  std::vector<RingEntry> ring_entries(bool walk) {
    if (walk) {
      auto ring = walk_ring(*host_, walk_timeout());
      if (ring.ok()) return std::move(ring).value();
    }
    const auto keys = keys_by_vnode(host_->metrics().snapshot());
    std::vector<RingEntry> out;
    for (const Vnode& v : host_->local_vnodes()) {
      auto k = keys.find(v.id.hex());
      out.push_back(
          RingEntry{v, k == keys.end() ? std::nullopt : std::optional<double>(k->second)});
    }
    std::sort(out.begin(), out.end(),
              [](const RingEntry& a, const RingEntry& b) { return a.vnode.id < b.vnode.id; });
    return out;
  }

  // Each request of a walk waits at most this long.
  Milliseconds walk_timeout() const {
    return std::min<Milliseconds>(host_->default_timeout(), Milliseconds(2000));
  }

  void log_new_errors() {
    const std::vector<std::string> errors = host_->metrics().errors();
    const std::size_t seen = errors_logged_.exchange(errors.size());
    for (std::size_t i = seen; i < errors.size(); ++i) log_->warn("metrics: " + errors[i]);
  }

  Settings settings_;
  std::string token_;  // the bearer token asked of every request; "" = none
  Host* host_ = nullptr;
  Logger* log_ = nullptr;
  std::shared_ptr<Endpoint> endpoint_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<std::size_t> errors_logged_{0};
};

// The descriptor: the one type message_types() claims; no requirements (it
// works with or without dtable).
constexpr MessageType kClaimedTypes[] = {kVnodeKeys};

}  // namespace
}  // namespace dendrite::metrics

DENDRITE_PLUGIN_DESCRIBED(dendrite::metrics::MetricsPlugin,
                          dendrite::PluginDescriptor{.name = "metrics", .version = DENDRITE_VERSION}
                              .with_types(dendrite::metrics::kClaimedTypes))
