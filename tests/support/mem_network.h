// An in-memory network for tests and simulations: a registry of request
// handlers keyed by address. A call runs the destination's handler
// synchronously on the caller's thread, so many hosts (e.g. Rings) run in one
// process without sockets.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "dendrite/message.h"
#include "dendrite/status.h"
#include "host/network.h"

namespace dendrite::test {

// Thread-safe. The handlers registered must stay valid while calls can reach
// them (stop calling threads before destroying what a handler refers to).
class MemNetwork {
 public:
  using Handler = std::function<Message(const Message&)>;

  MemNetwork();
  ~MemNetwork();
  MemNetwork(const MemNetwork&) = delete;
  MemNetwork& operator=(const MemNetwork&) = delete;

  // Registers (or replaces) the handler of `address` and marks it alive.
  void add(const std::string& address, Handler handler);
  // Calls to `address`, and calls made by it, fail at once with `code`
  // (Unavailable by default, or Timeout) until revive(). Like a crash.
  void kill(const std::string& address, StatusCode code = StatusCode::kUnavailable);
  // Undoes kill().
  void revive(const std::string& address);
  // Unregisters `address`: calls to it fail with Unavailable.
  void remove(const std::string& address);
  // Cuts the path from `from` to `to` (one way): requests from `from` to `to`
  // fail with Timeout. With `deliver` the request still reaches `to` and is
  // handled, and only its answer is lost (a cut of the way back). Like a
  // silent firewall drop.
  void cut(const std::string& from, const std::string& to, bool deliver = false);
  // Undoes every cut().
  void heal();
  // Puts `address` on side `side` of a partition: calls between hosts on
  // different sides fail with Timeout (hosts without a side reach everyone).
  // Cheaper than cut() for every pair when rings are large.
  void set_side(const std::string& address, int side);
  // Undoes every set_side().
  void clear_sides();
  // True when `address` is registered and not killed.
  bool alive(const std::string& address) const;

  // The Network as seen by host `address` (its address() is `address`). Owned by
  // this registry; valid for its lifetime. Needs no handler yet.
  host::Network& endpoint(const std::string& address);

  // Delivers `request` from `from` to `to` (what endpoints do).
  Result<Message> deliver(const std::string& from, const std::string& to, const Message& request);

  // Requests delivered so far (answered or failed), in total and of one type.
  std::uint64_t calls() const { return calls_.load(); }
  std::uint64_t calls(MessageType type) const { return by_type_[type].load(); }

 private:
  class Endpoint;
  struct Entry {
    std::shared_ptr<Handler> handler;      // null when removed
    StatusCode failure = StatusCode::kOk;  // kOk = alive
  };

  mutable std::mutex mu_;
  std::map<std::string, Entry> hosts_;                          // GUARDED_BY(mu_)
  std::map<std::string, std::unique_ptr<Endpoint>> endpoints_;  // GUARDED_BY(mu_)
  std::map<std::pair<std::string, std::string>, bool> cuts_;    // GUARDED_BY(mu_): deliver?
  std::map<std::string, int> sides_;                            // GUARDED_BY(mu_)
  std::atomic<std::uint64_t> calls_{0};
  std::atomic<std::uint64_t> by_type_[256] = {};
};

}  // namespace dendrite::test
