// Broken test plugin `collides`: claims kEchoRequest like `echo`. Loading
// both must fail naming both plugins.
#include "dendrite/dendrite.h"
#include "test_plugins/test_plugins.h"

namespace {

using namespace dendrite;

class CollidesPlugin final : public Plugin, public TransportHook {
 public:
  Status init(const std::string&, PluginContext&) override { return Status::Ok(); }
  Status start() override { return Status::Ok(); }
  void stop() override {}
  TransportHook* transport_hook() override { return this; }

  std::vector<MessageType> message_types() const override { return {test_plugins::kEchoRequest}; }
  Result<Message> handle(const Message&) override {
    return Status::Internal("collides must never be dispatched to");
  }
};

}  // namespace

DENDRITE_PLUGIN(CollidesPlugin)
