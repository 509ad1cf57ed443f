#!/usr/bin/env bash
# Long fault-injection runs (docs/faults.md): every scenario of dendrite-faults,
# seeded and repeatable, for as long as asked. Builds dendrited, the dtable
# plugin and dendrite-faults into build/ first (BUILD_DIR overrides, JOBS=N sets
# build parallelism, default 2). Extra arguments go to dendrite-faults.
#   ./scripts/faults-long.sh [--seed N] [--duration SECONDS] [--nodes N] [--rounds N]
# Defaults: seed = the time, 300 s per scenario, 5 nodes, 1 round. Round k runs
# with seed + 100*k. Exits 1 when any round lost or mangled an acknowledged write.
# The partition scenarios need root, iproute2 and iptables (silent and one-way
# cuts), clock needs libfaketime: as root on Debian the missing packages
# (iproute2, iptables, faketime) are installed first; otherwise those
# scenarios print SKIPPED.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
jobs="${JOBS:-2}"
seed="$(date +%s)"
duration=300
nodes=5
rounds=1
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seed) seed="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --nodes) nodes="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) extra+=("$1"); shift ;;
  esac
done

# iproute2 (network namespaces), iptables (drops inside them) and faketime
# (libfaketime) for the partition and clock scenarios.
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  need=()
  command -v ip >/dev/null 2>&1 || need+=(iproute2)
  command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || need+=(iptables)
  dpkg-query -W -f='${Status}' libfaketime 2>/dev/null | grep -q "install ok installed" ||
    need+=(faketime)
  if [ ${#need[@]} -gt 0 ]; then
    echo "faults-long: installing ${need[*]}"
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
      --no-install-recommends "${need[@]}"; } >/dev/null ||
      echo "faults-long: could not install ${need[*]}; those scenarios will be skipped" >&2
  fi
fi

export CCACHE_BASEDIR="$root"
cmake -S "$root" -B "$build" >/dev/null || exit 1
cmake --build "$build" -j "$jobs" --target dendrite-faults dendrited dtable || exit 1

failed=0
for ((k = 0; k < rounds; k++)); do
  s=$((seed + 100 * k))
  echo "==== round $((k + 1))/$rounds: seed $s, $duration s per scenario, $nodes nodes"
  "$build/bin/dendrite-faults" --seed "$s" --duration "$duration" --nodes "$nodes" \
    --scenario all "${extra[@]}" || failed=1
done
exit "$failed"
