#!/usr/bin/env bash
# The third-party round trip (issue 5): install the SDK from BUILD_DIR into a
# temporary prefix, build examples/tally against that prefix only (its own
# CMake project, not the main build), run its FakeHost unit tests, then load it
# from a JSON config into three dendrited on 127.0.0.1 and add/get counters
# across the nodes with tally-cli. Also checks that dendrited refuses tally
# without dtable (its requirement) with the loader's exact line.
#   tests/sdk/roundtrip.sh SOURCE_DIR BUILD_DIR [WORK_DIR]
# WORK_DIR (default: a new temporary directory, removed at exit) keeps the
# prefix and the example's build. Prints the example's configure+build time.
set -euo pipefail
src="$(cd "$1" && pwd)"
build="$(cd "$2" && pwd)"
work="${3:-}"
if [ -z "$work" ]; then
  work="$(mktemp -d "${TMPDIR:-/tmp}/dendrite-sdk.XXXXXX")"
  trap 'cleanup; rm -rf "$work"' EXIT
else
  mkdir -p "$work"
  trap cleanup EXIT
fi
prefix="$work/prefix"
rm -rf "$work/dendrite-data"  # a work directory given again starts without data
pids=()

cleanup() {
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}
fail() { echo "roundtrip: $*" >&2; for f in "$work"/node*.log; do [ -f "$f" ] && tail -n 20 "$f" >&2; done; exit 1; }

# A port on 127.0.0.1 that nobody listens on now.
free_port() {
  local p
  for _ in $(seq 1 100); do
    # Below Linux's default ephemeral range (32768-60999), where outgoing
    # connections of the tests running beside this one take their ports.
    p=$(( (RANDOM * 32768 + RANDOM) % 12000 + 20000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  fail "no free port"
}

echo "== install the SDK into $prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log"
for f in include/dendrite/plugin.h include/dendrite/testing/fake_host.h \
         include/dendrite/proto/chord.pb.h include/dendrite/dtable/dtable.h \
         lib/libdendrite_sdk.so lib/cmake/DendriteSDK/DendriteSDKConfig.cmake \
         lib/cmake/DendriteSDK/DendriteSDKConfigVersion.cmake \
         lib/dendrite/plugins/libdtable.so lib/dendrite/plugins/libmetrics.so \
         bin/dendrited bin/dendrite-cli; do
  [ -e "$prefix/$f" ] || fail "not installed: $f"
done

echo "== build examples/tally against the installed SDK"
launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
start=$(date +%s.%N)
cmake -S "$src/examples/tally" -B "$work/tally" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" >"$work/tally-configure.log" 2>&1 ||
  { cat "$work/tally-configure.log"; fail "configure failed"; }
cmake --build "$work/tally" -j2 >"$work/tally-build.log" 2>&1 ||
  { cat "$work/tally-build.log"; fail "build failed"; }
end=$(date +%s.%N)
echo "example configure+build: $(awk "BEGIN {printf \"%.1f\", $end - $start}") s"
if grep -q "warning:" "$work/tally-build.log"; then
  grep "warning:" "$work/tally-build.log"; fail "the example builds with warnings"
fi
plugin="$work/tally/libtally.so"
[ -f "$plugin" ] || fail "no $plugin"
# Hidden visibility: the plugin exports its aliases and nothing of its own code.
if nm -D --defined-only "$plugin" | grep -q "TallyPlugin"; then fail "libtally.so exports its classes"; fi
# No second copy of the ring's generated messages.
if nm -D --defined-only "$plugin" | grep -qi "chord"; then fail "libtally.so defines chord messages"; fi

echo "== the example's unit tests (FakeHost)"
"$work/tally/tally_test" --gtest_brief=1 >"$work/tally-test.log" 2>&1 ||
  { cat "$work/tally-test.log"; fail "tally_test failed"; }

dendrited="$prefix/bin/dendrited"
cli="$work/tally/tally-cli"

echo "== a missing requirement is refused"
echo "{\"plugins\": [{\"name\": \"tally\", \"path\": \"$plugin\"}]}" >"$work/alone.json"
# Exit 1 is a port taken between free_port and the bind (tests run in
# parallel): that try is repeated with another port, at most three times.
for _ in 1 2 3; do
  set +e
  timeout 20 "$dendrited" --config "$work/alone.json" --listen "127.0.0.1:$(free_port)" \
    2>"$work/alone.err" >/dev/null
  code=$?
  set -e
  [ "$code" = 1 ] || break
done
expected="dendrited: plugin 'tally' ($plugin): requires 'dtable>=0.1', which is not in the plugin list"
[ "$code" = 2 ] || { cat "$work/alone.err" >&2; fail "tally without dtable: exit $code, expected 2"; }
grep -qxF "$expected" "$work/alone.err" || { cat "$work/alone.err"; fail "expected: $expected"; }

echo "== a ring of three nodes loading tally (listed before dtable) from the installed tree"
ports=("$(free_port)" "$(free_port)" "$(free_port)")
first="127.0.0.1:${ports[0]}"
for i in 0 1 2; do
  addr="127.0.0.1:${ports[$i]}"
  join='[]'
  [ "$i" -gt 0 ] && join="[\"$first\"]"
  cat >"$work/node$i.json" <<JSON
{"listen": "$addr", "advertise": "$addr", "join": $join, "vnodes": 2, "replicas": 2,
 "stabilize": {"min_ms": 100, "max_ms": 300}, "timeout_ms": 2000,
 "plugins": [{"name": "tally", "path": "$plugin", "config": {"consistency": 2}},
             {"name": "dtable"}]}
JSON
  # In $work: each node keeps its dtable data under dendrite-data/ there.
  (cd "$work" && exec "$dendrited" --config "$work/node$i.json") >"$work/node$i.log" 2>&1 &
  pids+=($!)
  # Ready when it answers tally requests.
  ok=false
  for _ in $(seq 1 100); do
    if "$cli" --node "$addr" get warmup >/dev/null 2>&1; then ok=true; break; fi
    kill -0 "${pids[$i]}" 2>/dev/null || fail "node $i exited"
    sleep 0.2
  done
  $ok || fail "node $i did not answer"
done
# Let the ring settle: each node sees all six vnodes.
for i in 0 1 2; do
  ok=false
  for _ in $(seq 1 100); do
    n=$("$prefix/bin/dendrite-cli" --node "127.0.0.1:${ports[$i]}" ring 2>/dev/null | grep -o '"id"' | wc -l || true)
    if [ "$n" = 6 ]; then ok=true; break; fi
    sleep 0.2
  done
  $ok || fail "node $i sees $n vnodes, expected 6"
done

echo "== counters across nodes"
for name in apples pears plums figs; do
  for i in 0 1 2; do
    "$cli" --node "127.0.0.1:${ports[$i]}" add "$name" $((i + 1)) >/dev/null ||
      fail "add $name on node $i"
  done
  for i in 0 1 2; do
    got=$("$cli" --node "127.0.0.1:${ports[$i]}" get "$name") || fail "get $name on node $i"
    [ "$got" = 6 ] || fail "$name on node $i is $got, expected 6"
  done
done
# The values live in dtable: dendrite-cli reads them too.
got=$("$prefix/bin/dendrite-cli" --node "$first" get tally/apples)
[ "$got" = 6 ] || fail "dtable holds '$got' for tally/apples"

echo "== stop (SIGTERM, bounded wait)"
for pid in "${pids[@]}"; do kill -TERM "$pid"; done
for pid in "${pids[@]}"; do
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then fail "dendrited $pid did not exit within 30 s"; fi
  wait "$pid" || fail "dendrited $pid exited non-zero"
done
pids=()
echo "roundtrip: ok"
