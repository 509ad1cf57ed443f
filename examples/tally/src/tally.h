// The tally example plugin: named counters spread over the ring. Each counter
// is owned by the node holding the primary of its name (Host::lookup); other
// nodes forward requests there. The owner keeps values in the dtable service
// (key "tally/<name>", so they survive the owner leaving) and caches them; a
// ring event that changes its ranges drops the cache (DelegateHook).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dendrite/dendrite.h"
#include "dendrite/dtable/dtable.h"

namespace tally {

// [snippet message-types]
// Message types: 0x70-0x72, outside the host's 0x00-0x1F, dtable's 0x20-0x3F
// and metrics' 0x60-0x61.
inline constexpr dendrite::MessageType kAdd = 0x70;    // AddRequest -> Value
inline constexpr dendrite::MessageType kGet = 0x71;    // GetRequest -> Value
inline constexpr dendrite::MessageType kValue = 0x72;  // the reply (claimed to reserve it)
// [end snippet]

// The dtable key holding counter `name`.
std::string storage_key(const std::string& name);

// The plugin. Handlers run on many transport workers at once; ring events on
// the host's event thread. Everything mutable is guarded by mu_.
class TallyPlugin final : public dendrite::Plugin,
                          public dendrite::TransportHook,
                          public dendrite::DelegateHook {
 public:
  // Config: {"consistency": N} (default 1), the dtable consistency of writes.
  dendrite::Status init(const std::string& config_json, dendrite::PluginContext& context) override;
  // Takes the dtable service (loaded first: the descriptor requires it).
  dendrite::Status start() override;
  // Drops the dtable service and the cache.
  void stop() override;
  std::string version() const override;

  dendrite::TransportHook* transport_hook() override { return this; }
  dendrite::DelegateHook* delegate_hook() override { return this; }

  // TransportHook: kAdd, kGet, kValue.
  std::vector<dendrite::MessageType> message_types() const override;
  std::string type_name(dendrite::MessageType type) const override;
  // On a ring that runs CURVE, clients (tally-cli) may send kAdd and kGet.
  bool client_may_send(dendrite::MessageType type) const override;
  // Answers kAdd/kGet with kValue (forwarding to the owner when that is
  // another node); errors become Err replies. Thread-safe.
  dendrite::Result<dendrite::Message> handle(const dendrite::Message& request) override;

  // DelegateHook: a predecessor joining or leaving moves counters between
  // owners, so the cache is dropped and values are read from dtable again.
  void on_ring_event(const dendrite::RingEvent& event) override;

  // Ring events that dropped the cache so far (for tests).
  std::uint64_t cache_drops() const;

 private:
  // The owner of counter `name`: "" when this host owns it, else its address.
  dendrite::Result<std::string> owner_of(const std::string& name);
  // Applies `delta` (0 for a read) on this host, the owner.
  dendrite::Result<dendrite::Message> apply(const std::string& name, std::int64_t delta);

  dendrite::Host* host_ = nullptr;  // set by init()
  dendrite::Logger* log_ = nullptr;
  int consistency_ = 1;  // written by init() only

  mutable std::mutex mu_;
  std::shared_ptr<dendrite::dtable::Table> table_;  // guarded by mu_; between start() and stop()
  std::map<std::string, std::int64_t> cache_;       // guarded by mu_
  std::uint64_t cache_drops_ = 0;                   // guarded by mu_
};

}  // namespace tally
