// Test plugins with a descriptor and requirements, one source built several
// times (tests/plugins/CMakeLists.txt) with:
//   REQ_NAME     the descriptor's name (a string literal)
//   REQ_VERSION  its version
//   REQ_NEEDS    a braced list of requirement strings, or leave undefined
//   REQ_TYPES    a braced list of message types the descriptor declares (the
//                plugin has no TransportHook, so the loader must refuse it)
// The plugin logs "init <name>", "start <name>" and "stop <name>", so tests
// see the order the loader chose. It claims no message types.
#include "dendrite/dendrite.h"

namespace {

using namespace dendrite;

class RequiresPlugin final : public Plugin {
 public:
  Status init(const std::string&, PluginContext& context) override {
    log_ = &context.logger;
    log_->info("init " REQ_NAME);
    return Status::Ok();
  }
  Status start() override {
    log_->info("start " REQ_NAME);
    return Status::Ok();
  }
  void stop() override { log_->info("stop " REQ_NAME); }

 private:
  Logger* log_ = nullptr;
};

#if defined(REQ_NEEDS)
constexpr const char* kNeeds[] = REQ_NEEDS;
constexpr PluginDescriptor kDescriptor =
    PluginDescriptor{.name = REQ_NAME, .version = REQ_VERSION}.with_requires(kNeeds);
#elif defined(REQ_TYPES)
constexpr MessageType kTypes[] = REQ_TYPES;
constexpr PluginDescriptor kDescriptor =
    PluginDescriptor{.name = REQ_NAME, .version = REQ_VERSION}.with_types(kTypes);
#else
constexpr PluginDescriptor kDescriptor = PluginDescriptor{.name = REQ_NAME, .version = REQ_VERSION};
#endif

}  // namespace

DENDRITE_PLUGIN_DESCRIBED(RequiresPlugin, kDescriptor)
