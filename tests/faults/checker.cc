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

bool unprotected(const WriteOp& op, const FailureLog& failures) {
  return std::any_of(
      failures.windows.begin(), failures.windows.end(),
      [&](const FailureLog::Window& w) { return w.to >= op.start && w.hosts >= op.consistency; });
}

CheckResult check(const std::vector<KeyHistory>& histories, const std::vector<FinalRead>& finals,
                  const FailureLog& failures) {
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
    const bool protected_write = !unprotected(latest, failures);
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

void check_copies(const std::vector<KeyHistory>& histories, const std::vector<FinalRead>& finals,
                  const std::vector<CopiesRead>& copies, const FailureLog& failures,
                  CheckResult* result) {
  for (std::size_t i = 0; i < histories.size() && i < copies.size(); ++i) {
    if (!finals[i].error.ok()) continue;
    const CopiesRead& c = copies[i];
    if (c.good >= c.expected) continue;
    ++result->copies_bad;
    const KeyHistory& h = histories[i];
    const WriteOp* latest = nullptr;
    for (const WriteOp& op : h.ops) {
      if (op.acked) latest = &op;
    }
    std::string kind = "copies missing";
    if (latest != nullptr && !unprotected(*latest, failures) &&
        c.good < std::min(latest->consistency, c.expected)) {
      ++result->copies_short;
      kind = "COPIES SHORT";
    }
    if (result->examples.size() < 10) {
      result->examples.push_back(
          h.key + ": " + kind + ": " + std::to_string(c.good) + " of " +
          std::to_string(c.expected) + " copies hold " + describe(finals[i].value) +
          (latest ? ", latest acked at consistency " + std::to_string(latest->consistency) : "") +
          "; " + c.detail);
    }
  }
}

}  // namespace dendrite::faults
