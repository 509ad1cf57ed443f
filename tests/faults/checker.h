// The checker: after the cluster healed, compares what the store holds for
// each key with the writes its writer attempted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dendrite/status.h"
#include "faults/workload.h"

namespace dendrite::faults {

// When a node was kill -9'ed: a write acknowledged at consistency 1 before
// such a moment had its only guaranteed copy on one host that may have been
// the one killed, so losing it breaks no promise.
struct CrashLog {
  std::vector<Clock::time_point> kills;
};

// What the checker found. A key counts in exactly one field.
struct CheckResult {
  std::uint64_t keys = 0;
  std::uint64_t acked = 0;            // acknowledged writes (all keys)
  std::uint64_t ok = 0;               // keys whose final state is allowed
  std::uint64_t lost = 0;             // latest acked set is gone (NotFound / older delete)
  std::uint64_t wrong = 0;            // a value never written, or a deleted key back
  std::uint64_t stale = 0;            // an older write's value instead of the latest acked
  std::uint64_t unprotected = 0;      // lost/stale, but only c-1 or fewer copies were promised
  std::uint64_t unreadable = 0;       // the final read failed (not NotFound)
  std::vector<std::string> examples;  // a few described violations
};

// The final state of one key: nullopt = NotFound, else the value; `error`
// set when the read itself failed.
struct FinalRead {
  std::optional<std::string> value;
  Status error = Status::Ok();
};

// Classifies each key. `finals` is parallel to `histories`. The allowed final
// states of a key: the outcome of its latest acknowledged write, or of any
// write attempted after it (an unacknowledged write may have been applied).
// Anything else is lost / stale / wrong, or unprotected when the latest
// acknowledged write had consistency 1 and a kill -9 followed it.
CheckResult check(const std::vector<KeyHistory>& histories, const std::vector<FinalRead>& finals,
                  const CrashLog& crashes);

}  // namespace dendrite::faults
