// The host's record of connections and requests it refused for security
// reasons: one log line per refusal (repeats of the same refusal within
// kRefusalLogInterval are counted and summed into the next line), and the
// counter dendrite_security_refusals_total{reason}.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "dendrite/metrics.h"
#include "host/logging.h"

namespace dendrite::host {

enum class RefusalReason {
  kUnknownKey,     // a CURVE key on neither allow-list
  kWrongDomain,    // a ZAP request for another domain (not ours)
  kBadHandshake,   // a peer that failed the CURVE handshake (plaintext, wrong server key)
  kClientMessage,  // a client key sent a type only nodes may send
  kOpenRingWrite,  // protected mode: a write from beyond loopback to an open ring
};

// "unknown_key", "wrong_domain", "bad_handshake", "client_message",
// "open_ring_write": the counter's label.
std::string_view refusal_reason_label(RefusalReason reason);

inline constexpr std::chrono::seconds kRefusalLogInterval{10};

// Thread-safe. Must outlive whatever reports to it.
class Refusals {
 public:
  explicit Refusals(MetricsRegistry& metrics);

  // Counts one refusal and logs it (warning) as "refused <peer>: <why>",
  // unless the same (reason, peer, why) was logged less than
  // kRefusalLogInterval ago.
  void refuse(RefusalReason reason, std::string_view peer, std::string_view why);

  // Logs (warning, with the same rate limit) that `peer` refused a
  // connection of ours, `why` saying how, and counts it in
  // dendrite_security_refused_by_peer_total.
  void refused_by(std::string_view peer, std::string_view why);

  // Refusals counted for `reason` (tests).
  std::uint64_t count(RefusalReason reason) const;

 private:
  struct Seen {
    std::chrono::steady_clock::time_point logged;
    std::uint64_t unlogged = 0;
  };
  // Whether the line keyed `key` is due; else counts it as unlogged. Sets
  // `also` to the lines not logged since the last.
  bool due(std::string key, std::uint64_t& also);

  static constexpr int kReasons = 5;
  Counter* counters_[kReasons];
  Counter* refused_by_;
  std::shared_ptr<spdlog::logger> log_;
  std::mutex mu_;
  std::map<std::string, Seen> seen_;  // bounded: cleared past kMaxSeen entries
};

}  // namespace dendrite::host
