// The transport's statistics: per message type requests received and sent,
// Err replies, timeouts and round-trip latency, plus malformed frames. The
// type label is the name the owner of the type gives it (the host's own names,
// or TransportHook::type_name); types nobody claims share the label "unknown",
// so hostile peers cannot grow the number of series.
#pragma once

#include <array>
#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <string>

#include "dendrite/message.h"
#include "dendrite/metrics.h"

namespace dendrite::host {

// Thread-safe. of() is lock-free (one atomic load); name_type() takes a lock.
class TransportStats {
 public:
  // The series of one type label.
  struct PerType {
    Counter* received;   // requests answered for peers
    Counter* sent;       // requests sent to other hosts
    Counter* errors;     // Err replies sent to peers
    Counter* timeouts;   // requests to other hosts that got no answer in time
    Histogram* latency;  // round trip of requests to other hosts, seconds
  };

  // Registers the series in `registry`, which must outlive this object.
  explicit TransportStats(MetricsRegistry& registry);
  TransportStats(const TransportStats&) = delete;
  TransportStats& operator=(const TransportStats&) = delete;

  // The series of `type`.
  const PerType& of(MessageType type) const {
    return *types_[type].load(std::memory_order_acquire);
  }
  // Labels `type` with `name` from now on (the owner of a plugin type).
  void name_type(MessageType type, const std::string& name);
  // Frames dropped or refused because they do not parse.
  Counter& malformed() { return *malformed_; }
  // Requests refused with a "busy" Err because too many were pending.
  Counter& busy() { return *busy_; }
  // Batch frames served (each whole), and the requests they carried.
  Counter& batches() { return *batches_; }
  Counter& batched_requests() { return *batched_requests_; }

  // The host's name for one of its request types ("find_successors"), or "".
  static std::string host_type_name(MessageType type);

 private:
  // REQUIRES: mu_ held.
  const PerType* make_locked(const std::string& name);

  MetricsRegistry& registry_;
  Counter* malformed_;
  Counter* busy_;
  Counter* batches_;
  Counter* batched_requests_;
  std::mutex mu_;
  std::deque<PerType> per_type_;                   // GUARDED_BY(mu_); stable addresses
  std::map<std::string, const PerType*> by_name_;  // GUARDED_BY(mu_)
  std::array<std::atomic<const PerType*>, 256> types_;
};

}  // namespace dendrite::host
