#!/usr/bin/env bash
# The cost of the statistics on the request path: dtable GET throughput of a
# 1-node ring without the metrics plugin against the same with the metrics
# plugin loaded and /metrics scraped every second, in one run on 127.0.0.1.
# Both nodes run side by side; the benchmark alternates between them ROUNDS
# times (default 3) and reports the median ops/s of each and the ratio.
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
node() {  # node NAME PORT PLUGINS_JSON
  cat >"$work/$1.json" <<JSON
{"listen": "127.0.0.1:$2", "vnodes": 3, "log": {"level": "warn"}, "plugins": $3}
JSON
  "$build/bin/dendrited" --config "$work/$1.json" 2>>"$work/$1.log" &
  pids+=($!)
  wait_port "$2"
}

plain=$(free_port)
node plain "$plain" '[{"name": "dtable"}]'
with=$(free_port)
http=$(free_port)
node metrics "$with" "[{\"name\": \"dtable\"}, {\"name\": \"metrics\", \"config\": {\"listen\": \"127.0.0.1:$http\"}}]"
wait_port "$http"
( while true; do curl -sf "http://127.0.0.1:$http/metrics" -o /dev/null || true; sleep 1; done ) &
pids+=($!)

# Keys to read: the same keyspace on both nodes.
for port in "$plain" "$with"; do
  "$build/bin/dendrite-bench" --node "127.0.0.1:$port" -n 20000 -c "$c" -d 32 -r 10000 -t set -q \
    >/dev/null
done
results="$work/results.csv"
: >"$results"
for r in $(seq "$rounds"); do
  for label in plain metrics; do
    port=$plain
    [ "$label" = metrics ] && port=$with
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
print(f"dtable GET, 1 node, {n} requests x {len(rows)//2} rounds, {c} clients; "
      f"/metrics has {series} series")
print(f"{'node':<28}{'ops/s (median)':>16}{'p50 ms':>10}{'p99 ms':>10}")
for label, name in (("plain", "dtable only"), ("metrics", "dtable + metrics, scraped 1/s")):
    print(f"{name:<28}{med(label, 2):>16.0f}{med(label, 3):>10.3f}{med(label, 4):>10.3f}")
print(f"ratio with/without: {med('metrics', 2) / med('plain', 2):.3f}")
for r in rows:
    print("  round", r[1], r[0], r[2], "ops/s")
PY
