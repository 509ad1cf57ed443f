#include "host/transport_stats.h"

namespace dendrite::host {

std::string TransportStats::host_type_name(MessageType type) {
  // Request types only: replies (Ack, Err, Forward, ...) are never requests.
  switch (type) {
    case msg::kPing:
      return "ping";
    case msg::kJoin:
      return "join";
    case msg::kLeave:
      return "leave";
    case msg::kListVnodes:
      return "list_vnodes";
    case msg::kFindSuccessors:
      return "find_successors";
    case msg::kGetPredecessor:
      return "get_predecessor";
    case msg::kNotify:
      return "notify";
    case msg::kHostStatus:
      return "host_status";
    case msg::kBatchProbe:
      return "batch_probe";
    case msg::kForgetHost:
      return "forget_host";
    default:
      return "";
  }
}

TransportStats::TransportStats(MetricsRegistry& registry)
    : registry_(registry),
      malformed_(&registry.counter("dendrite_transport_malformed_frames_total",
                                   "Incoming frames dropped or answered with Err because they do "
                                   "not parse (bad envelope, empty or oversized frame).")),
      busy_(&registry.counter("dendrite_transport_busy_total",
                              "Requests refused with a busy Err reply because the node already "
                              "held its limit of pending requests or bytes.")),
      batches_(&registry.counter("dendrite_transport_batches_total",
                                 "Batch frames received and served (many requests in one frame; "
                                 "their replies leave together).")),
      batched_requests_(
          &registry.counter("dendrite_transport_batched_requests_total",
                            "Requests that arrived in batch frames (also counted by type in "
                            "dendrite_transport_requests_received_total).")) {
  std::lock_guard lock(mu_);
  const PerType* unknown = make_locked("unknown");
  for (int t = 0; t < 256; ++t) {
    const std::string name = host_type_name(static_cast<MessageType>(t));
    types_[t].store(name.empty() ? unknown : make_locked(name), std::memory_order_release);
  }
}

const TransportStats::PerType* TransportStats::make_locked(const std::string& name) {
  // One label may name several types (a plugin giving them one name): they
  // share its series.
  if (auto it = by_name_.find(name); it != by_name_.end()) return it->second;
  const Labels labels{{"type", name}};
  per_type_.push_back(PerType{
      &registry_.counter("dendrite_transport_requests_received_total",
                         "Requests received from other hosts, by message type.", labels),
      &registry_.counter("dendrite_transport_requests_sent_total",
                         "Requests sent to other hosts, by message type (requests to this "
                         "host's own address are answered locally and not counted).",
                         labels),
      &registry_.counter("dendrite_transport_error_replies_total",
                         "Err replies sent to other hosts, by the request's message type.", labels),
      &registry_.counter("dendrite_transport_timeouts_total",
                         "Requests to other hosts that got no reply within their timeout, by "
                         "message type.",
                         labels),
      &registry_.histogram("dendrite_transport_request_duration_seconds",
                           "Round trip of requests to other hosts that got a reply, by message "
                           "type.",
                           Histogram::latency_bounds(), labels),
  });
  by_name_.emplace(name, &per_type_.back());
  return &per_type_.back();
}

void TransportStats::name_type(MessageType type, const std::string& name) {
  std::lock_guard lock(mu_);
  types_[type].store(make_locked(name.empty() ? "unknown" : name), std::memory_order_release);
}

}  // namespace dendrite::host
