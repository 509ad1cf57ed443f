#!/usr/bin/env bash
# dtable against Redis on this machine, in one run on 127.0.0.1:
#   - redis-server (no persistence) measured with redis-benchmark;
#   - a 1-node and a 3-node Dendrite ring (replicas 2) with dtable, measured with
#     dendrite-bench (client library, requests routed to primaries);
# with the same request count, concurrency and value size. Prints a table of
# ops/s, p50 and p99 and the ratio Dendrite/Redis.
# Usage: bench/dtable_vs_redis.sh [BUILD_DIR]   (N=requests, D=value bytes)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
n="${N:-20000}"
d="${D:-32}"
for prog in dendrited dendrite-bench; do
  [ -x "$build/bin/$prog" ] || { echo "dtable_vs_redis: $build/bin/$prog is not built" >&2; exit 2; }
done
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
fi

script=dtable_vs_redis
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"

results="$work/results.csv"
echo "system,test,c,rps,p50,p99" > "$results"

# --- Redis ---
rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
  --logfile "$work/redis.log" &
pids+=($!)
wait_port "$rport"
for c in 1 50; do
  redis-benchmark -h 127.0.0.1 -p "$rport" -n "$n" -c "$c" -d "$d" -r 100000 -t set,get --csv \
    | python3 -c '
import csv, sys
c = sys.argv[1]
for row in csv.DictReader(sys.stdin):
    print(",".join(["redis", row["test"], c, row["rps"], row["p50_latency_ms"], row["p99_latency_ms"]]))
' "$c" >> "$results"
done

# --- Dendrite ---
echo '{"plugins": [{"name": "dtable"}]}' >"$work/dtable-only.json"
node() {  # node PORT [JOIN]: starts dendrited with dtable (no metrics: one port per node)
  local port="$1" join="${2:-}"
  local args=(--config "$work/dtable-only.json" --listen "127.0.0.1:$port" --vnodes 3
              --replicas 2 --log-level warn)
  [ -n "$join" ] && args+=(--join "127.0.0.1:$join")
  "$build/bin/dendrited" "${args[@]}" 2>>"$work/dendrited.log" &
  pids+=($!)
  wait_port "$port"
}
bench() {  # bench LABEL PORT C TEST CONSISTENCY
  "$build/bin/dendrite-bench" --node "127.0.0.1:$2" -n "$n" -c "$3" -d "$d" -r 100000 \
    -t "$4" --consistency "$5" --csv \
    | python3 -c '
import csv, sys
label, c, test = sys.argv[1:4]
for row in csv.DictReader(sys.stdin):
    print(",".join([label, test, c, row["rps"], row["p50_latency_ms"], row["p99_latency_ms"]]))
' "$1" "$3" "$6" >> "$results"
}
p1=$(free_port)
node "$p1"
for c in 1 50; do
  bench "dendrite-1" "$p1" "$c" set 1 "SET"
  bench "dendrite-1" "$p1" "$c" get 1 "GET"
done
kill -TERM "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'

a=$(free_port); b=$(free_port); e=$(free_port)
node "$a"; node "$b" "$a"; node "$e" "$a"
# Wait (bounded: 60 s) until every node walks the same ring of 9 vnodes, then
# a little longer for the replica sets to follow.
settled=false
for _ in $(seq 60); do
  rings=$(for p in "$a" "$b" "$e"; do "$build/bin/dendrite-cli" --node "127.0.0.1:$p" ring 2>/dev/null | md5sum; done | sort -u | wc -l || true)
  count=$("$build/bin/dendrite-cli" --node "127.0.0.1:$a" ring 2>/dev/null | grep -c '"id"' || true)
  if [ "$rings" = 1 ] && [ "$count" = 9 ]; then settled=true; break; fi
  sleep 1
done
$settled || { echo "dtable_vs_redis: the 3-node ring did not settle within 60 s" >&2; exit 1; }
sleep 3
for c in 1 50; do
  bench "dendrite-3" "$a" "$c" set 1 "SET"
  bench "dendrite-3" "$a" "$c" set 2 "SET c2"
  bench "dendrite-3" "$a" "$c" get 1 "GET"
done

python3 - "$results" "$n" "$d" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
redis = {(r["test"], r["c"]): r for r in rows if r["system"] == "redis"}
print(f"requests {sys.argv[2]} per test, value {sys.argv[3]} bytes, random keys of 100,000, all on 127.0.0.1")
print(f"{'system':<11} {'test':<7} {'c':>3} {'ops/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'vs Redis':>9}")
for r in rows:
    base = redis.get((r["test"].split()[0], r["c"]))
    ratio = float(r["rps"]) / float(base["rps"]) if base else float("nan")
    print(f"{r['system']:<11} {r['test']:<7} {r['c']:>3} {float(r['rps']):>10.0f} "
          f"{float(r['p50']):>8.3f} {float(r['p99']):>8.3f} {ratio:>8.2f}x")
PY
