#include "tally.h"

#include <charconv>
#include <utility>

#include <nlohmann/json.hpp>

#include "tally.pb.h"

namespace tally {
namespace {

using dendrite::Message;
using dendrite::Result;
using dendrite::Status;

inline constexpr const char* kVersion = "1.0.0";

template <typename Proto>
Message pack(dendrite::MessageType type, const Proto& proto) {
  return Message{type, proto.SerializeAsString()};
}

}  // namespace

std::string storage_key(const std::string& name) {
  return "tally/" + name;
}

Status TallyPlugin::init(const std::string& config_json, dendrite::PluginContext& context) {
  // [snippet init]
  auto config = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object()) return Status::InvalidArgument("config is not a JSON object");
  if (auto it = config.find("consistency"); it != config.end()) {
    if (!it->is_number_integer() || it->get<int>() < 1) {
      return Status::InvalidArgument("'consistency' must be an integer >= 1");
    }
    consistency_ = it->get<int>();
  }
  host_ = &context.host;
  log_ = &context.logger;
  return Status::Ok();
  // [end snippet]
}

Status TallyPlugin::start() {
  // [snippet start]
  auto table = host_->get_service<dendrite::dtable::Table>(dendrite::dtable::kServiceName);
  if (!table.ok()) return Status::FailedPrecondition("the dtable service is not published");
  std::lock_guard lock(mu_);
  table_ = std::move(*table);
  return Status::Ok();
  // [end snippet]
}

void TallyPlugin::stop() {
  std::lock_guard lock(mu_);
  table_.reset();
  cache_.clear();
}

std::string TallyPlugin::version() const {
  return kVersion;
}

std::vector<dendrite::MessageType> TallyPlugin::message_types() const {
  return {kAdd, kGet, kValue};
}

// [snippet client-types]
bool TallyPlugin::client_may_send(dendrite::MessageType type) const {
  return type == kAdd || type == kGet;
}
// [end snippet]

std::string TallyPlugin::type_name(dendrite::MessageType type) const {
  switch (type) {
    case kAdd:
      return "tally.add";
    case kGet:
      return "tally.get";
    default:
      return "tally.value";
  }
}

// [snippet handle]
Result<Message> TallyPlugin::handle(const Message& request) {
  std::string name;
  std::int64_t delta = 0;
  bool forwarded = false;
  if (request.type == kAdd) {
    dendrite_tally::AddRequest add;
    if (!add.ParseFromString(request.payload)) return Status::InvalidArgument("bad AddRequest");
    name = add.name();
    delta = add.delta();
    forwarded = add.forwarded();
  } else if (request.type == kGet) {
    dendrite_tally::GetRequest get;
    if (!get.ParseFromString(request.payload)) return Status::InvalidArgument("bad GetRequest");
    name = get.name();
    forwarded = get.forwarded();
  } else {
    return Status::InvalidArgument("tally.value is a reply, not a request");
  }
  if (name.empty()) return Status::InvalidArgument("empty counter name");
  if (!forwarded) {
    Result<std::string> owner = owner_of(name);
    if (!owner.ok()) return owner.status();
    if (!owner->empty()) {  // another node owns it: ask it, once
      Message forward = request;
      if (request.type == kAdd) {
        dendrite_tally::AddRequest add;
        add.set_name(name);
        add.set_delta(delta);
        add.set_forwarded(true);
        forward = pack(kAdd, add);
      } else {
        dendrite_tally::GetRequest get;
        get.set_name(name);
        get.set_forwarded(true);
        forward = pack(kGet, get);
      }
      return host_->request(*owner, forward, host_->default_timeout());
    }
  }
  return apply(name, delta);
}
// [end snippet]

Result<std::string> TallyPlugin::owner_of(const std::string& name) {
  Result<std::vector<dendrite::Vnode>> owners = host_->lookup(1, dendrite::Id::hash(name));
  if (!owners.ok()) return owners.status();
  if (owners->empty()) return Status::Unavailable("lookup found no vnode");
  const std::string& owner = owners->front().host;
  return owner == host_->address() ? std::string() : owner;
}

Result<Message> TallyPlugin::apply(const std::string& name, std::int64_t delta) {
  // One lock for the read-modify-write: concurrent adds on the owner serialise.
  std::lock_guard lock(mu_);
  if (!table_) return Status::Unavailable("tally is not running");
  std::int64_t value = 0;
  if (auto it = cache_.find(name); it != cache_.end()) {
    value = it->second;
  } else {
    Result<std::string> stored = table_->get(storage_key(name), dendrite::dtable::Options{});
    if (stored.ok()) {
      auto [end, ec] = std::from_chars(stored->data(), stored->data() + stored->size(), value);
      if (ec != std::errc() || end != stored->data() + stored->size()) {
        return Status::Internal("counter '" + name + "' holds a non-number");
      }
    } else if (stored.status().code() != dendrite::StatusCode::kNotFound) {
      return stored.status();
    }
  }
  if (delta != 0) {
    value += delta;
    dendrite::dtable::Options options;
    options.consistency = consistency_;
    if (Status s = table_->set(storage_key(name), std::to_string(value), options); !s.ok()) {
      cache_.erase(name);  // unknown whether it landed: read it back next time
      return s;
    }
  }
  cache_[name] = value;
  dendrite_tally::Value reply;
  reply.set_name(name);
  reply.set_value(value);
  reply.set_owner(host_->address());
  return pack(kValue, reply);
}

// [snippet ring-event]
void TallyPlugin::on_ring_event(const dendrite::RingEvent& event) {
  if (event.type == dendrite::RingEventType::kReplicasChanged) return;
  std::lock_guard lock(mu_);
  cache_.clear();  // our ranges changed: counters may have moved in or out
  ++cache_drops_;
}
// [end snippet]

std::uint64_t TallyPlugin::cache_drops() const {
  std::lock_guard lock(mu_);
  return cache_drops_;
}

}  // namespace tally
