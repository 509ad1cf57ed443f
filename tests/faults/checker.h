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

// When hosts counted as failed: killed (until restarted) or cut off by a
// partition (until healed). A write acknowledged at consistency c promised c
// copies on distinct hosts; it must survive whenever at most c - 1 of its
// copies' hosts failed. The checker does not know which hosts held the copies,
// so it takes the worst case: the write is unprotected when a window that
// ended after the write started had `hosts` >= c (the nemeses inject one step
// at a time, so windows do not overlap).
struct FailureLog {
  struct Window {
    Clock::time_point from;
    Clock::time_point to;
    int hosts = 1;
  };
  std::vector<Window> windows;
};

// What reading one key at each of its copies' hosts found (after the final
// read, see check_copies()).
struct CopiesRead {
  int expected = 0;            // copy holders: the primary and its replicas on distinct hosts
  int good = 0;                // holders whose copy equals the final state
  std::string detail;          // the holders that differ, for examples
  std::int64_t newest_ts = 0;  // the newest version timestamp any holder reported (ns)
};

// What the checker found. A key counts in exactly one of ok .. unreadable;
// copies_bad and copies_short count keys on top of that.
struct CheckResult {
  std::uint64_t keys = 0;
  std::uint64_t acked = 0;            // acknowledged writes (all keys)
  std::uint64_t ok = 0;               // keys whose final state is allowed
  std::uint64_t lost = 0;             // latest acked set is gone (NotFound / older delete)
  std::uint64_t wrong = 0;            // a value never written, or a deleted key back
  std::uint64_t stale = 0;            // an older write's value instead of the latest acked
  std::uint64_t unprotected = 0;      // lost/stale, but only c-1 or fewer copies were promised
  std::uint64_t unreadable = 0;       // the final read failed (not NotFound)
  std::uint64_t copies_bad = 0;       // keys with some copy missing or different (check_copies)
  std::uint64_t copies_short = 0;     // keys with fewer good copies than promised (a failure)
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
// acknowledged write had consistency c and a failure window of >= c hosts
// ended after it started.
CheckResult check(const std::vector<KeyHistory>& histories, const std::vector<FinalRead>& finals,
                  const FailureLog& failures);

// Adds the copy counts to `result`: copies_bad counts keys where some expected
// copy holder lacks the final state; copies_short the keys with fewer good
// copies than min(c, expected), c the consistency of the latest acknowledged
// write, unless that write is unprotected (see check()). `copies` is parallel
// to `histories`; keys whose final read failed are skipped.
void check_copies(const std::vector<KeyHistory>& histories, const std::vector<FinalRead>& finals,
                  const std::vector<CopiesRead>& copies, const FailureLog& failures,
                  CheckResult* result);

// True when the write acknowledged at `op.consistency` may have lost every
// promised copy: a failure window of at least that many hosts ended after it
// started.
bool unprotected(const WriteOp& op, const FailureLog& failures);

}  // namespace dendrite::faults
