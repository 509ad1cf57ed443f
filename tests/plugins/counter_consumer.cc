// Test plugin `counter_consumer`: takes the "counter" service of
// counter_provider in start() (failing when it is not published), answers
// kCounterRequest with the counter's value after incrementing it, and drops the
// service in stop().
#include <memory>
#include <mutex>
#include <string>

#include "dendrite/dendrite.h"
#include "test_plugins/counter_service.h"
#include "test_plugins/test_plugins.h"

namespace {

using namespace dendrite;
using namespace dendrite::test_plugins;

class CounterConsumerPlugin final : public Plugin, public TransportHook {
 public:
  Status init(const std::string&, PluginContext& context) override {
    host_ = &context.host;
    return Status::Ok();
  }
  Status start() override {
    auto counter = host_->get_service<CounterService>(kCounterService);
    if (!counter.ok()) {
      return Status::FailedPrecondition("needs counter_provider: " + counter.status().message());
    }
    std::lock_guard lock(mu_);
    counter_ = std::move(counter).value();
    return Status::Ok();
  }
  void stop() override {
    std::lock_guard lock(mu_);
    counter_.reset();
  }
  TransportHook* transport_hook() override { return this; }

  std::vector<MessageType> message_types() const override { return {kCounterRequest}; }
  Result<Message> handle(const Message&) override {
    std::shared_ptr<CounterService> counter;
    {
      std::lock_guard lock(mu_);
      counter = counter_;
    }
    if (!counter) return Status::Unavailable("counter_consumer is not started");
    return Message{kCounterReply, std::to_string(counter->increment())};
  }

 private:
  Host* host_ = nullptr;
  std::mutex mu_;
  std::shared_ptr<CounterService> counter_;  // guarded by mu_
};

}  // namespace

DENDRITE_PLUGIN(CounterConsumerPlugin)
