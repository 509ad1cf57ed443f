#!/usr/bin/env bash
# The cost of the statistics on the request path: dtable GET throughput of a
# 1-node ring without the metrics plugin against the same with the metrics
# plugin loaded and /metrics scraped every second, in one run on 127.0.0.1.
# Both nodes run side by side; the benchmark alternates between them ROUNDS
# times (default 3) and reports the median ops/s of each and the ratio.
# With BASELINE=<build dir of a revision without statistics>, a third node from
# that build joins the comparison (the cost of the host's own counters).
# Usage: bench/metrics_cost.sh [BUILD_DIR]   (N=requests per round, C=clients, ROUNDS)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
n="${N:-50000}"
c="${C:-50}"
rounds="${ROUNDS:-3}"
for prog in dendrited dendrite-bench; do
  [ -x "$build/bin/$prog" ] || { echo "metrics_cost: $build/bin/$prog is not built" >&2; exit 2; }
done
command -v curl >/dev/null || { echo "metrics_cost: curl is required" >&2; exit 2; }

script=metrics_cost
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
node() {  # node NAME PORT PLUGINS_JSON [BUILD_DIR]
  cat >"$work/$1.json" <<JSON
{"listen": "127.0.0.1:$2", "vnodes": 3, "log": {"level": "warn"}, "plugins": $3}
JSON
  (cd "$work" && exec "${4:-$build}/bin/dendrited" --config "$work/$1.json") 2>>"$work/$1.log" &
  pids+=($!)
  wait_port "$2"
}

plain=$(free_port)
node plain "$plain" '[{"name": "dtable"}]'
labels="plain metrics"
if [ -n "${BASELINE:-}" ]; then
  base=$(free_port)
  node baseline "$base" '[{"name": "dtable"}]' "$BASELINE"
  labels="baseline plain metrics"
fi
with=$(free_port)
http=$(free_port)
node metrics "$with" "[{\"name\": \"dtable\"}, {\"name\": \"metrics\", \"config\": {\"listen\": \"127.0.0.1:$http\"}}]"
wait_port "$http"
( while true; do curl -sf "http://127.0.0.1:$http/metrics" -o /dev/null || true; sleep 1; done ) &
pids+=($!)

# Keys to read: the same keyspace on both nodes.
for port in "$plain" "$with" ${base:-}; do
  "$build/bin/dendrite-bench" --node "127.0.0.1:$port" -n 20000 -c "$c" -d 32 -r 10000 -t set -q \
    >/dev/null
done
results="$work/results.csv"
: >"$results"
for r in $(seq "$rounds"); do
  for label in $labels; do
    port=$plain
    [ "$label" = metrics ] && port=$with
    [ "$label" = baseline ] && port=$base
    "$build/bin/dendrite-bench" --node "127.0.0.1:$port" -n "$n" -c "$c" -d 32 -r 10000 -t get \
      --csv | python3 -c '
import csv, sys
for row in csv.DictReader(sys.stdin):
    print(",".join([sys.argv[1], sys.argv[2], row["rps"], row["p50_latency_ms"], row["p99_latency_ms"]]))
' "$label" "$r" >>"$results"
  done
done
scrapes=$(curl -sf "http://127.0.0.1:$http/metrics" | grep -c '^dendrite_' || true)
python3 - "$results" "$n" "$c" "$scrapes" <<'PY'
import csv, statistics, sys
path, n, c, series = sys.argv[1:]
rows = list(csv.reader(open(path)))
def med(label, i):
    return statistics.median(float(r[i]) for r in rows if r[0] == label)
labels = sorted({r[0] for r in rows}, key=["baseline", "plain", "metrics"].index)
print(f"dtable GET, 1 node, {n} requests x {len(rows)//len(labels)} rounds, {c} clients; "
      f"/metrics has {series} series")
print(f"{'node':<34}{'ops/s (median)':>16}{'p50 ms':>10}{'p99 ms':>10}")
names = {"baseline": "baseline build (no statistics)", "plain": "dtable only",
         "metrics": "dtable + metrics, scraped 1/s"}
for label in labels:
    print(f"{names[label]:<34}{med(label, 2):>16.0f}{med(label, 3):>10.3f}{med(label, 4):>10.3f}")
print(f"ratio with/without the plugin: {med('metrics', 2) / med('plain', 2):.3f}")
if "baseline" in labels:
    print(f"ratio statistics/baseline build: {med('plain', 2) / med('baseline', 2):.3f}")
for r in rows:
    print("  round", r[1], r[0], r[2], "ops/s")
PY
