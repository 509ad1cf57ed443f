// Test plugin `slow`: answers each kSlowRequest with kSlowReply (the request's
// payload size, as text) `delay_ms` after it arrived (config, default 50). The
// answers are given by one timer thread, so a request holds no worker while it
// waits: like a dtable write waiting for its replicas, and what lets a flood
// pile up requests in the host.
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "dendrite/dendrite.h"
#include "test_plugins/test_plugins.h"

namespace {

using namespace dendrite;
using namespace dendrite::test_plugins;
using Clock = std::chrono::steady_clock;

class SlowPlugin final : public Plugin, public TransportHook {
 public:
  Status init(const std::string& config_json, PluginContext&) override {
    auto config = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
    if (!config.is_object()) return Status::InvalidArgument("config is not a JSON object");
    if (auto it = config.find("delay_ms"); it != config.end()) {
      if (!it->is_number_integer() || it->get<int>() < 0) {
        return Status::InvalidArgument("'delay_ms' must be a non-negative integer");
      }
      delay_ = std::chrono::milliseconds(it->get<int>());
    }
    return Status::Ok();
  }
  Status start() override {
    timer_ = std::thread([this] { run(); });
    return Status::Ok();
  }
  // Answers whatever still waits, then joins the timer.
  void stop() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (timer_.joinable()) timer_.join();
  }
  TransportHook* transport_hook() override { return this; }

  std::vector<MessageType> message_types() const override { return {kSlowRequest}; }
  std::string type_name(MessageType) const override { return "slow"; }
  Result<Message> handle(const Message& request) override {
    std::this_thread::sleep_for(delay_);
    return Message{kSlowReply, std::to_string(request.payload.size())};
  }
  void handle_async(const Message& request, Respond respond) override {
    Message reply{kSlowReply, std::to_string(request.payload.size())};
    {
      std::lock_guard lock(mu_);
      due_.emplace(Clock::now() + delay_, Due{std::move(reply), std::move(respond)});
    }
    cv_.notify_all();
  }

 private:
  struct Due {
    Message reply;
    Respond respond;
  };

  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      if (stopping_ && due_.empty()) return;
      if (due_.empty()) {
        cv_.wait(lock);
        continue;
      }
      auto first = due_.begin();
      if (!stopping_ && first->first > Clock::now()) {
        cv_.wait_until(lock, first->first);
        continue;
      }
      Due due = std::move(first->second);
      due_.erase(first);
      lock.unlock();
      due.respond(std::move(due.reply));
      lock.lock();
    }
  }

  std::chrono::milliseconds delay_{50};  // written by init() only
  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<Clock::time_point, Due> due_;  // guarded by mu_
  bool stopping_ = false;                      // guarded by mu_
  std::thread timer_;
};

}  // namespace

DENDRITE_PLUGIN(SlowPlugin)
