// Broken test plugin `reserved_type`: claims message type 0x05 (Leave), which
// the host reserves.
#include "dendrite/dendrite.h"

namespace {

using namespace dendrite;

class ReservedTypePlugin final : public Plugin, public TransportHook {
 public:
  Status init(const std::string&, PluginContext&) override { return Status::Ok(); }
  Status start() override { return Status::Ok(); }
  void stop() override {}
  TransportHook* transport_hook() override { return this; }

  std::vector<MessageType> message_types() const override { return {msg::kLeave}; }
  Result<Message> handle(const Message&) override {
    return Status::Internal("reserved_type must never be dispatched to");
  }
};

}  // namespace

DENDRITE_PLUGIN(ReservedTypePlugin)
