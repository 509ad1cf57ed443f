#include "dendrite/client/credentials.h"

#include <cstdlib>
#include <string_view>

#include "credentials_impl.h"

namespace dendrite::client {

Credentials::Credentials(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Credentials::~Credentials() = default;

const std::string& Credentials::public_key() const {
  return impl_->identity.own.public_key;
}

Result<std::shared_ptr<const Credentials>> Credentials::load(
    const std::string& secret_key_file, const std::vector<std::string>& nodes) {
  auto impl = std::make_unique<Impl>();
  auto own = wire::read_curve_key_pair(secret_key_file, "");
  if (!own.ok()) return own.status();
  impl->identity.own = std::move(own).value();
  auto listed = wire::read_node_key_list(nodes);
  if (!listed.ok()) return listed.status();
  if (listed->empty()) {
    return Status::InvalidArgument(
        "no node keys given: a CURVE client needs the server key of each node it talks to "
        "(\"KEY host:port\" lines)");
  }
  impl->identity.nodes = std::move(listed).value();
  return std::make_shared<const Credentials>(std::move(impl));
}

Result<std::shared_ptr<const Credentials>> Credentials::from_flags_or_environment(
    const std::string& secret_key_file, const std::vector<std::string>& nodes) {
  if (secret_key_file.empty() && nodes.empty()) return from_environment();
  if (secret_key_file.empty() || nodes.empty()) {
    return Status::InvalidArgument("a CURVE client needs both --curve-secret-key and --curve-node");
  }
  return load(secret_key_file, nodes);
}

Result<std::shared_ptr<const Credentials>> Credentials::from_environment() {
  const char* secret = std::getenv(kSecretKeyFileEnv);
  const char* nodes = std::getenv(kNodeKeysEnv);
  const bool has_secret = secret != nullptr && *secret != '\0';
  const bool has_nodes = nodes != nullptr && *nodes != '\0';
  if (!has_secret && !has_nodes) return std::shared_ptr<const Credentials>();
  if (!has_secret || !has_nodes) {
    return Status::InvalidArgument(
        std::string(has_secret ? kNodeKeysEnv : kSecretKeyFileEnv) + " is not set, and " +
        (has_secret ? kSecretKeyFileEnv : kNodeKeysEnv) + " is: a CURVE client needs both");
  }
  std::vector<std::string> entries;
  std::string_view rest(nodes);
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    std::string_view entry = rest.substr(0, comma);
    while (!entry.empty() && entry.front() == ' ') entry.remove_prefix(1);
    while (!entry.empty() && entry.back() == ' ') entry.remove_suffix(1);
    if (!entry.empty()) entries.emplace_back(entry);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  return load(secret, entries);
}

}  // namespace dendrite::client
