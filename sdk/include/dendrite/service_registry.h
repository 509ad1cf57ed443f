// The registry of services plugins publish for each other (the host's
// Host::publish_service and Host::find_service forward to one, and so does
// testing::FakeHost): a thread-safe map from name to an untyped shared pointer.
// Plugins use it through Host, not directly.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "dendrite/status.h"

namespace dendrite {

// Thread-safe: every method may be called from any thread at any time.
class ServiceRegistry {
 public:
  ServiceRegistry() = default;
  ~ServiceRegistry();  // clear()
  ServiceRegistry(const ServiceRegistry&) = delete;
  ServiceRegistry& operator=(const ServiceRegistry&) = delete;

  // Publishes `service` under `name`. Errors: AlreadyExists when the name is
  // taken, InvalidArgument for an empty name or a null service.
  Status publish(std::string name, std::shared_ptr<void> service);

  // The service published under `name`. Errors: NotFound.
  Result<std::shared_ptr<void>> find(std::string_view name) const;

  // Drops every service. The registry's references are released outside its
  // lock, so a service's destructor may call back into the registry.
  void clear();

  // The published names, sorted.
  std::vector<std::string> names() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<void>, std::less<>> services_;  // guarded by mu_
};

}  // namespace dendrite
