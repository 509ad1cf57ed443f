#!/usr/bin/env bash
# Builds Dendrite with its tests and benchmarks (Release, into build/) and runs
# every test. With --sanitizers, or when CI=true, it also builds build-asan
# (ASan+UBSan) and build-tsan (TSan), tests only, and runs the suite in each.
# With --fuzz, or when CI=true, it also builds the libFuzzer targets with clang
# (build-fuzz, docs/fuzzing.md), replays their seeds and fuzzes each for
# FUZZ_SECONDS (default 15); skipped with a note when clang has no libFuzzer.
# Exits non-zero if any build, test or fuzz run fails; prints a summary.
#   ./scripts/test.sh [--sanitizers] [--fuzz]   JOBS=N sets build parallelism (default 2)
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jobs="${JOBS:-2}"

sanitizers=false
fuzz=false
[ "${CI:-}" = "true" ] && sanitizers=true && fuzz=true
for arg in "$@"; do
  case "$arg" in
    --sanitizers) sanitizers=true ;;
    --fuzz) fuzz=true ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown argument '$arg' (expected --sanitizers or --fuzz)" >&2; exit 2 ;;
  esac
done

if $fuzz; then
  "$root/scripts/install-deps.sh" --fuzz || exit 1
else
  "$root/scripts/install-deps.sh" || exit 1
fi
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

# fuzz: the libFuzzer targets (tests/fuzz, docs/fuzzing.md) built with clang,
# their seeds and regression inputs replayed (ctest), then each target fuzzed
# for FUZZ_SECONDS from its seeds. A crash fails the run; its input is kept in
# build-fuzz/artifacts/.
fuzz_suite() {
  local dir="$root/build-fuzz" seconds="${FUZZ_SECONDS:-15}"
  local probe
  probe="$(mktemp -d)"
  printf 'extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long) { return 0; }\n' \
    >"$probe/probe.cc"
  if ! command -v clang++ >/dev/null 2>&1 ||
     ! clang++ -fsanitize=fuzzer,address,undefined "$probe/probe.cc" -o "$probe/probe" \
       >/dev/null 2>&1; then
    rm -rf "$probe"
    echo "==== fuzz: skipped (no clang++ with -fsanitize=fuzzer)"
    summary+=("fuzz: skipped (no clang++ with libFuzzer)")
    return
  fi
  rm -rf "$probe"
  echo "==== fuzz: configure and build ($dir)"
  mkdir -p "$dir"
  if ! CC=clang CXX=clang++ cmake -S "$root" -B "$dir" -DDENDRITE_FUZZ=ON \
       -DDENDRITE_BUILD_TESTS=OFF -DDENDRITE_BUILD_BENCH=OFF >"$dir/configure.log" 2>&1; then
    cat "$dir/configure.log"
    summary+=("fuzz: FAILED (configure)")
    failed=1
    return
  fi
  local targets=(frames ring dtable config descriptor zap resp)
  local build_targets=()
  for t in "${targets[@]}"; do build_targets+=(--target "fuzz_$t"); done
  if ! cmake --build "$dir" -j "$jobs" "${build_targets[@]}"; then
    summary+=("fuzz: FAILED (build)")
    failed=1
    return
  fi
  echo "==== fuzz: replay seeds and regressions"
  if ! ctest --test-dir "$dir" -L fuzz --output-on-failure --no-tests=error; then
    summary+=("fuzz: FAILED (replay)")
    failed=1
    return
  fi
  local t crashed=() runs=()
  mkdir -p "$dir/artifacts"
  for t in "${targets[@]}"; do
    echo "==== fuzz: $t for ${seconds}s"
    local work="$dir/fuzz-corpus/$t" log="$dir/fuzz-$t.log" dict=()
    mkdir -p "$work"
    case "$t" in frames|ring|dtable) dict=(-dict="$root/tests/fuzz/protobuf.dict") ;; esac
    if "$dir/bin/fuzz_$t" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=3072 \
         -print_final_stats=1 -artifact_prefix="$dir/artifacts/$t-" "${dict[@]}" \
         "$work" "$root/tests/fuzz/corpus/$t" >"$log" 2>&1; then
      runs+=("$t $(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$')")
    else
      tail -n 60 "$log"
      crashed+=("$t")
    fi
  done
  if [ "${#crashed[@]}" -gt 0 ]; then
    summary+=("fuzz: FAILED (${crashed[*]}; inputs in $dir/artifacts)")
    failed=1
  else
    summary+=("fuzz: ok (executions: $(printf '%s, ' "${runs[@]}" | sed 's/, $//'))")
  fi
}
if $fuzz; then
  fuzz_suite
fi

echo
echo "==== summary"
for line in "${summary[@]}"; do echo "  $line"; done
exit "$failed"
