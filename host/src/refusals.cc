#include "host/refusals.h"

namespace dendrite::host {
namespace {
// Distinct refusals remembered for rate limiting; beyond it the memory starts over.
constexpr std::size_t kMaxSeen = 4096;
}  // namespace

std::string_view refusal_reason_label(RefusalReason reason) {
  switch (reason) {
    case RefusalReason::kUnknownKey:
      return "unknown_key";
    case RefusalReason::kWrongDomain:
      return "wrong_domain";
    case RefusalReason::kBadHandshake:
      return "bad_handshake";
    case RefusalReason::kClientMessage:
      return "client_message";
    case RefusalReason::kOpenRingWrite:
      return "open_ring_write";
  }
  return "unknown";
}

Refusals::Refusals(MetricsRegistry& metrics) : log_(get_logger("security")) {
  for (int i = 0; i < kReasons; ++i) {
    counters_[i] = &metrics.counter(
        "dendrite_security_refusals_total",
        "Connections and requests refused for security reasons (docs/security.md), by reason.",
        {{"reason", std::string(refusal_reason_label(static_cast<RefusalReason>(i)))}});
  }
  refused_by_ = &metrics.counter(
      "dendrite_security_refused_by_peer_total",
      "Connections of this node that another node refused in the handshake (docs/security.md).");
}

bool Refusals::due(std::string key, std::uint64_t& also) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  if (seen_.size() >= kMaxSeen && !seen_.contains(key)) seen_.clear();
  auto [it, fresh] = seen_.try_emplace(std::move(key));
  Seen& s = it->second;
  if (!fresh && now - s.logged < kRefusalLogInterval) {
    ++s.unlogged;
    return false;
  }
  also = s.unlogged;
  s.logged = now;
  s.unlogged = 0;
  return true;
}

namespace {
std::string more_text(std::uint64_t also) {
  if (also == 0) return "";
  return " (and " + std::to_string(also) + " times more in the last " +
         std::to_string(kRefusalLogInterval.count()) + " s)";
}
}  // namespace

void Refusals::refuse(RefusalReason reason, std::string_view peer, std::string_view why) {
  counters_[static_cast<int>(reason)]->inc();
  std::string key = std::string(refusal_reason_label(reason)) + '\n';
  key.append(peer).append("\n").append(why);
  std::uint64_t also = 0;
  if (due(std::move(key), also)) log_->warn("refused {}: {}{}", peer, why, more_text(also));
}

void Refusals::refused_by(std::string_view peer, std::string_view why) {
  refused_by_->inc();
  std::string key = "by\n";
  key.append(peer).append("\n").append(why);
  std::uint64_t also = 0;
  if (due(std::move(key), also)) log_->warn("{}{}", why, more_text(also));
}

std::uint64_t Refusals::count(RefusalReason reason) const {
  return counters_[static_cast<int>(reason)]->value();
}

}  // namespace dendrite::host
