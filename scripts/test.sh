#!/usr/bin/env bash
# Builds Dendrite with its tests and benchmarks (Release, into build/) and runs
# every test. With --sanitizers, or when CI=true, it also builds build-asan
# (ASan+UBSan) and build-tsan (TSan), tests only, and runs the suite in each.
# Exits non-zero if any build or test fails; prints a summary at the end.
#   ./scripts/test.sh [--sanitizers]      JOBS=N sets build parallelism (default 2)
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jobs="${JOBS:-2}"

sanitizers=false
[ "${CI:-}" = "true" ] && sanitizers=true
for arg in "$@"; do
  case "$arg" in
    --sanitizers) sanitizers=true ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown argument '$arg' (expected --sanitizers)" >&2; exit 2 ;;
  esac
done

"$root/scripts/install-deps.sh" || exit 1
export CCACHE_BASEDIR="$root"

summary=()
failed=0

# suite NAME BUILD_DIR CMAKE_ARGS...: configure, build, run ctest; record the outcome.
suite() {
  local name="$1" dir="$2"
  shift 2
  echo "==== $name: configure and build ($dir)"
  mkdir -p "$dir"
  if ! cmake -S "$root" -B "$dir" "$@" >"$dir/configure.log" 2>&1; then
    cat "$dir/configure.log"
    summary+=("$name: FAILED (configure)")
    failed=1
    return
  fi
  if ! cmake --build "$dir" -j "$jobs"; then
    summary+=("$name: FAILED (build)")
    failed=1
    return
  fi
  echo "==== $name: test"
  local log="$dir/ctest.log"
  if ctest --test-dir "$dir" -j2 --output-on-failure --no-tests=error 2>&1 | tee "$log"; then
    summary+=("$name: ok ($(grep -E 'tests passed' "$log" | tail -n1))")
  else
    summary+=("$name: FAILED ($(grep -E 'tests passed|No tests' "$log" | tail -n1))")
    failed=1
  fi
}

suite "release" "$root/build" -DCMAKE_BUILD_TYPE=Release \
  -DDENDRITE_BUILD_TESTS=ON -DDENDRITE_BUILD_BENCH=ON
if $sanitizers; then
  suite "asan+ubsan" "$root/build-asan" -DDENDRITE_SANITIZE=address \
    -DDENDRITE_BUILD_TESTS=ON -DDENDRITE_BUILD_BENCH=OFF
  # libzmq is not instrumented; tests/tsan.supp hides races inside it only.
  export TSAN_OPTIONS="suppressions=$root/tests/tsan.supp ${TSAN_OPTIONS:-}"
  suite "tsan" "$root/build-tsan" -DDENDRITE_SANITIZE=thread \
    -DDENDRITE_BUILD_TESTS=ON -DDENDRITE_BUILD_BENCH=OFF
fi

echo
echo "==== summary"
for line in "${summary[@]}"; do echo "  $line"; done
exit "$failed"
