// The host's implementation of the SDK's Host interface, over the ring, the
// network and the service registry.
#pragma once

#include <atomic>

#include "dendrite/host.h"
#include "dendrite/service_registry.h"
#include "host/membership.h"
#include "host/network.h"
#include "host/ring.h"

namespace dendrite::host {

// Thread-safe (every method). The ring, network and registry must outlive it.
class HostServices final : public Host {
 public:
  HostServices(Ring& ring, Network& net, const Membership& membership, ServiceRegistry& services,
               MetricsRegistry& metrics, int replicas, Milliseconds timeout)
      : ring_(ring),
        net_(net),
        membership_(membership),
        services_(services),
        metrics_(metrics),
        replicas_(replicas),
        timeout_(timeout) {}

  std::string address() const override { return net_.address(); }
  int replicas() const override { return replicas_; }
  Milliseconds default_timeout() const override { return timeout_; }
  bool leaving() const override { return leaving_.load(); }
  // Called by the node before it stops the plugins.
  void set_leaving(bool leaving) { leaving_.store(leaving); }
  std::vector<Vnode> local_vnodes() const override { return ring_.local_vnodes(); }
  std::optional<Vnode> predecessor(const Id& vnode) const override;
  std::vector<Vnode> successors(const Id& vnode) const override;
  std::vector<Vnode> fingers(const Id& vnode) const override;
  std::vector<Vnode> remote_successors(const Id& vnode) const override;
  std::vector<Member> members() const override { return membership_.members(ring_.local_vnodes()); }
  PeerDialect peer_dialect(const std::string& host) const override { return net_.dialect(host); }
  Result<std::vector<Vnode>> lookup(std::size_t n, const Id& key) override {
    return ring_.lookup(n, key);
  }
  Result<Message> request(const std::string& host, const Message& request,
                          Milliseconds timeout) override {
    return net_.call(host, request, timeout);
  }
  void request_async(const std::string& host, Message request, Milliseconds timeout,
                     ReplyCallback done) override {
    net_.call_async(host, std::move(request), timeout, std::move(done));
  }
  Status publish_service(std::string name, std::shared_ptr<void> service) override {
    return services_.publish(std::move(name), std::move(service));
  }
  Result<std::shared_ptr<void>> find_service(std::string_view name) const override {
    return services_.find(name);
  }
  MetricsRegistry& metrics() override { return metrics_; }

 private:
  Ring& ring_;
  Network& net_;
  const Membership& membership_;
  ServiceRegistry& services_;
  MetricsRegistry& metrics_;
  const int replicas_;
  const Milliseconds timeout_;
  std::atomic<bool> leaving_{false};
};

}  // namespace dendrite::host
