// Requests to original nodes, one sequence at a time per host. An original's
// tables are unlocked maps: two writes it serves at once can crash it
// ("concurrent map writes"), and a request it cannot answer wedges one of its
// workers. So every dtable write this node sends to a host that is not known
// to be ours (Host::peer_dialect) goes through its lane, in arrival order.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace dendrite::dtable {

// Thread-safe.
class OriginalLanes {
 public:
  // Tells the lane that a step is over; call it exactly once, from any thread.
  using Finished = std::function<void()>;
  using Step = std::function<void(Finished)>;

  // Runs `step` once every step queued for `host` before it has finished: at
  // once on this thread when the lane is idle, else on the thread that
  // finishes the step before it. A step must not block; it starts its
  // requests and calls Finished from their callbacks.
  void run(const std::string& host, Step step);

 private:
  struct Lane {
    std::deque<Step> steps;
    bool in_call = false;       // a step's call is on some thread's stack
    bool done_in_call = false;  // and it already finished
  };
  // Runs `host`'s steps until one finishes later (or none is left).
  void drain(const std::string& host);
  void finished(const std::string& host);

  std::mutex mu_;
  std::map<std::string, Lane> lanes_;  // GUARDED_BY(mu_); a lane exists while busy
};

}  // namespace dendrite::dtable
