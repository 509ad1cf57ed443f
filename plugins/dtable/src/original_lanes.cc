#include "original_lanes.h"

#include <utility>

namespace dendrite::dtable {

void OriginalLanes::run(const std::string& host, Step step) {
  {
    std::lock_guard lock(mu_);
    auto [it, idle] = lanes_.try_emplace(host);
    it->second.steps.push_back(std::move(step));
    if (!idle) return;  // the running step's Finished picks it up
  }
  drain(host);
}

void OriginalLanes::drain(const std::string& host) {
  // A loop rather than recursion: steps that finish inside their own call (a
  // closed gate answers at once) do not deepen the stack.
  for (;;) {
    Step step;
    {
      std::lock_guard lock(mu_);
      Lane& lane = lanes_.at(host);
      if (lane.steps.empty()) {
        lanes_.erase(host);
        return;
      }
      step = std::move(lane.steps.front());
      lane.steps.pop_front();
      lane.in_call = true;
      lane.done_in_call = false;
    }
    step([this, host] { finished(host); });
    std::lock_guard lock(mu_);
    Lane& lane = lanes_.at(host);
    lane.in_call = false;
    if (!lane.done_in_call) return;  // it finishes later and drains then
  }
}

void OriginalLanes::finished(const std::string& host) {
  {
    std::lock_guard lock(mu_);
    Lane& lane = lanes_.at(host);
    if (lane.in_call) {
      lane.done_in_call = true;  // drain() goes on with the next step
      return;
    }
  }
  drain(host);
}

}  // namespace dendrite::dtable
