// Test plugin `events`: a DelegateHook that records every ring event and
// publishes the record as the EventRecorder service.
#include <memory>
#include <mutex>
#include <vector>

#include "dendrite/dendrite.h"
#include "test_plugins/event_recorder.h"

namespace {

using namespace dendrite;
using namespace dendrite::test_plugins;

class Recorder final : public EventRecorder {
 public:
  void add(const RingEvent& event) {
    std::lock_guard lock(mu_);
    events_.push_back(event);
  }
  std::vector<RingEvent> events() const override {
    std::lock_guard lock(mu_);
    return events_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<RingEvent> events_;
};

class EventsPlugin final : public Plugin, public DelegateHook {
 public:
  Status init(const std::string&, PluginContext& context) override {
    // Published as the interface type, which is what get_service<> casts to.
    return context.host.publish_service(kEventRecorderService,
                                        std::static_pointer_cast<EventRecorder>(recorder_));
  }
  Status start() override { return Status::Ok(); }
  void stop() override {}
  DelegateHook* delegate_hook() override { return this; }

  void on_ring_event(const RingEvent& event) override { recorder_->add(event); }

 private:
  std::shared_ptr<Recorder> recorder_ = std::make_shared<Recorder>();
};

}  // namespace

DENDRITE_PLUGIN(EventsPlugin)
