// Test plugin `lifecycle`: logs each lifecycle step ("init", "start", "stop",
// "destroy") at info level, and publishes a service "lifecycle.<name>" whose
// destruction logs "service destroyed", so a test's logger factory can check
// the order the loader drives. Load it several times under different names
// (PluginSpec::path) to check ordering across plugins.
#include <memory>
#include <string>

#include "dendrite/dendrite.h"

namespace {

using namespace dendrite;

class Token {
 public:
  explicit Token(Logger& logger) : logger_(logger) {}
  ~Token() { logger_.info("service destroyed"); }

 private:
  Logger& logger_;
};

class LifecyclePlugin final : public Plugin {
 public:
  ~LifecyclePlugin() override {
    if (logger_) logger_->info("destroy");
  }
  Status init(const std::string&, PluginContext& context) override {
    logger_ = &context.logger;
    logger_->info("init");
    return context.host.publish_service("lifecycle." + context.name,
                                        std::make_shared<Token>(context.logger));
  }
  Status start() override {
    logger_->info("start");
    return Status::Ok();
  }
  void stop() override { logger_->info("stop"); }

 private:
  Logger* logger_ = nullptr;
};

}  // namespace

DENDRITE_PLUGIN(LifecyclePlugin)
