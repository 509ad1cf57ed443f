#!/usr/bin/env bash
# Idle cost of one node: starts `dendrited` with 3 vnodes (dtable and metrics)
# on free loopback ports, waits SECONDS (default 60), then prints its CPU use over that time and
# its resident memory. Usage: bench/idle.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
build=${1:-build}
seconds=${2:-60}
bin="$build/bin/dendrited"
[ -x "$bin" ] || { echo "idle.sh: $bin not built" >&2; exit 2; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The default config's metrics port (9464) may be taken: give it a free one.
http=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
config=$(mktemp)
cat >"$config" <<JSON
{"plugins": [{"name": "dtable"}, {"name": "metrics", "config": {"listen": "127.0.0.1:$http"}}]}
JSON
"$bin" --config "$config" --listen "127.0.0.1:$port" --vnodes 3 --log-level warn &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null || true; rm -f "$config"' EXIT
sleep 2  # start-up is not idle time
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
t0=$(ticks); s0=$(date +%s.%N)
sleep "$seconds"
t1=$(ticks); s1=$(date +%s.%N)
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
threads=$(awk '/Threads/ {print $2}' "/proc/$pid/status")
fds=$(ls "/proc/$pid/fd" | wc -l)
python3 - "$t0" "$t1" "$s0" "$s1" "$hz" "$rss_kb" "$threads" "$fds" <<'PY'
import sys
t0, t1, s0, s1, hz, rss, threads, fds = sys.argv[1:]
cpu = (int(t1) - int(t0)) / int(hz)
wall = float(s1) - float(s0)
print(f"idle over {wall:.0f} s: cpu {cpu:.2f} s = {100 * cpu / wall:.3f} % of one core; "
      f"rss {int(rss) / 1024:.1f} MiB; threads {threads}; open fds {fds}")
PY
