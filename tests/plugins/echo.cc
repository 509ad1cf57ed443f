// Test plugin `echo`: claims kEchoRequest and answers each request with
// kEchoReply = the configured prefix + the request's payload. Exercises
// TransportHook and the plugin's config.
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "dendrite/dendrite.h"
#include "test_plugins/test_plugins.h"

namespace {

using namespace dendrite;
using namespace dendrite::test_plugins;

class EchoPlugin final : public Plugin, public TransportHook {
 public:
  Status init(const std::string& config_json, PluginContext& context) override {
    auto config = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
    if (!config.is_object()) return Status::InvalidArgument("config is not a JSON object");
    if (auto it = config.find("prefix"); it != config.end()) {
      if (!it->is_string()) return Status::InvalidArgument("'prefix' must be a string");
      prefix_ = it->get<std::string>();
    }
    context.logger.debug("echo prefix is '" + prefix_ + "'");
    return Status::Ok();
  }
  Status start() override { return Status::Ok(); }
  void stop() override {}
  TransportHook* transport_hook() override { return this; }

  std::vector<MessageType> message_types() const override { return {kEchoRequest}; }
  std::string type_name(MessageType) const override { return "echo"; }
  Result<Message> handle(const Message& request) override {
    if (request.payload == kEchoThrow) throw std::runtime_error("echo was asked to throw");
    return Message{kEchoReply, prefix_ + request.payload};
  }

 private:
  std::string prefix_ = kEchoDefaultPrefix;  // written by init() only
};

}  // namespace

DENDRITE_PLUGIN(EchoPlugin)
