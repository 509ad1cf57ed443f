#include "dendrite/service_registry.h"

#include <utility>

namespace dendrite {

ServiceRegistry::~ServiceRegistry() {
  clear();
}

Status ServiceRegistry::publish(std::string name, std::shared_ptr<void> service) {
  if (name.empty()) return Status::InvalidArgument("service name is empty");
  if (!service) return Status::InvalidArgument("service '" + name + "' is null");
  std::lock_guard lock(mu_);
  auto [it, inserted] = services_.try_emplace(name, std::move(service));
  if (!inserted) return Status::AlreadyExists("service '" + name + "' is already published");
  return Status::Ok();
}

Result<std::shared_ptr<void>> ServiceRegistry::find(std::string_view name) const {
  std::lock_guard lock(mu_);
  auto it = services_.find(name);
  if (it == services_.end()) {
    return Status::NotFound("no service '" + std::string(name) + "' is published");
  }
  return it->second;
}

void ServiceRegistry::clear() {
  std::map<std::string, std::shared_ptr<void>, std::less<>> dropped;
  {
    std::lock_guard lock(mu_);
    dropped.swap(services_);
  }
  // `dropped` is destroyed here, outside the lock.
}

std::vector<std::string> ServiceRegistry::names() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  out.reserve(services_.size());
  for (const auto& [name, service] : services_) out.push_back(name);
  return out;
}

}  // namespace dendrite
