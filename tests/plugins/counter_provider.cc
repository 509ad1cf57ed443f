// Test plugin `counter_provider`: publishes the "counter" service
// (test_plugins/counter_service.h) for counter_consumer.
#include <atomic>
#include <memory>

#include "dendrite/dendrite.h"
#include "test_plugins/counter_service.h"

namespace {

using namespace dendrite;
using namespace dendrite::test_plugins;

class Counter final : public CounterService {
 public:
  std::int64_t increment() override { return ++value_; }
  std::int64_t value() const override { return value_.load(); }

 private:
  std::atomic<std::int64_t> value_{0};
};

class CounterProviderPlugin final : public Plugin {
 public:
  Status init(const std::string&, PluginContext& context) override {
    // Published as the interface type, which is what get_service<> casts to.
    std::shared_ptr<CounterService> counter = std::make_shared<Counter>();
    return context.host.publish_service(kCounterService, std::move(counter));
  }
  Status start() override { return Status::Ok(); }
  void stop() override {}
};

}  // namespace

DENDRITE_PLUGIN(CounterProviderPlugin)
