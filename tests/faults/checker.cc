#include "faults/checker.h"

#include <algorithm>

namespace dendrite::faults {
namespace {

// The state a write leaves: nullopt for a delete.
std::optional<std::string> outcome(const WriteOp& op) {
  if (op.deleted) return std::nullopt;
  return op.value;
}

std::string describe(const std::optional<std::string>& v) {
  return v ? "\"" + *v + "\"" : "<absent>";
}

}  // namespace

CheckResult check(const std::vector<KeyHistory>& histories, const std::vector<FinalRead>& finals,
                  const CrashLog& crashes) {
  CheckResult r;
  for (std::size_t i = 0; i < histories.size(); ++i) {
    const KeyHistory& h = histories[i];
    const FinalRead& fin = finals[i];
    ++r.keys;
    for (const WriteOp& op : h.ops) r.acked += op.acked ? 1 : 0;
    if (!fin.error.ok()) {
      ++r.unreadable;
      if (r.examples.size() < 10) {
        r.examples.push_back(h.key + ": final read failed: " + fin.error.to_string());
      }
      continue;
    }
    // Latest acknowledged write; the allowed outcomes start there.
    std::size_t from = 0;
    bool any_acked = false;
    for (std::size_t j = 0; j < h.ops.size(); ++j) {
      if (h.ops[j].acked) {
        from = j;
        any_acked = true;
      }
    }
    bool allowed = false;
    if (!any_acked) {
      allowed = !fin.value.has_value();  // never written, or an unacked write
      for (const WriteOp& op : h.ops) allowed = allowed || outcome(op) == fin.value;
    } else {
      for (std::size_t j = from; j < h.ops.size(); ++j) {
        allowed = allowed || outcome(h.ops[j]) == fin.value;
      }
    }
    if (allowed) {
      ++r.ok;
      continue;
    }
    const WriteOp& latest = h.ops[from];
    const bool older = std::any_of(h.ops.begin(), h.ops.begin() + static_cast<long>(from),
                                   [&](const WriteOp& op) { return outcome(op) == fin.value; });
    const bool protected_write =
        latest.consistency >= 2 ||
        std::none_of(crashes.kills.begin(), crashes.kills.end(),
                     [&](Clock::time_point t) { return t >= latest.done; });
    std::string kind;
    if (!older && fin.value.has_value()) {
      ++r.wrong;  // a value this key's writer never wrote
      kind = "wrong";
    } else if (!protected_write) {
      ++r.unprotected;
      kind = "unprotected";
    } else if (latest.deleted) {
      ++r.wrong;  // a deleted key came back with an older value
      kind = "wrong (deleted key back)";
    } else if (!fin.value.has_value()) {
      ++r.lost;
      kind = "lost";
    } else {
      ++r.stale;
      kind = "stale";
    }
    if (r.examples.size() < 10) {
      r.examples.push_back(h.key + ": " + kind + ": read " + describe(fin.value) +
                           ", latest acked " + describe(outcome(latest)) + " (seq " +
                           std::to_string(latest.seq) + ", consistency " +
                           std::to_string(latest.consistency) + ", " +
                           std::to_string(h.ops.size() - from - 1) + " unacked after it)");
    }
  }
  return r;
}

}  // namespace dendrite::faults
